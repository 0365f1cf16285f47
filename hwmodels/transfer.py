"""Cross-device transfers: ``t = t_sync + bytes / B_copy(mode)``, vectorised over edges.

On Jetson the "transfer" is a copy inside the shared DRAM plus the event synchronisation
between the devices, so ``B_copy`` and ``t_sync`` come from the profile's ``[interconnect]``
(calibrated), not from desktop PCIe figures. ``B_copy`` follows the mode's memory-clock cap.
"""

from __future__ import annotations

import numpy as np

from sparoa_sim.hwmodels.platform import Platform, PowerMode

__all__ = ["transfer_time"]


def transfer_time(platform: Platform, nbytes: float | np.ndarray, mode: str | PowerMode | None = None,
                  contention: float | np.ndarray = 1.0) -> np.ndarray:
    """Seconds to move ``nbytes`` (per edge, any shape) between the devices in ``mode``.

    ``nbytes`` are actual bytes at the simulated precision (scale graph bytes with
    ``latency.bytes_scale``); ``contention`` in (0, 1] scales the copy bandwidth.
    """
    b = np.asarray(nbytes, dtype=float)
    if np.any(b < 0) or not np.all(np.isfinite(b)):
        raise ValueError("transfer sizes must be finite and non-negative")
    c = np.asarray(contention, dtype=float)
    if not np.all((c > 0) & (c <= 1)):  # NaN fails this too
        raise ValueError(f"contention must lie in (0, 1], got {contention!r}")
    return platform.interconnect.t_sync + b / (platform.copy_bw(mode) * c)
