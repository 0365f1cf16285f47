"""The run's random substreams and a batch's noise factors (docs/architecture.md §4.4).

``SeedSequence(seed)`` is spawned at reset into fixed substreams — background load of the CPU,
of the GPU, latency noise, arrivals, the policy. Noise factors of a batch come from the child of
the noise stream keyed by its first request, so two policies run with one seed face the same
hardware and the same noise (common random numbers). The single-device walk
(``sim.singledevice``) draws from the same functions, so its figures equal the engine's.
"""

from __future__ import annotations

import numpy as np

from sparoa_sim.hwmodels.noise import lognormal_factors

__all__ = ["STREAMS", "batch_noise", "substreams"]

#: Substreams spawned from the run's SeedSequence, in this order (never reorder: CRN depends on it).
STREAMS: tuple[str, ...] = ("background_cpu", "background_gpu", "noise", "arrivals", "policy")


def substreams(seed: int | None) -> list[np.random.SeedSequence]:
    """The run's independent substreams, in the fixed order of :data:`STREAMS` (CRN depends on it)."""
    return np.random.SeedSequence(seed).spawn(len(STREAMS))


def batch_noise(noise_ss: np.random.SeedSequence, sigma: np.ndarray, n: int, request: int) -> list[float]:
    """Noise factors of a batch led by ``request``, index ``2*op + device``: drawn from the
    request's own child of the noise stream, so they depend on the seed and the request
    alone, whatever the order of events or the policy (common random numbers)."""
    child = np.random.SeedSequence(noise_ss.entropy, spawn_key=noise_ss.spawn_key + (int(request),))
    rng = np.random.Generator(np.random.PCG64(child))
    return lognormal_factors(rng, sigma, (n, 2)).ravel().tolist()
