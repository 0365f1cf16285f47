"""Multiplicative log-normal latency jitter whose σ per device comes from the profile.

Factors have median 1 (``exp(σ·z)``, z standard normal), matching σ fitted on log-latency
residuals. A standard normal is drawn for every entry whatever σ is, so two runs sharing a
generator state consume the same stream (common random numbers, docs/architecture.md §4).
"""

from __future__ import annotations

import numpy as np

from sparoa_sim.hwmodels.platform import Platform

__all__ = ["lognormal_factors", "noise_sigmas", "jitter"]


def noise_sigmas(platform: Platform) -> np.ndarray:
    """σ per device, shape (2,) in (cpu, gpu) order."""
    return np.array([platform.cpu.latency.noise_sigma, platform.gpu.latency.noise_sigma])


def lognormal_factors(rng: np.random.Generator, sigma: float | np.ndarray, size: int | tuple[int, ...]) -> np.ndarray:
    """Median-one log-normal factors ``exp(σ·z)`` of shape ``size`` (σ broadcasts on the last axis)."""
    s = np.asarray(sigma, dtype=float)
    if not np.all((s >= 0) & np.isfinite(s)):
        raise ValueError(f"sigma must be finite and non-negative, got {sigma!r}")
    return np.exp(s * rng.standard_normal(size))


def jitter(latency: np.ndarray, platform: Platform, rng: np.random.Generator) -> np.ndarray:
    """``latency`` (…, 2) times per-device log-normal factors with the profile's σ."""
    lat = np.asarray(latency, dtype=float)
    return lat * lognormal_factors(rng, noise_sigmas(platform), lat.shape)
