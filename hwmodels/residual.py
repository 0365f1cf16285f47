"""Shape-feature residual on top of the roofline: a linear model of log-latency corrections.

Where the roofline cannot reach the fidelity target (docs/architecture.md §3), a device's roofline time is
multiplied by ``exp(r)`` with ``r = clip(Σ_j coef_j · (f_j − center_j) / scale_j, lo, hi)``, the
sum running over named features of the operator's shape at its batch size:

- ``kind.K``: 1 for operators of kind K (a per-kind offset);
- ``log_flops``, ``log_bytes``, ``log_units``, ``log_wbytes``: natural logs (of at least 1) of
  the batch's FLOPs, bytes moved (activations + weights), output elements and weight bytes;
- ``wave_frac``: the wave (parallel) efficiency π of the roofline, in (0, 1];
- ``X@K``: feature X on operators of kind K only, 0 elsewhere (a per-kind slope).

The factor scales ``t_compute`` and ``t_memory`` alike (the launch overhead is untouched), so the
roofline stays the explanation and re-timing under load or contention stays exact. ``predict``
evaluates the features at batch 1 in the platform's default mode (what calibration tables
hold): a constant factor per operator and device, so batch, power mode, load and contention act
through the roofline alone and latency stays monotone in each, whatever the fitted slopes. Coefficients
are plain numbers in the TOML profile (``[cpu.latency.residual]``), fitted by
``calibrate.fit_residual``; numpy only, one vectorised pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sparoa_sim.hwmodels.kinds import KINDS, parse_kind
from sparoa_sim.hwmodels.ops import OpArrays

__all__ = ["BASE_FEATURES", "DEFAULT_FEATURES", "Residual", "feature_columns", "validate_feature"]

#: Continuous shape features a residual may use (besides ``kind.K`` and ``X@K``).
BASE_FEATURES: tuple[str, ...] = ("log_flops", "log_bytes", "log_units", "log_wbytes", "wave_frac")
_KIND_NAMES = tuple(k.value for k in KINDS)
_SLOPE_KINDS = ("conv", "dwconv", "linear", "matmul", "norm", "act", "pool", "add")
#: Features fitted by default: a per-kind offset, the base features, and per-kind slopes of
#: work and traffic for the kinds whose kernels differ most (GEMM-like and element-wise).
DEFAULT_FEATURES: tuple[str, ...] = (
    tuple(f"kind.{k}" for k in _KIND_NAMES)
    + BASE_FEATURES
    + tuple(f"{x}@{k}" for k in _SLOPE_KINDS for x in ("log_flops", "log_bytes"))
)
#: Default clip of the log-factor: the residual corrects the roofline by at most ×/÷ 4.
DEFAULT_CLIP: tuple[float, float] = (-math.log(4.0), math.log(4.0))


def validate_feature(name: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless it is a known feature."""
    if name.startswith("kind."):
        parse_kind(name[5:])
        return
    base, sep, kind = name.partition("@")
    if base not in BASE_FEATURES:
        raise ValueError(f"unknown residual feature {name!r} (known: kind.K, {', '.join(BASE_FEATURES)}, X@K)")
    if sep:
        parse_kind(kind)


def feature_columns(names: Sequence[str], ops: OpArrays, batch: np.ndarray | float,
                    parallel: np.ndarray, byte_scale: float = 1.0) -> np.ndarray:
    """Raw (unstandardised) feature matrix, shape (n, len(names)), for one device's column.

    ``batch`` is a scalar or (n,) array, ``parallel`` the (n,) wave efficiency of that device,
    ``byte_scale`` the precision's factor on byte counts (see ``latency.bytes_scale``).
    """
    n = len(ops)
    b = np.broadcast_to(np.asarray(batch, dtype=float), (n,))
    base = {
        "log_flops": lambda: np.log(np.maximum(ops.flops * b, 1.0)),
        "log_bytes": lambda: np.log(np.maximum(((ops.bytes_in + ops.bytes_out) * b + ops.bytes_w) * byte_scale, 1.0)),
        "log_units": lambda: np.log(np.maximum(ops.units * b, 1.0)),
        "log_wbytes": lambda: np.log(np.maximum(ops.bytes_w * byte_scale, 1.0)),
        "wave_frac": lambda: np.asarray(parallel, dtype=float),
    }
    cache: dict[str, np.ndarray] = {}
    out = np.empty((n, len(names)))
    for j, name in enumerate(names):
        if name.startswith("kind."):
            out[:, j] = ops.kind == _KIND_NAMES.index(name[5:])
            continue
        x, _, kind = name.partition("@")
        if x not in cache:
            cache[x] = base[x]()
        out[:, j] = cache[x] if not kind else np.where(ops.kind == _KIND_NAMES.index(kind), cache[x], 0.0)
    return out


def _active(names: Sequence[str], kind: np.ndarray) -> np.ndarray:
    """(n, m) where each column's centring applies: everywhere, or on kind K for ``X@K``."""
    out = np.ones((kind.shape[0], len(names)))
    for j, name in enumerate(names):
        if "@" in name:
            out[:, j] = kind == _KIND_NAMES.index(name.partition("@")[2])
    return out


@dataclass(frozen=True, eq=False)
class Residual:
    """A fitted residual: feature names, standardisation, coefficients and the clip of ``r``."""

    features: tuple[str, ...]
    coef: tuple[float, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    clip: tuple[float, float] = DEFAULT_CLIP
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(str(f) for f in self.features))
        m = len(self.features)
        for name in ("coef", "center", "scale"):
            vals = tuple(float(v) for v in getattr(self, name))
            if len(vals) != m:
                raise ValueError(f"residual {name} has {len(vals)} entries, features has {m}")
            if not all(math.isfinite(v) for v in vals):
                raise ValueError(f"residual {name} has a non-finite entry")
            object.__setattr__(self, name, vals)
        if any(s <= 0 for s in self.scale):
            raise ValueError(f"residual scale entries must be > 0, got {list(self.scale)}")
        if len(set(self.features)) != m:
            raise ValueError("residual features must be distinct")
        for f in self.features:
            validate_feature(f)
        lo, hi = (float(v) for v in self.clip)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= 0.0 <= hi):
            raise ValueError(f"residual clip must be finite with lo <= 0 <= hi, got {self.clip!r}")
        object.__setattr__(self, "clip", (lo, hi))
        # Evaluation plan: r = offset[kind] + Σ_X X · slope[kind, X] over the base features X used.
        # Every constant (one-hot terms, the centring of plain features, the per-kind centring of
        # interactions) folds into offset; a plain slope and its per-kind interactions into slope.
        offset = np.zeros(len(KINDS))
        base = tuple(dict.fromkeys(f.partition("@")[0] for f in self.features if not f.startswith("kind.")))
        slope = np.zeros((len(KINDS), len(base)))
        for j, f in enumerate(self.features):
            w_j = self.coef[j] / self.scale[j]
            if f.startswith("kind."):
                offset[_KIND_NAMES.index(f[5:])] += w_j
                offset -= w_j * self.center[j]
                continue
            x, _, kind = f.partition("@")
            rows = _KIND_NAMES.index(kind) if kind else slice(None)
            offset[rows] -= w_j * self.center[j]
            slope[rows, base.index(x)] += w_j
        object.__setattr__(self, "_offset", offset)
        object.__setattr__(self, "_base", base)
        object.__setattr__(self, "_slope", slope)

    def standardise(self, raw: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """``(raw − center · active) / scale`` per column; ``active`` is 1, or for ``X@K`` the rows of
        kind K (an interaction is centred among its own kind only)."""
        return (raw - np.array(self.center) * _active(self.features, kind)) / np.array(self.scale)

    def log_factor(self, ops: OpArrays, batch: np.ndarray | float, parallel: np.ndarray,
                   byte_scale: float = 1.0) -> np.ndarray:
        """The clipped log-correction ``r`` of every operator on this device, shape (n,)."""
        r = self._offset[ops.kind]
        if self._base:
            x = feature_columns(self._base, ops, batch, parallel, byte_scale)
            r = r + np.einsum("ij,ij->i", x, self._slope[ops.kind])
        return np.clip(r, self.clip[0], self.clip[1])

    def to_tree(self) -> dict[str, object]:
        """The TOML table: ``origin`` (always ``fitted``), ``note`` and plain lists of numbers."""
        return {"origin": "fitted", "note": self.note, "features": list(self.features), "coef": list(self.coef),
                "center": list(self.center), "scale": list(self.scale), "clip": list(self.clip)}
