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


def _remember(cache: OrderedDict, key: Any, value: Any, size: int = _CACHE_SIZE) -> None:
    cache[key] = value
    if len(cache) > size:
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
        # the children ``SeedSequence(key).spawn(5)`` returns, built directly (same entropy, spawn keys and
        # pool size: the same states), without mixing the parent's own pool first
        hit = tuple(np.random.SeedSequence(key, spawn_key=(i,)) for i in range(len(STREAMS)))
        _remember(_substreams, key, hit)
    return list(hit)


#: Read-ahead of batch noise: when a batch asks for the request just after the last block drawn for the
#: same stream (a run's requests in order), the next block is twice as long, up to this many requests.
_BLOCK_MAX = 32
_NOISE_CACHE_SIZE = 2 * _BLOCK_MAX + _CACHE_SIZE
#: Per noise stream (entropy, spawn key, n, σ): the request after its last drawn block, and that block's length.
_next_block: OrderedDict[tuple[Any, ...], tuple[int, int]] = OrderedDict()


class _Drawn:
    """Stands in for a generator that has already drawn: hands ``lognormal_factors`` a block of standard
    normals (drawn request by request from each request's own generator), so the block's factors are
    computed, and σ validated, in one call."""

    __slots__ = ("z",)

    def __init__(self, z: np.ndarray) -> None:
        self.z = z

    def standard_normal(self, size: Any) -> np.ndarray:
        return self.z


def batch_noise(noise_ss: np.random.SeedSequence, sigma: np.ndarray, n: int, request: int) -> list[float]:
    """Noise factors of a batch led by ``request``, index ``2*op + device``: drawn from the
    request's own child of the noise stream, so they depend on the seed and the request
    alone, whatever the order of events or the policy (common random numbers). Recent answers are
    kept (keyed by those values); each call returns its own list. Requests asked in order are drawn
    in blocks (read-ahead, :data:`_BLOCK_MAX`): each request still from its own generator, the
    factors of the block in one vectorised step — the same values, element for element."""
    ent = noise_ss.entropy
    sig = np.asarray(sigma, dtype=float)
    request, n = int(request), int(n)
    stream = (ent, noise_ss.spawn_key, n, sig.shape, sig.tobytes()) if type(ent) is int else None
    hit = None if stream is None else _noise.get((stream, request))
    if hit is None:
        block = 1
        if stream is not None:
            nxt = _next_block.get(stream)
            if nxt is not None and nxt[0] == request:
                block = min(2 * nxt[1], _BLOCK_MAX)
            _remember(_next_block, stream, (request + block, block))
        z = np.empty((block, n, 2))
        for k in range(block):
            child = np.random.SeedSequence(ent, spawn_key=noise_ss.spawn_key + (request + k,))
            np.random.Generator(np.random.PCG64(child)).standard_normal(out=z[k])
        flat = lognormal_factors(_Drawn(z), sigma, z.shape).ravel().tolist()
        m = 2 * n
        hit = flat[:m]
        if stream is not None:
            for k in range(block):
                _remember(_noise, (stream, request + k), flat[k * m:(k + 1) * m], _NOISE_CACHE_SIZE)
    return hit[:]
