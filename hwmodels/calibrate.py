"""Calibration: fit a device's latency parameters to a measurement table (docs/architecture.md §3, §9).

The fit is ``scipy.optimize.least_squares`` on log-latency residuals
``log(predicted) − log(measured)`` with a robust ``soft_l1`` loss. Parameters that span decades
(``LatencyParams.vector_log_scale``) are fitted as logarithms; every parameter stays inside
``LatencyParams.vector_bounds``. ``lanes`` enters the model through a ceiling (waves) and is kept
fixed, as are the sparse-kernel figures (``sparse_eta``, ``g_w``, ``g_a``,
``csr_index_overhead``), ``t_dispatch`` (it is not part of an operator's latency) and
``noise_sigma``. A kind's efficiency is fitted only when the data holds rows of that kind.
With ``fit(..., anchor=...)`` an end-to-end stage follows (:mod:`sparoa_sim.hwmodels.e2e_anchor`):
``t_launch`` and one roofline factor refitted to the tables' eager passes, since rows timed one by
one inside the graph need not add up to an eager pass.

Fit quality is reported as docs/architecture.md §9 asks (``within_10pct``, ``within_20pct``,
``median_error``, ``mape``, fractions), overall and per kind, beside the measurement's own
repeatability; :func:`cross_validate` reports it on held-out workloads whose operator shapes
were dropped from the training rows. The rows and the report live in
:mod:`sparoa_sim.hwmodels.calibration_report` (their public names are re-exported here).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from sparoa_sim.hwmodels.errors import CalibrationError
from sparoa_sim.hwmodels.kinds import KINDS, kind_code, parse_kind
from sparoa_sim.hwmodels.latency import bytes_scale, predict, wave_efficiency
from sparoa_sim.hwmodels.act_sparse import fit_act_sparse
from sparoa_sim.hwmodels.e2e_anchor import anchor_e2e
from sparoa_sim.hwmodels.measurements import ActSparsePoint, MeasuredOp, MeasurementTable, SparsePoint
from sparoa_sim.hwmodels.ops import OpArrays
from sparoa_sim.hwmodels.params import LatencyParams
from sparoa_sim.hwmodels.platform import Platform, PowerMode, device_index
from sparoa_sim.hwmodels.calibration_report import (
    ERROR_KEYS,
    TABLE_DEVICE,
    as_tables,
    check_rows,
    context_ratios,
    device_name,
    fit_report,
    predict_rows,
    report_from,
    rows_for_device,
    rows_to_ops,
    shape_key,
)
from sparoa_sim.hwmodels.residual import DEFAULT_FEATURES, Residual, feature_columns

__all__ = [
    "ACT_OFFERED_KINDS",
    "DEFAULT_ALPHA",
    "DEFAULT_TIME_WEIGHT",
    "FIXED_PARAMS",
    "FitResult",
    "context_ratios",
    "cross_validate",
    "fit",
    "fit_report",
    "fit_residual",
    "fit_sparse",
    "report_from",
    "rows_for_device",
    "row_weights",
    "rows_to_ops",
    "shape_key",
]

#: Vector entries never fitted: the ceiling-bound ``lanes``, sparse-kernel-only figures and
#: ``t_dispatch`` (host issue time, outside an operator's latency).
FIXED_PARAMS: tuple[str, ...] = ("lanes", "t_dispatch", "sparse_eta", "g_w", "g_a", "csr_index_overhead")


@dataclass(frozen=True)
class FitResult:
    """Outcome of :func:`fit`: the platform with the fitted device parameters, those
    parameters, and the fit report (read-only mapping; see :func:`fit_report` plus the keys
    ``fitted`` (names), ``cost``, ``nfev``, ``success``, ``message``, ``sigma_log``)."""

    platform: Platform
    params: LatencyParams
    report: Mapping[str, Any]


# ---------------------------------------------------------------------------------------------
# report


#: Ridge strength of the residual: chosen by leave-one-workload-out error on this host's in-graph
#: rows (1e-3, 1e-2, 1e-1 gave held-out within ±10 % of 22.6 %, 25.3 %, 23.7 %).
DEFAULT_ALPHA = 1e-2
#: Default exponent of the per-row time weights (:func:`row_weights`). On this project's host
#: tables 0.25 kept the held-out per-operator share within ±10 % (31.5 % vs 27.2 % at 0) and cut
#: the worst CPU-only end-to-end error of the seven models from 6.1 % to 2.5 %.
DEFAULT_TIME_WEIGHT = 0.25
#: Cap on the joint refinement's evaluations (each costs a Jacobian of ~60 columns).
_JOINT_MAX_NFEV = 40




# ---------------------------------------------------------------------------------------------
# fit


def row_weights(meas: np.ndarray, time_weight: float) -> np.ndarray:
    """Per-row weights of the log-latency fit: ``(t / median t) ** time_weight``, mean 1.

    0 weighs every operator alike (the per-operator error metrics); > 0 leans the fit towards
    the operators that make up most of a pass, so summed predictions (end-to-end latency) are
    right where the roofline cannot fit every operator at once.
    """
    if not (math.isfinite(time_weight) and 0.0 <= time_weight <= 2.0):
        raise CalibrationError(f"time_weight must lie in [0, 2], got {time_weight!r}")
    if time_weight == 0.0:
        return np.ones(len(meas))
    w = (np.asarray(meas, dtype=float) / float(np.median(meas))) ** time_weight
    return w / w.mean()


def _fit_rows(platform: Platform, rows: Sequence[MeasuredOp], device: str, mode: str | PowerMode | None,
              precision: str, fixed: Sequence[str], loss: str, f_scale: float,
              max_nfev: int | None, residual: bool | Sequence[str] = True, alpha: float = DEFAULT_ALPHA,
              joint: bool = False, time_weight: float = DEFAULT_TIME_WEIGHT) -> FitResult:
    dev = device_name(device)
    col = device_index(dev)
    rows = list(rows)
    ops, batch, meas = rows_to_ops(rows, context=None)
    log_meas = np.log(meas)
    sw = np.sqrt(row_weights(meas, time_weight))

    base = dataclasses.replace(platform.device(dev).latency, residual=None)  # the roofline alone first
    platform = platform.with_latency(dev, base, origin="assumed")
    names = LatencyParams.vector_names()
    lo, hi = LatencyParams.vector_bounds()
    logm = LatencyParams.vector_log_scale()
    v0 = base.to_vector()

    present = {KINDS[int(c)].value for c in np.unique(ops.kind)}
    fixed_set = set(FIXED_PARAMS) | set(fixed)
    free = np.array([
        n not in fixed_set and (not n.startswith("eta.") or n[4:] in present) for n in names
    ])
    if not free.any():
        raise CalibrationError("nothing to fit: every parameter is fixed")
    idx = np.flatnonzero(free)

    # Transformed coordinates: log for log-scale entries, the value itself otherwise.
    def to_z(v: np.ndarray) -> np.ndarray:
        return np.where(logm[idx], np.log(np.maximum(v, 1e-300)), v)

    def from_z(z: np.ndarray) -> np.ndarray:
        return np.where(logm[idx], np.exp(z), z)

    z_lo = np.where(logm[idx], np.log(np.maximum(lo[idx], 1e-300)), lo[idx])
    z_hi = np.where(logm[idx], np.log(hi[idx]), hi[idx])
    z0 = np.clip(to_z(np.clip(v0[idx], lo[idx], hi[idx])), z_lo, z_hi)
    # Per-entry scale so the solver takes comparable steps (t_launch is ~1e-6 s, eta ~0.5).
    x_scale = np.where(logm[idx], 1.0, np.maximum(np.abs(z0), 1e-3 * (z_hi - z_lo)))
    x_scale = np.where(np.isfinite(x_scale) & (x_scale > 0), x_scale, 1.0)

    def params_of(z: np.ndarray) -> LatencyParams:
        v = v0.copy()
        v[idx] = np.clip(from_z(z), lo[idx], hi[idx])
        return base.with_vector(v)

    def residuals(z: np.ndarray) -> np.ndarray:
        p = platform.with_latency(dev, params_of(z), origin="fitted")
        pred = predict_rows(p, ops, batch, col, mode, precision)
        return sw * (np.log(np.maximum(pred, 1e-300)) - log_meas)

    try:
        sol = least_squares(residuals, z0, bounds=(z_lo, z_hi), loss=loss, f_scale=f_scale,
                            x_scale=x_scale, method="trf", max_nfev=max_nfev,
                            xtol=1e-12, ftol=1e-12, gtol=1e-12)
    except ValueError as exc:
        raise CalibrationError(f"calibration failed: {exc}") from None
    params = params_of(sol.x)
    note = f"least_squares on log-latency, {len(rows)} {dev} rows"
    fitted = platform.with_latency(dev, params, origin="fitted", note=note)
    roofline_report = report_from(rows, predict_rows(fitted, ops, batch, col, mode, precision), meas)
    if residual:
        feats = DEFAULT_FEATURES if residual is True else tuple(residual)
        res_fit = fit_residual(fitted, rows, dev, features=feats, alpha=alpha, mode=mode, precision=precision,
                               loss=loss, f_scale=f_scale, time_weight=time_weight)
        params = dataclasses.replace(params, residual=res_fit)
        if joint:
            params = _refine_jointly(platform, dev, params, sol.x, params_of, residuals_of=log_meas,
                                     ops=ops, batch=batch, mode=mode, precision=precision, alpha=alpha,
                                     bounds=(z_lo, z_hi), x_scale=x_scale, loss=loss, f_scale=f_scale, sw=sw)
        fitted = fitted.with_latency(dev, params, origin="fitted", note=note)
    pred = predict_rows(fitted, ops, batch, col, mode, precision)
    report = report_from(rows, pred, meas)
    res = np.log(np.maximum(pred, 1e-300)) - log_meas
    report.update({
        "device": dev,
        "roofline_only": {k: roofline_report[k] for k in ERROR_KEYS},
        "residual_features": list(params.residual.features) if params.residual else [],
        "fitted": [names[i] for i in idx],
        "cost": float(sol.cost),
        "nfev": int(sol.nfev),
        "success": bool(sol.success),
        "message": str(sol.message),
        "sigma_log": float(np.std(res)),
        "time_weight": float(time_weight),
    })
    return FitResult(platform=fitted, params=params, report=MappingProxyType(report))


def _refine_jointly(platform: Platform, dev: str, params: LatencyParams, z0: np.ndarray,
                    params_of: Any, residuals_of: np.ndarray, ops: OpArrays, batch: np.ndarray,
                    mode: str | PowerMode | None, precision: str, alpha: float,
                    bounds: tuple[np.ndarray, np.ndarray], x_scale: np.ndarray, loss: str,
                    f_scale: float, sw: np.ndarray | float = 1.0) -> LatencyParams:
    """Refit the roofline's free parameters and the residual's coefficients together.

    Starts from the two-stage solution (roofline first, residual on top); the residual keeps
    its features and standardisation, its coefficients keep their ridge penalty. Returns the
    better of the start and the refinement.
    """
    res0 = params.residual
    assert res0 is not None
    col = device_index(dev)
    n, m = len(residuals_of), len(res0.coef)
    pen = math.sqrt(alpha * n)
    lo = np.concatenate([bounds[0], np.full(m, -np.inf)])
    hi = np.concatenate([bounds[1], np.full(m, np.inf)])
    k = len(z0)

    def build(x: np.ndarray) -> LatencyParams:
        res = dataclasses.replace(res0, coef=tuple(float(v) for v in x[k:]))
        return dataclasses.replace(params_of(x[:k]), residual=res)

    def fun(x: np.ndarray) -> np.ndarray:
        p = platform.with_latency(dev, build(x), origin="fitted")
        pred = predict_rows(p, ops, batch, col, mode, precision)
        return np.concatenate([sw * (np.log(np.maximum(pred, 1e-300)) - residuals_of), pen * x[k:]])

    x0 = np.concatenate([np.clip(z0, bounds[0], bounds[1]), np.array(res0.coef)])
    try:
        sol = least_squares(fun, x0, bounds=(lo, hi), loss=loss, f_scale=f_scale, method="trf",
                            x_scale=np.concatenate([x_scale, np.ones(m)]), xtol=1e-8, ftol=1e-8,
                            max_nfev=_JOINT_MAX_NFEV)
    except ValueError as exc:
        raise CalibrationError(f"calibration failed: {exc}") from None
    start_cost = 0.5 * float(np.sum(_rho(fun(x0), loss, f_scale)))
    return build(sol.x) if sol.cost <= start_cost else params


def _rho(r: np.ndarray, loss: str, f_scale: float) -> np.ndarray:
    """The robust loss ``least_squares`` minimises (``cost = ½ Σ rho``), for the start-vs-end check."""
    z = (r / f_scale) ** 2
    if loss == "linear":
        return r**2
    if loss == "soft_l1":
        return f_scale**2 * 2 * (np.sqrt(1 + z) - 1)
    if loss == "huber":
        return f_scale**2 * np.where(z <= 1, z, 2 * np.sqrt(z) - 1)
    if loss == "cauchy":
        return f_scale**2 * np.log1p(z)
    if loss == "arctan":
        return f_scale**2 * np.arctan(z)
    raise CalibrationError(f"unknown loss {loss!r}")


def fit_residual(platform: Platform, rows: Sequence[MeasuredOp], device: str = "cpu", *,
                 features: Sequence[str] = DEFAULT_FEATURES, alpha: float = DEFAULT_ALPHA,
                 mode: str | PowerMode | None = None, precision: str = "fp32", loss: str = "soft_l1",
                 f_scale: float = 0.1, clip: tuple[float, float] | None = None, time_weight: float = DEFAULT_TIME_WEIGHT) -> Residual:
    """Fit the shape-feature residual of ``device`` on top of ``platform``'s roofline (held fixed).

    Minimises ``Σ ρ(log(t_launch + exp(Φw)·t_roofline) − log(measured)) + alpha · n · |w|²`` over
    the coefficients ``w`` of the standardised features Φ (ridge, so the correction shrinks
    towards the roofline where the data says little). Features without support in ``rows`` (a
    kind that never occurs, a constant column) are left out. ``platform``'s own residual on that
    device, if any, is ignored.
    """
    if not (alpha >= 0 and math.isfinite(alpha)):
        raise CalibrationError(f"fit_residual: alpha must be finite and >= 0, got {alpha!r}")
    dev = device_name(device)
    col = device_index(dev)
    rows = list(rows)
    ops, batch, meas = rows_to_ops(rows, context=None)
    plain = platform.with_latency(dev, dataclasses.replace(platform.device(dev).latency, residual=None),
                                  origin="fitted")
    pred = predict(plain, ops, batch, mode=mode, precision=precision)
    launch = pred.launch[:, col] if pred.launch is not None else float(pred.t_launch[col])
    roof = np.maximum(pred.latency[:, col] - launch, 1e-12)  # an operator with no work and no launch: not log(0)
    par = wave_efficiency(plain, ops, 1.0, None)[:, col]  # features as predict evaluates them (batch 1, default mode)
    scale = bytes_scale(precision, ops.elem_bytes)
    try:
        for f in features:
            Residual(features=(f,), coef=(0.0,), center=(0.0,), scale=(1.0,))
    except ValueError as exc:
        raise CalibrationError(f"fit_residual: {exc}") from None
    raw = feature_columns(tuple(features), ops, 1.0, par, scale)
    keep, centers, scales = [], [], []
    for j, f in enumerate(features):
        on = raw[:, j] != 0 if f.startswith("kind.") else (
            ops.kind == KINDS.index(parse_kind(f.partition("@")[2])) if "@" in f else np.ones(len(ops), bool))
        if f.startswith("kind."):
            if on.any():
                keep.append(j), centers.append(0.0), scales.append(1.0)
            continue
        x = raw[on, j]
        if x.size >= 2 and np.std(x) > 1e-9 * max(1.0, abs(float(np.mean(x)))):
            keep.append(j), centers.append(float(np.mean(x))), scales.append(float(np.std(x)))
    if not keep:
        raise CalibrationError("fit_residual: no feature varies over the rows; nothing to fit")
    names = tuple(features[j] for j in keep)
    lo, hi = clip if clip is not None else Residual.__dataclass_fields__["clip"].default
    shell = Residual(features=names, coef=(0.0,) * len(names), center=centers, scale=scales, clip=(lo, hi))
    z = shell.standardise(raw[:, keep], ops.kind)
    y = np.log(meas)
    n = len(rows)
    pen = math.sqrt(alpha * n)
    wts = row_weights(meas, time_weight)
    sw = np.sqrt(wts)
    # start: ridge on the linearised target log((measured − launch) / roofline)
    y_lin = np.clip(np.log(np.maximum(meas - launch, 0.2 * meas) / roof), lo, hi)
    a = (z * wts[:, None]).T @ z + (alpha * n + 1e-9) * np.eye(len(names))
    w0 = np.linalg.solve(a, (z * wts[:, None]).T @ y_lin)

    def fun(w: np.ndarray) -> np.ndarray:
        r = np.clip(z @ w, lo, hi)
        return np.concatenate([sw * (np.log(launch + np.exp(r) * roof) - y), pen * w])

    def jac(w: np.ndarray) -> np.ndarray:
        r_raw = z @ w
        r = np.clip(r_raw, lo, hi)
        e = np.exp(r) * roof
        g = sw * (e / (launch + e)) * ((r_raw > lo) & (r_raw < hi))
        return np.vstack([z * g[:, None], pen * np.eye(len(names))])

    try:
        sol = least_squares(fun, w0, jac=jac, loss=loss, f_scale=f_scale, method="trf", xtol=1e-12, ftol=1e-12,
                            gtol=1e-12)
    except ValueError as exc:
        raise CalibrationError(f"fit_residual failed: {exc}") from None
    note = (f"ridge (alpha {alpha:g}) on log-latency over {n} {dev} rows, {loss} loss; "
            f"roofline held at its fitted values")
    return Residual(features=names, coef=tuple(float(v) for v in sol.x), center=centers, scale=scales,
                    clip=(lo, hi), note=note)


def sparse_sweep_ops(points: Sequence[SparsePoint]) -> OpArrays:
    """The linear layers of a dense-vs-CSR sweep as operators (one sample = all ``cols`` columns)."""
    out = np.array([p.out_features for p in points], dtype=float)
    inp = np.array([p.in_features for p in points], dtype=float)
    cols = np.array([p.cols for p in points], dtype=float)
    return OpArrays(kind=np.full(len(points), kind_code("linear"), dtype=np.int64), flops=2.0 * out * inp * cols,
                    macs=out * inp * cols, bytes_in=4.0 * inp * cols, bytes_out=4.0 * out * cols,
                    bytes_w=4.0 * out * inp, act_sparsity=np.zeros(len(points)),
                    w_sparsity=np.array([p.w_sparsity for p in points], dtype=float), units=out * cols)


def fit_sparse(platform: Platform, points: Sequence[SparsePoint], device: str = "cpu",
               mode: str | PowerMode | None = None, precision: str = "fp32") -> tuple[Platform, dict[str, Any]]:
    """Fit ``sparse_eta`` and ``csr_index_overhead`` of ``device`` to a dense-vs-CSR sweep.

    Least squares on ``log(predicted dense / predicted sparse) − log(measured speed-up)`` over
    the sweep's points, the dense model held as it is (fitted on the operator rows), so the twin
    picks the sparse kernel exactly where this device's measurements say it wins. Returns the
    platform and a report (n, fitted values, median |error| of the speed-up, measured and
    predicted break-even weight sparsity of each shape).
    """
    dev = device_name(device)
    col = device_index(dev)
    pts = list(points)
    if len(pts) < 2:
        raise CalibrationError(f"fit_sparse: need at least two sweep points, got {len(pts)}")
    lat = platform.device(dev).latency
    if "linear" not in {k.value for k in lat.sparse_kinds}:
        raise CalibrationError(f"fit_sparse: the {dev} of {platform.name!r} has no sparse linear kernel to fit")
    ops = sparse_sweep_ops(pts)
    log_meas = np.log([p.speedup for p in pts])

    def platform_of(z: np.ndarray) -> Platform:
        params = dataclasses.replace(lat, sparse_eta=float(np.exp(z[0])), csr_index_overhead=float(z[1]))
        return platform.with_latency(dev, params, origin="fitted",
                                     note=f"least_squares on {len(pts)} dense-vs-CSR sweep points")

    def speedup(p: Platform) -> np.ndarray:
        dense = predict(p, ops, 1, mode=mode, precision=precision, kernel="dense").latency[:, col]
        sparse = predict(p, ops, 1, mode=mode, precision=precision, kernel="sparse").latency[:, col]
        return dense / sparse

    z0 = np.array([math.log(min(max(lat.sparse_eta, 1e-3), 1.0)), min(lat.csr_index_overhead, 4.0)])
    try:
        sol = least_squares(lambda z: np.log(speedup(platform_of(z))) - log_meas, z0,
                            bounds=([math.log(1e-3), 0.0], [0.0, 4.0]), method="trf")
    except ValueError as exc:
        raise CalibrationError(f"fit_sparse failed: {exc}") from None
    fitted = platform_of(sol.x)
    pred = speedup(fitted)
    shapes: dict[tuple[int, int, int], list[int]] = {}
    for i, p in enumerate(pts):
        shapes.setdefault((p.out_features, p.in_features, p.cols), []).append(i)

    def break_even(values: np.ndarray, idx: list[int]) -> float | None:
        wins = [pts[i].w_sparsity for i in sorted(idx, key=lambda i: pts[i].w_sparsity) if values[i] >= 1.0]
        return min(wins) if wins else None

    report = {
        "n": len(pts), "sparse_eta": float(np.exp(sol.x[0])), "csr_index_overhead": float(sol.x[1]),
        "median_speedup_error": float(np.median(np.abs(pred / np.exp(log_meas) - 1.0))),
        "break_even": [{"shape": list(k), "measured": break_even(np.exp(log_meas), v),
                        "predicted": break_even(pred, v)} for k, v in shapes.items()],
    }
    return fitted, report


def fit(platform: Platform, tables: MeasurementTable | Iterable[MeasurementTable], device: str = "cpu",
        context: str = "graph", mode: str | PowerMode | None = None, precision: str = "fp32", *,
        fixed: Sequence[str] = (), loss: str = "soft_l1", f_scale: float = 0.1,
        max_nfev: int | None = None, residual: bool | Sequence[str] = True, alpha: float = DEFAULT_ALPHA,
        joint: bool = False, time_weight: float = DEFAULT_TIME_WEIGHT,
        anchor: bool | Mapping[str, OpArrays] = False) -> FitResult:
    """Fit ``device``'s latency parameters to the ``context`` rows of ``tables``, then the residual.

    The roofline's parameters are fitted first (any residual of ``platform`` is dropped); with
    ``residual`` (True: :data:`~sparoa_sim.hwmodels.residual.DEFAULT_FEATURES`, or a list of
    feature names) the shape-feature residual is fitted on top by :func:`fit_residual` (ridge
    strength ``alpha``); with ``joint`` both are then refined together (the residual's
    features and standardisation kept). The report's ``roofline_only`` holds the fit before the
    residual.

    Where the tables hold a dense-vs-CSR sweep of ``device`` (and it has a sparse linear
    kernel), the sparse kernel's figures are then fitted to it (:func:`fit_sparse`; report key
    ``sparse``); where they hold a dense-vs-activation-sparse sweep, the activation-sparse
    kernel's (``act_sparse.fit_act_sparse``, offered for :data:`ACT_OFFERED_KINDS`; report key
    ``act_sparse``).

    Args:
        platform: the starting profile (its other device and its specs are kept).
        tables: one measurement table or several; only those of ``device`` are used.
        device: ``"cpu"`` or ``"gpu"`` (a table's ``"cuda"``).
        context: ``"graph"`` (operators timed inside the running graph: what a pass costs) or
            ``"isolated"`` rows (warm caches, ~20 % under eager on a CPU).
        mode, precision: the power mode and precision the table was measured at.
        fixed: extra vector names (``LatencyParams.vector_names``) to hold at their start value.
        loss, f_scale: robust loss of ``least_squares`` and its scale (log-latency units).
        time_weight: exponent of the per-row weights (:func:`row_weights`): 0 = every operator
            alike; > 0 leans towards the long operators that dominate end-to-end latency.
        anchor: False (default): no end-to-end stage. True, or ``{workload: its operators as the
            engine sees them}``: then fit ``t_launch`` and one roofline factor to the tables'
            eager passes of ``device`` at batch 1 (:func:`~sparoa_sim.hwmodels.e2e_anchor.anchor_e2e`;
            a workload not in the mapping is summed from its in-graph rows). Report key
            ``e2e_anchor``; the row figures are then the anchored platform's, those of the rows'
            fit alone under ``before_anchor``.
    """
    rows = rows_for_device(tables, device, context)
    result = _fit_with_sparse(platform, rows, _sweep_points(tables, device), device, mode, precision, fixed=fixed,
                              loss=loss, f_scale=f_scale, max_nfev=max_nfev, residual=residual, alpha=alpha,
                              joint=joint, time_weight=time_weight, act_points=_act_points(tables, device))
    if anchor is False or anchor is None:
        return result
    return _anchored(result, tables, rows, device, mode, precision, {} if anchor is True else anchor)


def _anchored(result: FitResult, tables: MeasurementTable | Iterable[MeasurementTable], rows: Sequence[MeasuredOp],
              device: str, mode: str | PowerMode | None, precision: str, graphs: Mapping[str, OpArrays]
              ) -> FitResult:
    """The end-to-end anchor stage on top of a rows' fit (see :func:`fit`'s ``anchor``)."""
    dev = device_name(device)
    eager = {e.workload: e.time_s for t in as_tables(tables) if TABLE_DEVICE.get(t.device) == dev
             for e in t.end_to_end if e.batch == 1}
    ops: dict[str, OpArrays] = {}
    for w in eager:
        own = [r for r in rows if r.workload == w and r.batch == 1 and r.context == "graph"]
        if w in graphs:
            ops[w] = graphs[w]
        elif own:
            ops[w] = rows_to_ops(own)[0]
    eager = {w: v for w, v in eager.items() if w in ops}
    if not eager:
        raise CalibrationError(f"fit: anchor asked for, but the tables hold no batch-1 eager pass of the {dev} "
                               "with its operators")
    anc = anchor_e2e(result.platform, eager, ops, dev, mode, precision)
    all_ops, batch, meas = rows_to_ops(rows, context=None)
    pred = predict_rows(anc.platform, all_ops, batch, device_index(dev), mode, precision)
    report = dict(result.report, **report_from(rows, pred, meas), e2e_anchor=anc.report(),
                  before_anchor={k: result.report[k] for k in ERROR_KEYS},
                  sigma_log=float(np.std(np.log(np.maximum(pred, 1e-300)) - np.log(meas))))
    return FitResult(platform=anc.platform, params=anc.platform.device(dev).latency, report=MappingProxyType(report))


#: Kinds the fitted activation-sparse kernel is offered for: those the executor runs it for and
#: the IR names unambiguously (a "conv" may be k×k; ``real.run.cpu_kernels``).
ACT_OFFERED_KINDS: tuple[str, ...] = ("linear", "matmul")


def _act_points(tables: MeasurementTable | Iterable[MeasurementTable], device: str) -> list[ActSparsePoint]:
    dev = device_name(device)
    return [p for t in as_tables(tables) if TABLE_DEVICE.get(t.device) == dev for p in t.act_sweep
            if p.kind in ACT_OFFERED_KINDS]


def _sweep_points(tables: MeasurementTable | Iterable[MeasurementTable], device: str) -> list[SparsePoint]:
    dev = device_name(device)
    return [p for t in as_tables(tables) if TABLE_DEVICE.get(t.device) == dev for p in t.sparse_sweep]


#: The keywords :func:`fit` passes on to the fit of the rows (and :func:`cross_validate` accepts).
_FIT_KEYWORDS = ("fixed", "loss", "f_scale", "max_nfev", "residual", "alpha", "joint", "time_weight")


def _fit_with_sparse(platform: Platform, rows: Sequence[MeasuredOp], points: Sequence[SparsePoint], device: str,
                     mode: str | PowerMode | None, precision: str, act_points: Sequence[ActSparsePoint] = (),
                     **kw: Any) -> FitResult:
    """The rows' fit, then (where a dense-vs-CSR sweep and a sparse linear kernel exist) the sparse
    kernel's figures, then (where a dense-vs-activation-sparse sweep exists) the activation-sparse
    kernel's; the report's error figures are those of the platform returned."""
    result = _fit_rows(platform, rows, device, mode, precision, kw.get("fixed", ()), kw.get("loss", "soft_l1"),
                       kw.get("f_scale", 0.1), kw.get("max_nfev"), kw.get("residual", True),
                       kw.get("alpha", DEFAULT_ALPHA), kw.get("joint", False),
                       kw.get("time_weight", DEFAULT_TIME_WEIGHT))
    dev = device_name(device)
    plat, extra = result.platform, {}
    if len(points) >= 2 and "linear" in {k.value for k in result.params.sparse_kinds}:
        plat, extra["sparse"] = fit_sparse(plat, points, dev, mode, precision)
    if len(act_points) >= 3:
        plat, extra["act_sparse"] = fit_act_sparse(plat, act_points, dev, mode, kinds=ACT_OFFERED_KINDS)
    if not extra:
        return result
    ops, batch, meas = rows_to_ops(rows, context=None)
    pred = predict_rows(plat, ops, batch, device_index(dev), mode, precision)  # the kernel choice may have moved
    report = dict(result.report, **report_from(rows, pred, meas), **extra,
                  sigma_log=float(np.std(np.log(np.maximum(pred, 1e-300)) - np.log(meas))))
    return FitResult(platform=plat, params=plat.device(dev).latency, report=MappingProxyType(report))


def cross_validate(platform: Platform, tables: MeasurementTable | Iterable[MeasurementTable],
                   device: str = "cpu", folds: Sequence[Iterable[str]] | None = None,
                   context: str = "graph", mode: str | PowerMode | None = None,
                   precision: str = "fp32", **fit_kwargs: Any) -> dict[str, Any]:
    """Held-out fit quality by workload.

    Each fold holds out one workload (``folds=None``) or the given set of workloads; training
    rows whose :func:`shape_key` also occurs in the held-out rows are dropped, the parameters
    (and the residual and the sparse kernel, as :func:`fit` does; ``fit_kwargs`` are
    :func:`fit`'s keywords, any other is refused) are fitted on the rest (from ``platform``) and
    reported on the held-out rows. A fold lists in
    ``unseen_kinds`` the held-out kinds with no training row left (their efficiency and offset
    stay at ``platform``'s); ``overall`` counts them in.

    Returns ``{"folds": [{"held_out", "n_train", "n_dropped", "unseen_kinds", "report"} |
    {"held_out", "skipped"}], "overall": report pooled over every held-out row, "n_folds",
    "every_kind_trained": whether no fold had an unseen kind}``.
    """
    rows = rows_for_device(tables, device, context)
    check_rows(rows)
    unknown = sorted(set(fit_kwargs) - set(_FIT_KEYWORDS))
    if unknown:
        raise CalibrationError(f"cross_validate: unknown fit option(s) {unknown} (known: {', '.join(_FIT_KEYWORDS)})")
    points = _sweep_points(tables, device)  # the sweep's shapes are the profiler's own, in no workload
    act_points = _act_points(tables, device)
    workloads = sorted({r.workload for r in rows})
    if folds is None:
        fold_sets = [{w} for w in workloads]
    else:
        fold_sets = [{folds_w} if isinstance(folds_w, str) else set(folds_w) for folds_w in folds]
        for fs in fold_sets:
            unknown = fs - set(workloads)
            if unknown:
                raise CalibrationError(f"cross_validate: unknown workload(s) {sorted(unknown)} "
                                       f"(known: {', '.join(workloads)})")
    if len(workloads) < 2:
        raise CalibrationError(f"cross_validate needs rows of at least two workloads, got {workloads}")
    col = device_index(device_name(device))
    out_folds: list[dict[str, Any]] = []
    all_rows: list[MeasuredOp] = []
    all_pred: list[np.ndarray] = []
    for fs in fold_sets:
        held = [r for r in rows if r.workload in fs]
        held_shapes = {shape_key(r) for r in held}
        others = [r for r in rows if r.workload not in fs]
        train = [r for r in others if shape_key(r) not in held_shapes]
        entry: dict[str, Any] = {"held_out": sorted(fs)}
        if not held or not train:
            entry["skipped"] = "no held-out rows" if not held else "no training rows left"
            out_folds.append(entry)
            continue
        res = _fit_with_sparse(platform, train, points, device, mode, precision, act_points=act_points, **fit_kwargs)
        ops, batch, meas = rows_to_ops(held, context=None)
        pred = predict_rows(res.platform, ops, batch, col, mode, precision)
        unseen = sorted({parse_kind(r.kind).value for r in held} - {parse_kind(r.kind).value for r in train})
        entry.update({"n_train": len(train), "n_dropped": len(others) - len(train), "unseen_kinds": unseen,
                      "report": report_from(held, pred, meas)})
        out_folds.append(entry)
        all_rows.extend(held)
        all_pred.append(pred)
    if not all_rows:
        raise CalibrationError("cross_validate: every fold was skipped (no training rows left)")
    meas_all = np.array([r.time_s for r in all_rows])
    overall = report_from(all_rows, np.concatenate(all_pred), meas_all)
    return {"folds": out_folds, "overall": overall, "n_folds": sum("report" in f for f in out_folds),
            "every_kind_trained": not any(f.get("unseen_kinds") for f in out_folds)}
