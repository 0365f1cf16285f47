"""Reference figures (single-device runs under the episode's seed), cached by value.

``T_ref`` and ``E_ref`` of the reward are the GPU-only mean latency and energy per inference
of the same episode (same workload, platform, mode, batch, requests, arrivals, simulation
options and seed: common random numbers). Re-simulating them at every reset would double the
cost of short episodes, so they live in a bounded LRU keyed by those values — the module's
only state, a cache. Where nothing in the episode is random (no noise, no random background,
closed-loop arrivals) the seed is left out of the key, so one run serves every episode.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["Reference", "ReferenceCache", "REFERENCES"]


@dataclass(frozen=True)
class Reference:
    """One single-device run's figures."""

    latency_mean_s: float
    energy_per_inference_j: float


class ReferenceCache:
    """A bounded least-recently-used map from a value key to a :class:`Reference`."""

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = int(maxsize)
        self._data: OrderedDict[Hashable, Reference] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], Reference]) -> Reference:
        """The cached figures for ``key``, computing (and keeping) them on a miss."""
        data = self._data
        hit = data.get(key)
        if hit is not None:
            data.move_to_end(key)
            self.hits += 1
            return hit
        self.misses += 1
        value = compute()
        data[key] = value
        if len(data) > self.maxsize:
            data.popitem(last=False)
        return value

    def prefetch(self, key: Hashable, compute: Callable[[], Reference]) -> None:
        """Compute and keep the figures for ``key`` ahead of their lookup (no hit or miss counted: the
        lookup that reads them later counts, as a hit)."""
        data = self._data
        if key in data:
            return
        data[key] = compute()
        if len(data) > self.maxsize:
            data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        """Forget everything."""
        self._data.clear()
        self.hits = self.misses = 0


#: The process-wide cache the environments share.
REFERENCES = ReferenceCache()
