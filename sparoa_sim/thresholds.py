"""The threshold space of the SparOA rule: normalisation, a fixed candidate grid, regret surfaces.

The rule (DESIGN §2) sends an operator to the CPU iff sparsity ≥ τ_s and intensity ≤ τ_I.
Latency is piecewise constant in (τ_s, τ_I): only the cut points between operators' feature
values matter, so the best thresholds form plateaus. This module fixes one shared
parameterisation — used by ``SparOAThreshold-v0`` and the threshold predictor — and evaluates
the rule on a fixed grid of candidate pairs, simulating each *distinct placement* once.

Normalised action ``a ∈ [-1, 1]²``: ``τ_s = (a₀ + 1)/2 · S_MAX`` (``S_MAX`` slightly above 1, so
the top end means "no operator qualifies") and ``log10 τ_I`` linear in ``a₁`` over
``LOG10_TAU_I`` (FLOP/byte).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sparoa_sim.errors import SimulationError
from sparoa_sim.graph import OpGraph

__all__ = [
    "LOG10_TAU_I",
    "S_MAX",
    "ThresholdGrid",
    "default_grid",
    "from_action",
    "to_action",
    "rule_placements",
]

#: τ_s at the top of the normalised range: above every sparsity, so no operator goes to the CPU.
S_MAX = 1.01
#: log10 range of τ_I (FLOP/byte) covered by the normalised action.
LOG10_TAU_I = (-2.0, 4.0)


def _check_action(a: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64).reshape(-1)
    if arr.shape != (2,) or not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > 1.0 + 1e-9):
        raise SimulationError(f"threshold action must be two finite numbers in [-1, 1], got {a!r}")
    return np.clip(arr, -1.0, 1.0)


def from_action(a: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """(τ_s, τ_I) from a normalised action in [-1, 1]²."""
    arr = _check_action(a)
    lo, hi = LOG10_TAU_I
    tau_s = (arr[0] + 1.0) / 2.0 * S_MAX
    tau_i = 10.0 ** (lo + (arr[1] + 1.0) / 2.0 * (hi - lo))
    return float(tau_s), float(tau_i)


def to_action(tau_s: float, tau_i: float) -> np.ndarray:
    """The normalised action of (τ_s, τ_I), clipped into [-1, 1]² (float32)."""
    if not (math.isfinite(tau_s) and math.isfinite(tau_i)) or tau_i <= 0:
        raise SimulationError(f"thresholds must be finite with tau_i > 0, got ({tau_s!r}, {tau_i!r})")
    lo, hi = LOG10_TAU_I
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
    """12 sparsity × 13 intensity cuts spanning the normalised range (156 cells)."""
    lo, hi = LOG10_TAU_I
    return ThresholdGrid(tau_s=tuple(float(x) for x in np.round(np.linspace(0.0, S_MAX, 12), 4)),
                         tau_i=tuple(float(x) for x in np.logspace(lo, hi, 13)))


def rule_placements(graph: OpGraph, grid: ThresholdGrid, sparsity: str = "act",
                    intensity: str = "flop_per_byte") -> np.ndarray:
    """(cells, ops) int8 placements of the rule (0 CPU, 1 GPU) for every grid cell, one numpy call."""
    from sparoa_sim.policies import ThresholdPolicy

    s, inten = ThresholdPolicy.features(graph, sparsity, intensity)
    ts = np.asarray(grid.tau_s)[:, None, None]
    ti = np.asarray(grid.tau_i)[None, :, None]
    cpu = (s[None, None, :] >= ts) & (inten[None, None, :] <= ti)
    return np.where(cpu, 0, 1).astype(np.int8).reshape(grid.size, len(graph.ops))
