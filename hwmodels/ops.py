"""Per-operator inputs of the hardware models as a struct of numpy arrays.

hwmodels knows nothing of graphs: the graph layer builds one :class:`OpArrays` from its own
struct-of-arrays (once per graph) and every model call is vectorised over it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from sparoa_sim.hwmodels.kinds import KINDS

__all__ = ["OpArrays"]

_FLOAT_FIELDS = ("flops", "macs", "bytes_in", "bytes_out", "bytes_w", "act_sparsity", "w_sparsity", "units")


@dataclass(frozen=True, eq=False)
class OpArrays:
    """Per-operator features, all 1-D arrays of one length ``n`` (read-only float64; ``kind`` int64).

    Per sample unless stated (docs/architecture.md §2):
        kind: integer codes of :class:`~sparoa_sim.hwmodels.kinds.OpKind` (``KINDS[code]``).
        flops: floating-point work; macs: multiply-accumulates (kept for calibration features).
        bytes_in, bytes_out: activation bytes read / written; bytes_w: parameter bytes (not per
            sample: not scaled by batch).
        act_sparsity, w_sparsity: fractions of zeros in the input activations / weights, in [0, 1].
        units: independent output elements per sample (``numel(output) / batch``): the parallel
            work that is spread in waves over the device's cores / SMs.
        elem_bytes: bytes per value the byte counts were taken at (4 for an FP32 graph); the
            models rescale bytes to the simulated precision.
        kernels: device kernels eager PyTorch launches per operator (launch and framework
            overheads are charged per kernel); ones where not given.
        act_reuse: pattern reuse ρ in [0, 1] of each operator's input activations across inputs
            (the activation-sparse kernel's cache input, ``hwmodels.latency``); None where not
            recorded, which the models read as 0 (random patterns).
    """

    kind: np.ndarray
    flops: np.ndarray
    macs: np.ndarray
    bytes_in: np.ndarray
    bytes_out: np.ndarray
    bytes_w: np.ndarray
    act_sparsity: np.ndarray
    w_sparsity: np.ndarray
    units: np.ndarray
    elem_bytes: float = 4.0
    kernels: np.ndarray | None = None
    act_reuse: np.ndarray | None = None

    def __post_init__(self) -> None:
        kind = np.asarray(self.kind)
        if kind.ndim != 1:
            raise ValueError(f"kind must be a 1-D array, got shape {kind.shape}")
        n = kind.shape[0]
        if n and not np.issubdtype(kind.dtype, np.integer):
            if not np.all(np.equal(np.mod(kind, 1), 0)):
                raise ValueError("kind must hold integer kind codes")
        kind = kind.astype(np.int64, copy=True)
        if n and (kind.min() < 0 or kind.max() >= len(KINDS)):
            bad = int(kind[(kind < 0) | (kind >= len(KINDS))][0])
            raise ValueError(f"kind code {bad} out of range [0, {len(KINDS)})")
        kind.setflags(write=False)
        object.__setattr__(self, "kind", kind)
        for name in _FLOAT_FIELDS:
            a = np.array(getattr(self, name), dtype=np.float64, copy=True)
            if a.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},) like kind, got {a.shape}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name} has a non-finite value at index {int(np.flatnonzero(~np.isfinite(a))[0])}")
            if np.any(a < 0):
                raise ValueError(f"{name} has a negative value at index {int(np.flatnonzero(a < 0)[0])}")
            if name in ("act_sparsity", "w_sparsity") and np.any(a > 1):
                raise ValueError(f"{name} must lie in [0, 1]; index {int(np.flatnonzero(a > 1)[0])} is above 1")
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        if not (np.isfinite(self.elem_bytes) and self.elem_bytes > 0):
            raise ValueError(f"elem_bytes must be positive, got {self.elem_bytes!r}")
        object.__setattr__(self, "elem_bytes", float(self.elem_bytes))
        k = np.ones(n) if self.kernels is None else np.array(self.kernels, dtype=np.float64, copy=True)
        if k.shape != (n,):
            raise ValueError(f"kernels must have shape ({n},) like kind, got {k.shape}")
        if not np.all(np.isfinite(k) & (k >= 0)):
            raise ValueError(f"kernels must be finite and non-negative; index {int(np.flatnonzero(~(np.isfinite(k) & (k >= 0)))[0])} is not")
        k.setflags(write=False)
        object.__setattr__(self, "kernels", k)
        if self.act_reuse is not None:
            r = np.array(self.act_reuse, dtype=np.float64, copy=True)
            if r.shape != (n,):
                raise ValueError(f"act_reuse must have shape ({n},) like kind, got {r.shape}")
            bad = ~((r >= 0.0) & (r <= 1.0))  # NaN is bad too
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"act_reuse must lie in [0, 1]; index {i} is {float(r[i])!r}")
            r.setflags(write=False)
            object.__setattr__(self, "act_reuse", r)

    @classmethod
    def build(cls, kind: np.ndarray, flops: np.ndarray, *, macs: np.ndarray | None = None,
              bytes_in: np.ndarray | None = None, bytes_out: np.ndarray | None = None,
              bytes_w: np.ndarray | None = None, act_sparsity: np.ndarray | None = None,
              w_sparsity: np.ndarray | None = None, units: np.ndarray | None = None,
              elem_bytes: float = 4.0, kernels: np.ndarray | None = None,
              act_reuse: np.ndarray | None = None) -> OpArrays:
        """Build with defaults: zeros for absent arrays, ``macs = flops / 2`` and
        ``units = bytes_out / elem_bytes`` (output elements) when not given."""
        kind = np.asarray(kind)
        n = kind.shape[0] if kind.ndim == 1 else -1
        z = np.zeros(max(n, 0))
        flops = np.asarray(flops, dtype=float)
        bytes_out_a = z if bytes_out is None else np.asarray(bytes_out, dtype=float)
        return cls(
            kind=kind,
            flops=flops,
            macs=flops / 2.0 if macs is None else macs,
            bytes_in=z if bytes_in is None else bytes_in,
            bytes_out=bytes_out_a,
            bytes_w=z if bytes_w is None else bytes_w,
            act_sparsity=z if act_sparsity is None else act_sparsity,
            w_sparsity=z if w_sparsity is None else w_sparsity,
            units=bytes_out_a / elem_bytes if units is None else units,
            elem_bytes=elem_bytes,
            kernels=kernels,
            act_reuse=act_reuse,
        )

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    def take(self, index: np.ndarray | list[int] | slice) -> OpArrays:
        """The operators at ``index`` (fancy index or slice), as a new :class:`OpArrays`."""
        vals = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("kind", "kernels") + _FLOAT_FIELDS + (("act_reuse",) if self.act_reuse is not None else ()):
            vals[name] = np.atleast_1d(vals[name][index])
        return OpArrays(**vals)

    @property
    def intensity(self) -> np.ndarray:
        """Arithmetic intensity, FLOPs per byte at batch 1 (0 where no bytes move)."""
        b = self.bytes_in + self.bytes_out + self.bytes_w
        return np.divide(self.flops, b, out=np.zeros_like(b), where=b > 0)
