"""The run's random substreams and a batch's noise factors (docs/architecture.md §4.4).

``SeedSequence(seed)`` is spawned at reset into fixed substreams — background load of the CPU,
of the GPU, latency noise, arrivals, the policy. Noise factors of a batch come from the child of
the noise stream keyed by its first request, so two policies run with one seed face the same
hardware and the same noise (common random numbers). The single-device walk
(``sim.singledevice``) draws from the same functions, so its figures equal the engine's. A run
builds each child only when it reads it (:class:`RunStreams`: the same child, state for state),
and the noise stream not at all (:func:`batch_noise` reads only its entropy and spawn key).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, NamedTuple

import numpy as np

from sparoa_sim.hwmodels.noise import lognormal_factors

__all__ = ["STREAMS", "NoiseKey", "RunStreams", "batch_noise", "substreams"]

#: Substreams spawned from the run's SeedSequence, in this order (never reorder: CRN depends on it).
STREAMS: tuple[str, ...] = ("background_cpu", "background_gpu", "noise", "arrivals", "policy")


#: How many seeds' substreams and batches' noise factors are kept. An environment episode asks for
#: the same ones three times (its engine run and the single-device reference walks of both
#: devices); both are pure functions of their arguments, so a small cache returns them at once.
_CACHE_SIZE = 64
_substreams: OrderedDict[int, list[np.random.SeedSequence | None]] = OrderedDict()
_noise: OrderedDict[tuple[Any, ...], list[float]] = OrderedDict()


def _remember(cache: OrderedDict, key: Any, value: Any, size: int = _CACHE_SIZE) -> None:
    cache[key] = value
    if len(cache) > size:
        cache.popitem(last=False)


def _kept(key: int) -> list[np.random.SeedSequence | None]:
    """The kept children of integer seed ``key`` (each None until first asked for)."""
    hit = _substreams.get(key)
    if hit is None:
        hit = [None] * len(STREAMS)
        _remember(_substreams, key, hit)
    return hit


def _child(kept: list[np.random.SeedSequence | None], key: int, i: int) -> np.random.SeedSequence:
    ss = kept[i]
    if ss is None:
        # the child ``SeedSequence(key).spawn(5)[i]``, built directly (same entropy, spawn key and pool
        # size: the same state), without mixing the parent's own pool first
        ss = kept[i] = np.random.SeedSequence(key, spawn_key=(i,))
    return ss


def substreams(seed: int | None) -> list[np.random.SeedSequence]:
    """The run's independent substreams, in the fixed order of :data:`STREAMS` (CRN depends on it).

    For an integer seed the children are kept (recently used seeds) and shared between callers:
    derive further streams from them by value (``entropy``, ``spawn_key``, as :func:`batch_noise`
    does) or seed a generator with them, never by calling their ``spawn``. ``None`` (fresh OS
    entropy) is never kept."""
    if seed is None:
        return np.random.SeedSequence(seed).spawn(len(STREAMS))
    key = int(seed)
    kept = _kept(key)
    return [_child(kept, key, i) for i in range(len(STREAMS))]


class NoiseKey(NamedTuple):
    """What :func:`batch_noise` reads of a noise substream: its entropy and spawn key (no pool needed)."""

    entropy: Any
    spawn_key: tuple[int, ...]


class RunStreams:
    """The substreams of one run, each built when first read (``streams[i]``, as ``substreams(seed)[i]``):
    a run reads few of the five, and building a ``SeedSequence`` costs more than an environment step.
    :meth:`noise_key` gives the noise substream's entropy and spawn key without building it."""

    __slots__ = ("_key", "_kept", "_all")

    def __init__(self, seed: int | None) -> None:
        self._key = None if seed is None else int(seed)
        self._all = substreams(None) if seed is None else None  # fresh entropy: one parent for all five
        self._kept = None if seed is None else _kept(self._key)

    def __getitem__(self, i: int) -> np.random.SeedSequence:
        if self._all is not None:
            return self._all[i]
        ss = self._kept[i]
        return _child(self._kept, self._key, i) if ss is None else ss

    def __len__(self) -> int:
        return len(STREAMS)

    def noise_key(self) -> NoiseKey:
        """The noise substream's ``(entropy, spawn_key)``: all :func:`batch_noise` reads of it."""
        if self._all is not None:
            ss = self._all[STREAMS.index("noise")]
            return NoiseKey(ss.entropy, ss.spawn_key)
        return NoiseKey(self._key, (STREAMS.index("noise"),))


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


def batch_noise(noise_ss: np.random.SeedSequence | NoiseKey, sigma: np.ndarray, n: int, request: int) -> list[float]:
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
