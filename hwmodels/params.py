"""Free parameters of the per-device latency model, in one frozen value with a flat vector view.

Everything calibration may fit lives here (docs/architecture.md §3): overheads, sustained bandwidth, per-kind
efficiency, wave granularity, sparse-kernel figures and the roofline's sharpness. The vector view
(:meth:`LatencyParams.to_vector` / :meth:`LatencyParams.with_vector`) gives names, bounds and a
log-scale hint per entry so ``scipy.optimize.least_squares`` can fit them on log-latency.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from sparoa_sim.hwmodels.kinds import KINDS, OpKind
from sparoa_sim.hwmodels.residual import Residual
from sparoa_sim.hwmodels.limits import MAX_NOISE_SIGMA, MAX_OVERHEAD_S, MIN_EFFICIENCY

__all__ = ["ACT_CACHE_PARAMS", "ACT_SPARSE_PARAMS", "LatencyParams", "OPTIONAL_TERMS", "ParamSpec", "SCALAR_PARAMS", "param_specs"]


@dataclass(frozen=True)
class ParamSpec:
    """One entry of the flat parameter vector: its name, fitting bounds and scale hint."""

    name: str
    lower: float
    upper: float
    log: bool  # True: the parameter spans decades; fit its logarithm


#: Scalar fields of :class:`LatencyParams` that enter the vector, with fitting bounds. The
#: validation ranges used when loading a profile are wider (see ``VALID_RANGES``).
SCALAR_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("t_launch", 0.0, 1e-3, False),
    ParamSpec("t_dispatch", 0.0, 1e-3, False),
    ParamSpec("mem_bw", 1e8, 1e13, True),
    ParamSpec("lanes", 1.0, 1e6, True),
    ParamSpec("sparse_eta", 1e-3, 1.0, False),
    ParamSpec("g_w", 0.0, 1.0, False),
    ParamSpec("g_a", 0.0, 1.0, False),
    ParamSpec("csr_index_overhead", 0.0, 4.0, False),
    ParamSpec("sharpness", 0.0, 1.0, False),
)
_ETA_SPEC = (1e-4, 1.0)

#: Allowed ranges when a profile is loaded: (lower, upper, lower_inclusive). The physical bounds
#: (overheads, noise, efficiency floor) are ``sparoa_sim.limits``'s: beyond them a run never ends.
VALID_RANGES: dict[str, tuple[float, float, bool]] = {
    "t_launch": (0.0, MAX_OVERHEAD_S, True),
    "t_dispatch": (0.0, MAX_OVERHEAD_S, True),
    "mem_bw": (0.0, math.inf, False),
    "lanes": (0.0, math.inf, False),
    "sparse_eta": (MIN_EFFICIENCY, 1.0, True),
    "g_w": (0.0, 1.0, True),
    "g_a": (0.0, 1.0, True),
    "csr_index_overhead": (0.0, math.inf, True),
    "sharpness": (0.0, 1.0, True),
    "noise_sigma": (0.0, MAX_NOISE_SIGMA, True),
    "eta": (MIN_EFFICIENCY, 1.0, True),
    "dispatch_factor": (0.0, math.inf, False),
    "act_eta": (MIN_EFFICIENCY, 1.0, True),
    "act_gather": (0.0, math.inf, True),
    "act_launch": (0.0, MAX_OVERHEAD_S, True),
    "act_cache": (0.0, math.inf, True),
    "act_miss": (0.0, 1e-6, True),
    "conv_size_beta": (-1.0, 1.0, False),
}

#: Scalars of the activation-sparse kernel (optional in a profile; outside the fitted vector:
#: ``calibrate.fit_act_sparse`` fits them to the dense-vs-activation-sparse sweep).
ACT_SPARSE_PARAMS: tuple[str, ...] = ("act_eta", "act_gather", "act_launch")
#: Its optional cache term (0 = none, the kernel as before; written and read only where non-zero).
ACT_CACHE_PARAMS: tuple[str, ...] = ("act_cache", "act_miss")
#: Optional scalars outside the fitted vector with a 0 default that means "no term" (written only where non-zero).
OPTIONAL_TERMS: tuple[str, ...] = ("conv_size_beta",)


def param_specs() -> tuple[ParamSpec, ...]:
    """All vector entries in order: the scalars, then ``eta.<kind>`` for every kind in code order."""
    return SCALAR_PARAMS + tuple(
        ParamSpec(f"eta.{k.value}", _ETA_SPEC[0], _ETA_SPEC[1], False) for k in KINDS
    )


@dataclass(frozen=True)
class LatencyParams:
    """Free parameters of one device's latency model (docs/architecture.md §3).

    Attributes (SI units):
        t_launch: fixed per-operator overhead on the device, s, at the platform's max CPU clock
            (host-bound; scaled by ``max_cpu_clock / cpu_clock(mode)``).
        t_dispatch: host CPU time to issue one operator to this device, s (same scaling); the
            engine charges it to its host-dispatch resource. Not part of ``latency``.
        mem_bw: sustained memory bandwidth the device reaches alone, B/s, at the maximum memory
            clock (scaled by ``emc_bw(mode) / memory.peak_bw``).
        lanes: output elements one unit (core / TPC) works on at once; one wave of an operator
            covers ``active_units × lanes`` output elements.
        eta: dense-kernel fraction of peak at full waves, one per :data:`KINDS` code.
        sparse_eta: a sparse kernel's efficiency relative to the dense one (0, 1].
        g_w, g_a: fraction of weight / activation zeros the sparse kernel skips.
        csr_index_overhead: CSR index bytes per stored weight-value byte (sparse weights read
            ``bytes_w · (1 − w_sparsity) · (1 + csr_index_overhead)``).
        sparse_kinds: kinds for which a sparse kernel exists on this device.
        sharpness: 0 → ``max(t_compute, t_memory)``; s > 0 → p-norm with p = 1/s (1 = sum).
        noise_sigma: σ of the multiplicative log-normal jitter (from calibration residuals).
        residual: optional shape-feature correction of the roofline time (``hwmodels.residual``);
            None = the plain roofline.
        dispatch_factor: per-kind multiplier on ``t_dispatch``, one per :data:`KINDS` code (empty =
            1 for every kind): issuing a cuDNN convolution costs the host several times what an
            element-wise kernel does (docs/architecture.md §3). Not part of the fitted vector.
        act_kinds: kinds with an activation-sparse kernel on this device (empty: none, and ``g_a``
            keeps its old meaning on the CSR kernel). Where non-empty, ``g_a`` is the share of
            activation zeros that kernel skips and the CSR kernel skips none.
        act_eta: the activation-sparse kernel's share of the device's plain peak (0, 1] (a sparse
            loop: neither the kind's dense efficiency nor the wave term applies).
        act_gather: its gather (scan and compaction of the input into CSR, layout changes) in
            FLOP-equivalents per input element, at the device's plain peak.
        act_launch: its fixed cost per call beyond the dense kernel's launch, s at the max clock
            (scaled like ``t_launch``).
        act_cache: bytes of the dense operand's rows the kernel finds in cache (0 with ``act_miss``
            0: no cache term); act_miss: s per byte of operand rows read from beyond it
            (``hwmodels.latency``).
        conv_size_beta: β of the dense convolution's size term (``hwmodels.latency.conv_size_factor``):
            a ``conv`` operator's compute time × exp(clip(β · ln(FLOPs / 1e8), ±ln 4)); β < 0 lets a larger
            batch-1 convolution reach a larger share of peak. 0 (the default) = no term; in (−1, 1].
    """

    t_launch: float
    t_dispatch: float
    mem_bw: float
    lanes: float
    eta: tuple[float, ...]
    sparse_eta: float
    g_w: float
    g_a: float
    csr_index_overhead: float
    sparse_kinds: tuple[OpKind, ...]
    sharpness: float = 0.0
    noise_sigma: float = 0.0
    residual: Residual | None = None
    dispatch_factor: tuple[float, ...] = ()
    act_kinds: tuple[OpKind, ...] = ()
    act_eta: float = 1.0
    act_gather: float = 0.0
    act_launch: float = 0.0
    act_cache: float = 0.0
    act_miss: float = 0.0
    conv_size_beta: float = 0.0

    def __post_init__(self) -> None:
        if len(self.eta) != len(KINDS):
            raise ValueError(f"eta needs {len(KINDS)} entries (one per kind), got {len(self.eta)}")
        object.__setattr__(self, "eta", tuple(float(e) for e in self.eta))
        df = tuple(float(f) for f in self.dispatch_factor) or (1.0,) * len(KINDS)
        if len(df) != len(KINDS):
            raise ValueError(f"dispatch_factor needs {len(KINDS)} entries (one per kind), got {len(df)}")
        if not all(math.isfinite(f) and f > 0 for f in df):
            raise ValueError(f"dispatch_factor entries must be positive and finite, got {list(df)}")
        object.__setattr__(self, "dispatch_factor", df)
        object.__setattr__(self, "sparse_kinds", tuple(OpKind(k) for k in self.sparse_kinds))
        object.__setattr__(self, "act_kinds", tuple(OpKind(k) for k in self.act_kinds))
        for name in ACT_SPARSE_PARAMS + ACT_CACHE_PARAMS + OPTIONAL_TERMS:
            lo, hi, lo_incl = VALID_RANGES[name]
            v = float(getattr(self, name))
            if not (math.isfinite(v) and (v >= lo if lo_incl else v > lo) and v <= hi):
                raise ValueError(f"{name} must lie in {'[' if lo_incl else '('}{lo:g}, {hi:g}], got {v!r}")
            object.__setattr__(self, name, v)

    def eta_of(self, kind: OpKind | str) -> float:
        """Dense efficiency of one kind."""
        return self.eta[KINDS.index(OpKind(kind))]

    def dispatch_factor_of(self, kind: OpKind | str) -> float:
        """Multiplier on ``t_dispatch`` for operators of one kind."""
        return self.dispatch_factor[KINDS.index(OpKind(kind))]

    # --- flat vector view -------------------------------------------------------------
    @staticmethod
    def vector_names() -> tuple[str, ...]:
        """Names of the vector entries, in order."""
        return tuple(p.name for p in param_specs())

    @staticmethod
    def vector_bounds() -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) fitting bounds, as ``least_squares(bounds=...)`` takes them."""
        specs = param_specs()
        return np.array([p.lower for p in specs]), np.array([p.upper for p in specs])

    @staticmethod
    def vector_log_scale() -> np.ndarray:
        """Boolean mask of the entries best fitted as logarithms (bandwidth, lanes)."""
        return np.array([p.log for p in param_specs()])

    def to_vector(self) -> np.ndarray:
        """The parameters as a flat float array in :meth:`vector_names` order."""
        scalars = [float(getattr(self, p.name)) for p in SCALAR_PARAMS]
        return np.array(scalars + list(self.eta), dtype=float)

    def with_vector(self, vec: np.ndarray) -> LatencyParams:
        """A copy with the vector entries replaced (``sparse_kinds``, ``noise_sigma``, ``residual``,
        ``dispatch_factor`` and the activation-sparse kernel's figures kept)."""
        vec = np.asarray(vec, dtype=float)
        n_s = len(SCALAR_PARAMS)
        if vec.shape != (n_s + len(KINDS),):
            raise ValueError(f"parameter vector must have shape ({n_s + len(KINDS)},), got {vec.shape}")
        changes = {p.name: float(vec[i]) for i, p in enumerate(SCALAR_PARAMS)}
        changes["eta"] = tuple(float(x) for x in vec[n_s:])
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_vector(cls, vec: np.ndarray, *, sparse_kinds: tuple[OpKind, ...] = (),
                    noise_sigma: float = 0.0, dispatch_factor: tuple[float, ...] = (),
                    conv_size_beta: float = 0.0) -> LatencyParams:
        """Build parameters from a flat vector plus the non-vector fields."""
        vec = np.asarray(vec, dtype=float)
        n_s = len(SCALAR_PARAMS)
        if vec.shape != (n_s + len(KINDS),):
            raise ValueError(f"parameter vector must have shape ({n_s + len(KINDS)},), got {vec.shape}")
        base = {p.name: float(vec[i]) for i, p in enumerate(SCALAR_PARAMS)}
        return cls(eta=tuple(float(x) for x in vec[n_s:]), sparse_kinds=tuple(sparse_kinds),
                   noise_sigma=noise_sigma, dispatch_factor=tuple(dispatch_factor), conv_size_beta=conv_size_beta,
                   **base)
