"""Roofline energy per device, ``E = ε_flop · work + ε_byte · bytes + P_static · t``, plus the
board's idle power over the makespan (docs/architecture.md §3). Coefficients are per power mode.

``ε_flop`` is the energy of one FP32 FLOP (fitted to rail power on FP32 work); a kernel at
another precision is charged ``ε_flop · P_fp32 / P_kernel`` per FLOP (``Prediction.eps_scale``):
the same dynamic power at its own peak — an assumption in want of FP16 rail measurements.

``P_static`` is the power a device draws while busy beyond the dynamic terms (leakage, clock
trees of the powered units); the board's idle power covers everything else and is charged once
over the whole makespan by :func:`idle_energy`, so the two never double-count.
"""

from __future__ import annotations

import numpy as np

from sparoa_sim.hwmodels.latency import Prediction
from sparoa_sim.hwmodels.platform import Platform, PowerMode

__all__ = ["coefficients", "device_power", "idle_energy", "op_energy", "prediction_energy"]


def coefficients(platform: Platform, mode: str | PowerMode | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ε_flop, ε_byte, P_static) of a mode, each shape (2,) in (cpu, gpu) order."""
    e = platform.mode(mode).energy
    return (np.array([e.cpu.eps_flop, e.gpu.eps_flop]),
            np.array([e.cpu.eps_byte, e.gpu.eps_byte]),
            np.array([e.cpu.p_static, e.gpu.p_static]))


def op_energy(platform: Platform, work: np.ndarray, nbytes: np.ndarray, busy_s: np.ndarray,
              mode: str | PowerMode | None = None) -> np.ndarray:
    """Energy (J) of operators with the given work (FLOPs), bytes and busy time (s).

    Arrays broadcast with a last axis of 2 (cpu, gpu), e.g. (n, 2) from a :class:`Prediction`.
    """
    ef, eb, ps = coefficients(platform, mode)
    return ef * np.asarray(work, dtype=float) + eb * np.asarray(nbytes, dtype=float) + ps * np.asarray(busy_s, dtype=float)


def prediction_energy(platform: Platform, pred: Prediction, busy_s: np.ndarray | None = None) -> np.ndarray:
    """Energy (J), (n, 2), of each operator on each device as predicted (mode of the prediction).

    ``busy_s`` overrides the busy time (e.g. the engine's re-timed durations under contention).
    """
    work = pred.work if pred.eps_scale is None else pred.work * pred.eps_scale  # FP32-equivalent FLOPs
    return op_energy(platform, work, pred.bytes, pred.latency if busy_s is None else busy_s, pred.mode)


def idle_energy(platform: Platform, makespan_s: float | np.ndarray, mode: str | PowerMode | None = None) -> np.ndarray:
    """Board idle power × makespan (J): charged once over a whole run, on top of device energy."""
    t = np.asarray(makespan_s, dtype=float)
    if not np.all((t >= 0) & np.isfinite(t)):
        raise ValueError(f"makespan must be finite and non-negative, got {makespan_s!r}")
    return platform.mode(mode).energy.board_idle_w * t


def device_power(platform: Platform, flop_rate: np.ndarray, byte_rate: np.ndarray,
                 mode: str | PowerMode | None = None) -> np.ndarray:
    """Power (W, over idle) of devices sustaining the given FLOP/s and B/s: P_static + ε·rates."""
    ef, eb, ps = coefficients(platform, mode)
    return ps + ef * np.asarray(flop_rate, dtype=float) + eb * np.asarray(byte_rate, dtype=float)
