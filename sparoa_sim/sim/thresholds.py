"""The threshold space of the SparOA rule: normalisation, a fixed candidate grid, regret surfaces.

The rule (docs/architecture.md §2) sends an operator to the CPU iff sparsity ≥ τ_s and intensity ≤ τ_I.
Latency is piecewise constant in (τ_s, τ_I): only the cut points between operators' feature
values matter, so the best thresholds form plateaus. This module fixes one shared
parameterisation — used by ``SparOAThreshold-v0`` and the threshold predictor — and evaluates
the rule on a fixed grid of candidate pairs, simulating each *distinct placement* once.

Normalised action ``a ∈ [-1, 1]²``: ``τ_s = (a₀ + 1)/2`` and ``log10 τ_I`` linear in ``a₁`` over
``INTENSITY_RANGES[axis]`` (FLOP/byte, or absolute FLOPs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sparoa_sim.errors import SimulationError
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.sim.policies import ThresholdPolicy

__all__ = [
    "INTENSITY_RANGES",
    "LOG10_TAU_I",
    "S_MAX",
    "ThresholdGrid",
    "default_grid",
    "from_action",
    "to_action",
    "rule_placements",
]

#: τ_s at the top of the normalised range (a₀ = 1).
S_MAX = 1.0
#: log10 range of τ_I per intensity axis: FLOP/byte, or absolute FLOPs per sample.
INTENSITY_RANGES: dict[str, tuple[float, float]] = {"flop_per_byte": (-2.0, 3.0), "flops": (2.0, 11.0)}
#: log10 range of τ_I on the default (FLOP/byte) axis.
LOG10_TAU_I = INTENSITY_RANGES["flop_per_byte"]


def _range(intensity: str) -> tuple[float, float]:
    try:
        return INTENSITY_RANGES[intensity]
    except KeyError:
        raise SimulationError(f"intensity axis must be one of {', '.join(INTENSITY_RANGES)}, got {intensity!r}") from None


def _check_action(action: object) -> np.ndarray:
    try:
        a = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError):
        raise SimulationError(f"action: expected two numbers in [-1, 1], got {action!r}") from None
    if a.shape != (2,):
        raise SimulationError(f"action: expected shape (2,), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise SimulationError(f"action: {a.tolist()} has a non-finite entry")
    if np.any(np.abs(a) > 1.0):
        raise SimulationError(f"action: {a.tolist()} is outside [-1, 1]")
    return a


def from_action(action: object, intensity: str = "flop_per_byte") -> tuple[float, float]:
    """(τ_s, τ_I) from a normalised action in [-1, 1]²; a malformed action raises SimulationError."""
    a = _check_action(action)
    lo, hi = _range(intensity)
    return float(0.5 * (a[0] + 1.0) * S_MAX), float(10.0 ** (lo + 0.5 * (a[1] + 1.0) * (hi - lo)))


def to_action(tau_s: float, tau_i: float, intensity: str = "flop_per_byte") -> np.ndarray:
    """The normalised action of (τ_s, τ_I), clipped into [-1, 1]² (float32)."""
    if not (math.isfinite(tau_s) and math.isfinite(tau_i)) or tau_i <= 0:
        raise SimulationError(f"thresholds must be finite with tau_i > 0, got ({tau_s!r}, {tau_i!r})")
    lo, hi = _range(intensity)
    a0 = 2.0 * tau_s / S_MAX - 1.0
    a1 = 2.0 * (math.log10(tau_i) - lo) / (hi - lo) - 1.0
    return np.clip(np.array([a0, a1], dtype=np.float32), -1.0, 1.0)


@dataclass(frozen=True)
class ThresholdGrid:
    """A fixed grid of candidate (τ_s, τ_I) pairs, flattened row-major (τ_s outer)."""

    tau_s: tuple[float, ...]
    tau_i: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.tau_s or not self.tau_i:
            raise SimulationError("threshold grid: both axes need at least one value")
        if any(not math.isfinite(t) for t in self.tau_s) or any(not (math.isfinite(t) and t > 0) for t in self.tau_i):
            raise SimulationError(f"threshold grid: bad values {self.tau_s!r} / {self.tau_i!r}")

    @property
    def size(self) -> int:
        return len(self.tau_s) * len(self.tau_i)

    def pair(self, k: int) -> tuple[float, float]:
        """The (τ_s, τ_I) of flat cell ``k``."""
        if not 0 <= k < self.size:
            raise SimulationError(f"threshold grid: cell {k} out of range [0, {self.size})")
        return self.tau_s[k // len(self.tau_i)], self.tau_i[k % len(self.tau_i)]

    def pairs(self) -> np.ndarray:
        """(size, 2) array of every cell's (τ_s, τ_I)."""
        s, i = np.meshgrid(np.asarray(self.tau_s), np.asarray(self.tau_i), indexing="ij")
        return np.stack([s.ravel(), i.ravel()], axis=1)


def default_grid() -> ThresholdGrid:
    """12 sparsity cuts (0…1, the top one above every sparsity) × 13 intensity cuts (156 cells)."""
    lo, hi = LOG10_TAU_I
    return ThresholdGrid(tau_s=tuple(float(x) for x in np.round(np.linspace(0.0, 1.01, 12), 4)),
                         tau_i=tuple(float(x) for x in np.logspace(lo, hi, 13)))


def rule_placements(graph: OpGraph, grid: ThresholdGrid, sparsity: str = "act",
                    intensity: str = "flop_per_byte") -> np.ndarray:
    """(cells, ops) int8 placements of the rule (0 CPU, 1 GPU) for every grid cell, one numpy call."""
    s, inten = ThresholdPolicy.features(graph, sparsity, intensity)
    ts = np.asarray(grid.tau_s)[:, None, None]
    ti = np.asarray(grid.tau_i)[None, :, None]
    cpu = (s[None, None, :] >= ts) & (inten[None, None, :] <= ti)
    return np.where(cpu, 0, 1).astype(np.int8).reshape(grid.size, len(graph.ops))
