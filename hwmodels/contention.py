"""Shared-DRAM contention: how much bandwidth each device keeps when both stream at once.

On Jetson the CPU and the GPU share one LPDDR5 controller. When the bandwidth both devices would
pull alone exceeds what the memory sustains under concurrent traffic
(``concurrent_bw_fraction × emc_bw(mode)``), both slow down in proportion; the factors ``c`` go
into ``predict(contention=…)`` / ``retime(contention=…)`` and scale ``t_memory`` only, so
compute-bound operators are barely affected.
"""

from __future__ import annotations

import numpy as np

from sparoa_sim.hwmodels.latency import Prediction
from sparoa_sim.hwmodels.platform import Platform, PowerMode

__all__ = ["bandwidth_demand", "bandwidth_shares", "concurrent_bw"]


def concurrent_bw(platform: Platform, mode: str | PowerMode | None = None) -> float:
    """Bandwidth both devices together sustain in ``mode``, B/s."""
    m = platform.mode(mode)
    return platform.interconnect.concurrent_bw_fraction * min(m.emc_bw, platform.memory.peak_bw)


def bandwidth_demand(pred: Prediction) -> np.ndarray:
    """Average DRAM traffic (B/s) of each operator while it runs, (n, 2): bytes / roofline time."""
    busy = pred.latency - (pred.t_launch if pred.launch is None else pred.launch)
    return np.divide(pred.bytes, busy, out=np.zeros(busy.shape), where=busy > 0)


def bandwidth_shares(platform: Platform, demand_cpu: float | np.ndarray, demand_gpu: float | np.ndarray,
                     mode: str | PowerMode | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bandwidth factors (c_cpu, c_gpu) in (0, 1] for the given concurrent demands (B/s each).

    Proportional sharing: if the demands fit in :func:`concurrent_bw` nobody slows down, else both
    get ``capacity / (demand_cpu + demand_gpu)``. Platforms without shared DRAM never contend.
    Vectorised over any broadcastable demand arrays.
    """
    dc = np.asarray(demand_cpu, dtype=float)
    dg = np.asarray(demand_gpu, dtype=float)
    if not (np.all((dc >= 0) & np.isfinite(dc)) and np.all((dg >= 0) & np.isfinite(dg))):
        raise ValueError(f"bandwidth demands must be finite and non-negative, got {demand_cpu!r}, {demand_gpu!r}")
    total = dc + dg
    if not platform.interconnect.shared_dram:
        one = np.ones(total.shape)
        return one, one.copy()
    cap = concurrent_bw(platform, mode)
    c = cap / np.maximum(total, cap)  # 1 while the demands fit, else the proportional share
    return c, c.copy()
