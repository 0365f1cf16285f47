"""The run's random substreams and a batch's noise factors (docs/architecture.md §4.4).

``SeedSequence(seed)`` is spawned at reset into fixed substreams — background load of the CPU,
of the GPU, latency noise, arrivals, the policy. Noise factors of a batch come from the child of
the noise stream keyed by its first request, so two policies run with one seed face the same
hardware and the same noise (common random numbers). The single-device walk
(``sim.singledevice``) draws from the same functions, so its figures equal the engine's.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from sparoa_sim.hwmodels.noise import lognormal_factors

__all__ = ["STREAMS", "batch_noise", "substreams"]

#: Substreams spawned from the run's SeedSequence, in this order (never reorder: CRN depends on it).
STREAMS: tuple[str, ...] = ("background_cpu", "background_gpu", "noise", "arrivals", "policy")


#: How many seeds' substreams and batches' noise factors are kept. An environment episode asks for
#: the same ones three times (its engine run and the single-device reference walks of both
#: devices); both are pure functions of their arguments, so a small cache returns them at once.
_CACHE_SIZE = 64
_substreams: OrderedDict[int, tuple[np.random.SeedSequence, ...]] = OrderedDict()
_noise: OrderedDict[tuple[Any, ...], list[float]] = OrderedDict()


def _remember(cache: OrderedDict, key: Any, value: Any) -> None:
    cache[key] = value
    if len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


def substreams(seed: int | None) -> list[np.random.SeedSequence]:
    """The run's independent substreams, in the fixed order of :data:`STREAMS` (CRN depends on it).

    For an integer seed the children are kept (recently used seeds) and shared between callers:
    derive further streams from them by value (``entropy``, ``spawn_key``, as :func:`batch_noise`
    does) or seed a generator with them, never by calling their ``spawn``. ``None`` (fresh OS
    entropy) is never kept."""
    if seed is None:
        return np.random.SeedSequence(seed).spawn(len(STREAMS))
    key = int(seed)
    hit = _substreams.get(key)
    if hit is None:
        hit = tuple(np.random.SeedSequence(key).spawn(len(STREAMS)))
        _remember(_substreams, key, hit)
    return list(hit)


def batch_noise(noise_ss: np.random.SeedSequence, sigma: np.ndarray, n: int, request: int) -> list[float]:
    """Noise factors of a batch led by ``request``, index ``2*op + device``: drawn from the
    request's own child of the noise stream, so they depend on the seed and the request
    alone, whatever the order of events or the policy (common random numbers). Recent answers are
    kept (keyed by those values); each call returns its own list."""
    ent = noise_ss.entropy
    sig = np.asarray(sigma, dtype=float)
    key = (ent, noise_ss.spawn_key, int(request), int(n), sig.shape, sig.tobytes()) if type(ent) is int else None
    hit = None if key is None else _noise.get(key)
    if hit is None:
        child = np.random.SeedSequence(ent, spawn_key=noise_ss.spawn_key + (int(request),))
        rng = np.random.Generator(np.random.PCG64(child))
        hit = lognormal_factors(rng, sigma, (n, 2)).ravel().tolist()
        if key is not None:
            _remember(_noise, key, hit)
    return hit[:]
