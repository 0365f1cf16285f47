"""The activation-sparse kernel's measurements and their fit (docs/architecture.md §3).

A dense-vs-activation-sparse sweep (``real.measure.act_sparse_sweep``) times, per operator shape
and activation sparsity, the dense PyTorch kernel and the executor's activation-sparse kernel
(``real.kernels.act_sparse``). :func:`fit_act_sparse` fits the twin's ``act_eta``, ``act_gather``
and ``act_launch`` so that its predicted speed-up ``dense / act_sparse`` matches the measured one
(least squares on log speed-up, as ``calibrate.fit_sparse`` does for the CSR kernel), optionally
after fitting the dense kernel itself to the sweep's dense timings (a host without a profile).
The sweep is stored as plain JSON (``kind: sparoa-act-sweep``). numpy and scipy only.

With ``cache=True`` the fit adds the kernel's cache term (``act_cache`` C, ``act_miss`` µ;
``hwmodels.latency``): each non-zero input reads one row of the dense operand, and on this host a
row from beyond the cache costs several times its multiply-adds (cache-cold VGG-16 sweeps: about
2.5 GB/s of operand rows at any size, warm ones about 10 GB/s while the rows read fit a few MB).
Cold sweeps (random patterns rotated per call: all of the operand is read over a few calls) and
warm ones (one fixed input: only the rows of its non-zeros) differ only in the pattern reuse ρ
(:func:`sweep_reuse`), so one C and one µ serve both, and real inputs in between (measured ρ).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from sparoa_sim.hwmodels.errors import CalibrationError
from sparoa_sim.hwmodels.kinds import KINDS, OpKind, kind_code
from sparoa_sim.hwmodels.latency import predict
from sparoa_sim.hwmodels.measurements import ACT_POINT_KINDS as POINT_KINDS
from sparoa_sim.hwmodels.measurements import ActSparsePoint
from sparoa_sim.hwmodels.ops import OpArrays
from sparoa_sim.hwmodels.params import LatencyParams
from sparoa_sim.hwmodels.platform import Platform, PowerMode, device_index

__all__ = [
    "ACT_SWEEP_KIND",
    "CACHE_TERM",
    "ActSparsePoint",
    "POINT_KINDS",
    "act_sweep_ops",
    "fit_act_sparse",
    "load_act_sweep",
    "median_points",
    "predicted_speedup",
    "preferred_device",
    "save_act_sweep",
    "sweep_lookup",
    "sweep_reuse",
]

#: ``kind`` of a sweep file.
ACT_SWEEP_KIND = "sparoa-act-sweep"
_ELEM = 4.0  # FP32

#: Whether ``LatencyParams`` carries the optional cache term (``act_cache``, ``act_miss``).
CACHE_TERM = {"act_cache", "act_miss"} <= {f.name for f in fields(LatencyParams)}


def _require_cache_fields() -> None:
    if not CACHE_TERM:
        raise CalibrationError("fit_act_sparse(cache=True): LatencyParams has no act_cache / act_miss fields "
                               "(hwmodels/params.py)")


def act_sweep_ops(points: Sequence[ActSparsePoint]) -> OpArrays:
    """The sweep's operators as the twin sees them (one sample = the whole operator, FP32)."""
    g = np.array([p.groups for p in points], dtype=float)
    r = np.array([p.rows for p in points], dtype=float)
    k = np.array([p.inner for p in points], dtype=float)
    n = np.array([p.outer for p in points], dtype=float)
    mm = np.array([p.kind == "matmul" for p in points])
    return OpArrays(
        kind=np.array([kind_code(POINT_KINDS[p.kind]) for p in points], dtype=np.int64),
        flops=2.0 * g * r * k * n, macs=g * r * k * n,
        bytes_in=_ELEM * g * (r * k + np.where(mm, k * n, 0.0)), bytes_out=_ELEM * g * r * n,
        bytes_w=np.where(mm, 0.0, _ELEM * k * n),
        act_sparsity=np.array([p.act_sparsity for p in points], dtype=float),
        w_sparsity=np.zeros(len(points)), units=g * r * n)


def predicted_speedup(platform: Platform, points: Sequence[ActSparsePoint], device: str = "cpu",
                      mode: str | PowerMode | None = None, *, reuse: float | np.ndarray = 0.0) -> np.ndarray:
    """The twin's ``dense / act_sparse`` latency ratio at each point (the device must list its kinds).

    ``reuse``: the points' pattern reuse ρ (0: a fresh random pattern per call, as the cache-cold
    sweeps rotate; 1: one fixed input, a warm sweep)."""
    col = device_index(device)
    ops = act_sweep_ops(points)
    dense = predict(platform, ops, 1, mode=mode, kernel="dense").latency[:, col]
    act = predict(platform, ops, 1, mode=mode, kernel="act_sparse", act_reuse=reuse)
    if not np.all(act.act_sparse[:, col]):
        missing = sorted({p.kind for p, ok in zip(points, act.act_sparse[:, col]) if not ok})
        raise CalibrationError(f"predicted_speedup: the {device} of {platform.name!r} has no activation-sparse "
                               f"kernel for {', '.join(missing)} (act_kinds)")
    return dense / act.latency[:, col]


def _fit_dense(platform: Platform, pts: Sequence[ActSparsePoint], dev: str,
               mode: str | PowerMode | None) -> tuple[Platform, dict[str, Any]]:
    """Fit the dense kernel's eta of the sweep's kinds, ``mem_bw`` and ``t_launch`` to its dense timings."""
    col = device_index(dev)
    lat = platform.device(dev).latency
    ops = act_sweep_ops(pts)
    kinds = sorted({int(c) for c in ops.kind})
    log_meas = np.log([p.dense_s for p in pts])

    def params_of(z: np.ndarray) -> Any:
        eta = list(lat.eta)
        for j, c in enumerate(kinds):
            eta[c] = float(np.exp(z[j]))
        return dataclasses.replace(lat, eta=tuple(eta), mem_bw=float(np.exp(z[-2])), t_launch=float(np.exp(z[-1])))

    def resid(z: np.ndarray) -> np.ndarray:
        p = platform.with_latency(dev, params_of(z))
        return np.log(predict(p, ops, 1, mode=mode, kernel="dense").latency[:, col]) - log_meas

    z0 = np.array([math.log(lat.eta[c]) for c in kinds] + [math.log(lat.mem_bw), math.log(max(lat.t_launch, 1e-7))])
    lo = np.array([math.log(1e-4)] * len(kinds) + [math.log(1e8), math.log(1e-8)])
    hi = np.array([0.0] * len(kinds) + [math.log(1e13), math.log(1e-2)])
    sol = least_squares(resid, np.clip(z0, lo + 1e-9, hi - 1e-9), bounds=(lo, hi), method="trf", loss="soft_l1",
                        f_scale=0.1)
    fitted = platform.with_latency(dev, params_of(sol.x), origin="fitted",
                                   note=f"dense kernel fitted to {len(pts)} dense timings of the act-sparse sweep")
    err = np.exp(resid(sol.x)) - 1.0
    return fitted, {"n": len(pts), "eta": {KINDS[c].value: float(np.exp(sol.x[j])) for j, c in enumerate(kinds)},
                    "mem_bw": float(np.exp(sol.x[-2])), "t_launch": float(np.exp(sol.x[-1])),
                    "median_abs_error": float(np.median(np.abs(err)))}


def fit_act_sparse(platform: Platform, points: Sequence[ActSparsePoint], device: str = "cpu",
                   mode: str | PowerMode | None = None, *, kinds: Sequence[str] | None = None,
                   g_a: float = 1.0, fit_dense: bool = False, cache: bool = False,
                   reuse: float | Sequence[float] = 0.0, target: str = "speedup") -> tuple[Platform, dict[str, Any]]:
    """Fit ``act_eta``, ``act_gather`` and ``act_launch`` of ``device`` to a dense-vs-activation-sparse sweep.

    Least squares on ``log(predicted speed-up) − log(measured speed-up)``, the dense model held
    (fitted first to the sweep's dense timings when ``fit_dense``). ``kinds``: the twin kinds the
    fitted kernel is offered for (``act_kinds``; default: those of the points); ``g_a``: the
    share of zeros it skips (1: the kernel skips every zero by construction). Returns the
    platform and a report (fitted values, median |error| of the speed-up, measured and predicted
    break-even activation sparsity per shape). ``cache``: also fit the cache term (``act_cache``,
    ``act_miss``; ``hwmodels.latency``) with the points at pattern reuse ``reuse``; off, the
    term is left as it is (absent: none) and the fit is that of the three figures alone (``reuse``: one
    value, or one per point, e.g. 1 for the points of a warm sweep).
    ``target``: ``"speedup"`` (above) or ``"time"``: the kernel's own latency against the measured
    sparse time, so that an error of the dense model does not enter the sparse kernel's figures.
    """
    pts = list(points)
    if len(pts) < 3:
        raise CalibrationError(f"fit_act_sparse: need at least three sweep points, got {len(pts)}")
    if not 0.0 <= g_a <= 1.0:
        raise CalibrationError(f"fit_act_sparse: g_a must lie in [0, 1], got {g_a!r}")
    dev = ("cpu", "gpu")[device_index(device)]
    offered = tuple(OpKind(k) for k in (kinds if kinds is not None else sorted({POINT_KINDS[p.kind] for p in pts})))
    report: dict[str, Any] = {}
    if fit_dense:
        platform, report["dense"] = _fit_dense(platform, pts, dev, mode)
    lat = platform.device(dev).latency
    fit_kinds = tuple(sorted({OpKind(POINT_KINDS[p.kind]) for p in pts} | set(offered), key=lambda k: k.value))
    reuse = float(reuse) if np.ndim(reuse) == 0 else np.asarray(reuse, dtype=float)
    if np.ndim(reuse) == 1 and len(reuse) != len(pts):
        raise CalibrationError(f"fit_act_sparse: reuse needs one value per point ({len(pts)}), got {len(reuse)}")
    if target not in ("speedup", "time"):
        raise CalibrationError(f"fit_act_sparse: target must be 'speedup' or 'time', got {target!r}")
    log_meas = np.log([p.speedup for p in pts])
    log_sparse = np.log([p.sparse_s for p in pts])
    col = device_index(dev)
    ops = act_sweep_ops(pts)
    scale = np.array([1.0, 100.0, 1e-5])  # eta (log), gather (FLOP-eq. per input element), launch (s)
    if cache:
        _require_cache_fields()

    def params_of(z: np.ndarray, act_kinds: tuple[OpKind, ...]) -> Any:
        extra = {"act_cache": float(np.exp(z[3])), "act_miss": float(np.exp(z[4]))} if cache else {}
        return dataclasses.replace(lat, act_kinds=act_kinds, g_a=float(g_a), act_eta=float(np.exp(z[0] * scale[0])),
                                   act_gather=float(z[1] * scale[1]), act_launch=float(z[2] * scale[2]), **extra)

    def resid(z: np.ndarray) -> np.ndarray:
        p = platform.with_latency(dev, params_of(z, fit_kinds))
        if target == "time":
            act = predict(p, ops, 1, mode=mode, kernel="act_sparse", act_reuse=reuse).latency[:, col]
            return np.log(act) - log_sparse
        return np.log(predicted_speedup(p, pts, dev, mode, reuse=reuse)) - log_meas

    z0 = np.array([math.log(0.1), 0.1, 1.0])
    lo, hi = np.array([math.log(1e-3), 0.0, 0.0]), np.array([0.0, 1e3, 1e2])
    starts = [z0]
    if cache:  # C in [64 KiB, 1 GiB], µ in [1e-13, 1e-8] s/byte; the clip makes C's cost flat in places: several starts
        lo, hi = np.append(lo, [math.log(2.0**16), math.log(1e-13)]), np.append(hi, [math.log(2.0**30), math.log(1e-8)])
        starts = [np.append(z0, [math.log(c), math.log(3e-10)]) for c in (1e6, 4e6, 16e6)]
    try:
        sol = min((least_squares(resid, z, bounds=(lo, hi), method="trf", loss="soft_l1", f_scale=0.1)
                   for z in starts), key=lambda r: r.cost)
    except ValueError as exc:
        raise CalibrationError(f"fit_act_sparse failed: {exc}") from None
    note = f"least_squares on {len(pts)} dense-vs-activation-sparse sweep points"
    fitted = platform.with_latency(dev, params_of(sol.x, offered), origin="fitted", note=note)
    pred = np.exp(resid(sol.x) + log_meas) if target == "speedup" else \
        predicted_speedup(platform.with_latency(dev, params_of(sol.x, fit_kinds)), pts, dev, mode, reuse=reuse)
    shapes: dict[tuple[Any, ...], list[int]] = {}
    for i, p in enumerate(pts):
        shapes.setdefault(p.shape, []).append(i)

    def break_even(values: np.ndarray, idx: list[int]) -> float | None:
        wins = [pts[i].act_sparsity for i in idx if values[i] >= 1.0]
        return min(wins) if wins else None

    new = fitted.device(dev).latency
    report.update({
        "n": len(pts), "act_eta": new.act_eta, "act_gather": new.act_gather, "act_launch": new.act_launch,

        "g_a": new.g_a, "act_kinds": [k.value for k in new.act_kinds],
        **({"act_cache": new.act_cache, "act_miss": new.act_miss} if cache else {}),
        "median_speedup_error": float(np.median(np.abs(pred / np.exp(log_meas) - 1.0))),
        **({"median_time_error": float(np.median(np.abs(np.exp(resid(sol.x)) - 1.0)))} if target == "time" else {}),
        "break_even": [{"shape": list(k), "measured": break_even(np.exp(log_meas), v),
                        "predicted": break_even(pred, v)} for k, v in shapes.items()],
    })
    return fitted, report


def preferred_device(platform: Platform, ops: OpArrays, batch: float = 1, mode: str | PowerMode | None = None, *,
                     sparse_kernels: bool = True) -> np.ndarray:
    """Per operator the device the twin prefers in isolation, 0 = CPU, 1 = GPU (ties: CPU).

    With ``sparse_kernels`` each device runs whichever kernel :func:`~sparoa_sim.hwmodels.latency.choose_kernel`
    picks (dense, CSR, activation-sparse); without, both run dense. Transfers and overlap are
    left out: this is the operator's own preference, the quadrant plot's marker, not a schedule.
    """
    pred = predict(platform, ops, batch, mode=mode, kernel="auto" if sparse_kernels else "dense")
    return (pred.latency[:, 1] < pred.latency[:, 0]).astype(np.int8)


def median_points(sweeps: Sequence[Sequence[ActSparsePoint]]) -> list[ActSparsePoint]:
    """One point per (shape, sparsity): the median speed-up and times over the sweeps that measured it
    (sweeps taken at different moments of a shared host), in first-seen order."""
    groups: dict[tuple[Any, ...], list[ActSparsePoint]] = {}
    for sweep in sweeps:
        for p in sweep:
            groups.setdefault((*p.shape, p.sparsity), []).append(p)
    out = []
    for ps in groups.values():
        med = {k: statistics.median(getattr(p, k) for p in ps)
               for k in ("speedup", "dense_s", "dense_s_a", "dense_s_b", "sparse_s", "sparse_s_a", "sparse_s_b")}
        out.append(dataclasses.replace(ps[0], **med, reps=sum(p.reps for p in ps)))
    return out


def sweep_lookup(points: Sequence[ActSparsePoint], kind: str, groups: int, rows: int, inner: int, outer: int,
                 sparsity: float) -> ActSparsePoint | None:
    """The sweep point of this shape at the sweep sparsity nearest ``sparsity`` from below (None: shape not swept).

    From below, so a measured win at the looked-up level is one the operator's sparsity reaches.
    """
    same = [p for p in points if p.shape == (kind, groups, rows, inner, outer) and p.sparsity <= sparsity + 1e-9]
    return max(same, key=lambda p: p.sparsity) if same else None


# ---------------------------------------------------------------------------------------------
# on disk


def save_act_sweep(points: Sequence[ActSparsePoint], path: str | os.PathLike[str], meta: dict[str, Any] | None = None) -> None:
    """Write a sweep as JSON (``kind: sparoa-act-sweep``)."""
    doc = {"kind": ACT_SWEEP_KIND, "schema_version": 1, "meta": dict(meta or {}),
           "points": [{f.name: getattr(p, f.name) for f in fields(p)} for p in points]}
    Path(path).write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")


def sweep_reuse(path: str | os.PathLike[str]) -> float:
    """The pattern reuse ρ of a saved sweep's points: 1 where each point timed one fixed input
    (``meta.patterns`` 1 or absent), 0 where it rotated random patterns (cache-cold)."""
    try:
        meta = json.loads(Path(path).read_text()).get("meta", {})
        patterns = int(meta.get("patterns", 1))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise CalibrationError(f"{path}: cannot read the sweep's meta.patterns: {exc}") from None
    return 1.0 if patterns == 1 else 0.0


def load_act_sweep(path: str | os.PathLike[str]) -> tuple[ActSparsePoint, ...]:
    """Read a sweep written by :func:`save_act_sweep`; errors name the file and the point."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CalibrationError(f"{path}: cannot read an act-sparse sweep: {exc}") from None
    if not isinstance(doc, dict) or doc.get("kind") != ACT_SWEEP_KIND:
        raise CalibrationError(f"{path}: not an act-sparse sweep (kind must be {ACT_SWEEP_KIND!r})")
    names = {f.name for f in fields(ActSparsePoint)}
    out = []
    for i, raw in enumerate(doc.get("points", [])):
        if not isinstance(raw, dict) or set(raw) != names:
            raise CalibrationError(f"{path}: points[{i}] must have exactly the keys {sorted(names)}")
        try:
            out.append(ActSparsePoint(**raw))
        except CalibrationError as exc:
            raise CalibrationError(f"{path}: points[{i}]: {exc}") from None
    return tuple(out)
