"""The measurement rows a calibration reads, and how well a platform predicts them.

Rows: a measurement table's operator rows for one device and context, checked and turned into
the model's feature arrays (:func:`rows_for_device`, :func:`rows_to_ops`), with the in-graph /
isolated gap (:func:`context_ratios`) and the shape identity held-out folds group by
(:func:`shape_key`). Report: the fit-quality figures docs/architecture.md §9 asks for
(``within_10pct``, ``within_20pct``, ``median_error``, ``mape``), overall and per kind, beside
the measurement's own repeatability (:func:`report_from`, :func:`fit_report`). The fit itself
is :mod:`sparoa_sim.hwmodels.calibrate`; the sim-to-real validation reports with the same keys.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from sparoa_sim.hwmodels.errors import CalibrationError
from sparoa_sim.hwmodels.kinds import KINDS, kind_code, parse_kind
from sparoa_sim.hwmodels.latency import predict
from sparoa_sim.hwmodels.measurements import CONTEXTS, MeasuredOp, MeasurementTable
from sparoa_sim.hwmodels.ops import OpArrays
from sparoa_sim.hwmodels.platform import DEVICE_KINDS, Platform, PowerMode, device_index

__all__ = [
    "ERROR_KEYS",
    "TABLE_DEVICE",
    "as_tables",
    "check_rows",
    "context_ratios",
    "device_name",
    "error_summary",
    "fit_report",
    "predict_rows",
    "report_from",
    "rows_for_device",
    "rows_to_ops",
    "shape_key",
]

#: Table device name -> platform device kind.
TABLE_DEVICE = {"cpu": "cpu", "cuda": "gpu", "gpu": "gpu"}
#: The error figures of a report, as fractions of ``|pred − measured| / measured``.
ERROR_KEYS = ("within_10pct", "within_20pct", "median_error", "mape")


def device_name(device: str | int) -> str:
    """The platform device kind (``cpu``/``gpu``) of a device name or index; table names (``cuda``) too."""
    try:
        return DEVICE_KINDS[device_index(device)]
    except Exception:  # noqa: BLE001 - ProfileError -> CalibrationError naming the device
        if isinstance(device, str) and device.lower() in TABLE_DEVICE:
            return TABLE_DEVICE[device.lower()]
        raise CalibrationError(f"unknown device {device!r} (known: cpu, gpu/cuda)") from None


def as_tables(tables: MeasurementTable | Iterable[MeasurementTable]) -> list[MeasurementTable]:
    """One table or several as a non-empty list of tables (a :class:`CalibrationError` otherwise)."""
    if isinstance(tables, MeasurementTable):
        return [tables]
    out = list(tables)
    if not out:
        raise CalibrationError("no measurement tables given")
    for t in out:
        if not isinstance(t, MeasurementTable):
            raise CalibrationError(f"expected MeasurementTable, got {type(t).__name__}")
    return out


def rows_for_device(tables: MeasurementTable | Iterable[MeasurementTable], device: str = "cpu",
                    context: str = "graph") -> list[MeasuredOp]:
    """The operator rows of ``device`` measured in ``context``, over all ``tables``.

    Raises :class:`CalibrationError` when a table is empty or no row matches.
    """
    if context not in CONTEXTS:
        raise CalibrationError(f"unknown context {context!r} (known: {', '.join(CONTEXTS)})")
    dev = device_name(device)
    tabs = as_tables(tables)
    rows: list[MeasuredOp] = []
    for t in tabs:
        if TABLE_DEVICE.get(t.device) != dev:
            continue  # another device's table (even an empty one) does not hold this fit up
        if not t.rows:
            raise CalibrationError(f"{t.source}: measurement table has no operator rows")
        rows.extend(r for r in t.rows if r.context == context)
    if not rows:
        sources = ", ".join(f"{t.source} ({t.device})" for t in tabs)
        raise CalibrationError(f"no {context!r} rows for device {dev!r} in: {sources}")
    return rows


def context_ratios(tables: MeasurementTable | Iterable[MeasurementTable], device: str = "cpu") -> dict[str, Any]:
    """How much slower each operator runs inside the graph than timed alone: ``graph / isolated``
    per operator (rows paired by workload, batch and operator), summarised overall and per kind.

    The gap is the graph's context, which an operator's own shape does not show: inputs evicted
    from the caches by the operators in between, the views and constants it owns in the graph,
    the interpreter's cold start after a large operator. Returns ``{"n", "median", "q25", "q75",
    "within_10pct", "per_kind": {kind: same keys}}``; ``within_10pct`` is the share of operators
    whose in-graph time is within ±10 % of their isolated time.
    """
    graph = {(r.workload, r.batch, r.op_index): r for r in rows_for_device(tables, device, "graph")}
    iso = rows_for_device(tables, device, "isolated")
    pairs = [(r.kind, graph[k].time_s / r.time_s) for r in iso if (k := (r.workload, r.batch, r.op_index)) in graph]
    if not pairs:
        raise CalibrationError("context_ratios: no operator was timed both alone and in the graph")
    kinds = np.array([str(parse_kind(k).value) for k, _ in pairs])
    ratio = np.array([v for _, v in pairs])

    def summary(x: np.ndarray) -> dict[str, Any]:
        q25, med, q75 = np.percentile(x, [25, 50, 75])
        return {"n": int(x.size), "median": float(med), "q25": float(q25), "q75": float(q75),
                "within_10pct": float(np.mean(np.abs(x - 1.0) <= 0.10))}

    return {**summary(ratio), "per_kind": {k.value: summary(ratio[kinds == k.value]) for k in KINDS
                                           if (kinds == k.value).any()}}


def check_rows(rows: Sequence[MeasuredOp]) -> None:
    """Refuse rows with a bad time, a negative feature, a sparsity outside [0, 1] or an unknown kind."""
    if not rows:
        raise CalibrationError("no measurement rows to calibrate on")
    for i, r in enumerate(rows):
        for key in ("time_s", "time_s_a", "time_s_b"):
            v = getattr(r, key)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise CalibrationError(
                    f"row {i} (workload {r.workload!r}, op {r.op!r}): {key} must be a positive finite "
                    f"time, got {v!r}")
        for key in ("flops", "macs", "bytes_in", "bytes_out", "bytes_w", "out_elems"):
            v = getattr(r, key)
            if not (math.isfinite(v) and v >= 0):
                raise CalibrationError(f"row {i} (op {r.op!r}): {key} must be finite and >= 0, got {v!r}")
        for key in ("act_sparsity", "w_sparsity"):
            v = getattr(r, key)
            if not (math.isfinite(v) and 0 <= v <= 1):
                raise CalibrationError(f"row {i} (op {r.op!r}): {key} must lie in [0, 1], got {v!r}")
        if not (r.batch >= 1):
            raise CalibrationError(f"row {i} (op {r.op!r}): batch must be >= 1, got {r.batch!r}")
        try:
            parse_kind(r.kind)
        except ValueError as exc:
            raise CalibrationError(f"row {i} (op {r.op!r}): {exc}") from None


def rows_to_ops(rows: Sequence[MeasuredOp], context: str | None = "graph"
                ) -> tuple[OpArrays, np.ndarray, np.ndarray]:
    """``(ops, batch, time_s)`` of the rows in ``context`` (None: every row).

    Features are per sample (``units`` = ``out_elems``); ``batch`` and ``time_s`` are (n,) float
    arrays. Raises :class:`CalibrationError` on no rows or a bad time / feature.
    """
    rows = [r for r in rows if context is None or r.context == context]
    if not rows:
        raise CalibrationError(f"no measurement rows in context {context!r}")
    check_rows(rows)

    def col(name: str) -> np.ndarray:
        return np.array([float(getattr(r, name)) for r in rows], dtype=float)

    ops = OpArrays(
        kind=np.array([kind_code(r.kind) for r in rows], dtype=np.int64),
        flops=col("flops"), macs=col("macs"), bytes_in=col("bytes_in"), bytes_out=col("bytes_out"),
        bytes_w=col("bytes_w"), act_sparsity=col("act_sparsity"), w_sparsity=col("w_sparsity"),
        units=col("out_elems"),
    )
    return ops, col("batch"), col("time_s")


def shape_key(r: MeasuredOp, digits: int = 3) -> tuple[str, float, float]:
    """Operator shape identity for held-out folds: kind, flops and total bytes to ``digits``
    significant figures."""

    def rnd(x: float) -> float:
        return float(f"{x:.{digits}g}")

    return (str(parse_kind(r.kind).value), rnd(r.flops), rnd(r.bytes_in + r.bytes_out + r.bytes_w))


def error_summary(rel: np.ndarray) -> dict[str, float]:
    """The :data:`ERROR_KEYS` figures of relative errors ``rel``."""
    return {
        "within_10pct": float(np.mean(rel <= 0.10)),
        "within_20pct": float(np.mean(rel <= 0.20)),
        "median_error": float(np.median(rel)),
        "mape": float(np.mean(rel)),
    }


def report_from(rows: Sequence[MeasuredOp], pred: np.ndarray, meas: np.ndarray) -> dict[str, Any]:
    """The fit report of predictions ``pred`` against measurements ``meas`` of ``rows`` (as :func:`fit_report`)."""
    rel = np.abs(pred - meas) / meas
    out: dict[str, Any] = {"n": int(rel.size), **error_summary(rel)}
    spread = np.array([abs(r.time_s_a - r.time_s_b) / r.time_s for r in rows])
    out["repeatability_within_10pct"] = float(np.mean(spread <= 0.10))
    kinds = np.array([str(parse_kind(r.kind).value) for r in rows])
    per_kind: dict[str, dict[str, Any]] = {}
    for k in KINDS:
        m = kinds == k.value
        if m.any():
            per_kind[k.value] = {"n": int(m.sum()), **error_summary(rel[m]),
                                 "repeatability_within_10pct": float(np.mean(spread[m] <= 0.10))}
    out["per_kind"] = per_kind
    return out


def predict_rows(platform: Platform, ops: OpArrays, batch: np.ndarray, col: int,
                 mode: str | PowerMode | None, precision: str) -> np.ndarray:
    """Predicted latency of each row on device column ``col``."""
    return predict(platform, ops, batch, mode=mode, precision=precision).latency[:, col]


def fit_report(platform: Platform, rows: Sequence[MeasuredOp], device: str = "cpu",
               mode: str | PowerMode | None = None, precision: str = "fp32") -> dict[str, Any]:
    """How well ``platform`` predicts ``rows`` (every context given) on ``device``.

    Keys: ``n``, ``within_10pct``, ``within_20pct``, ``median_error``, ``mape`` (fractions of
    ``|pred − measured| / measured``), ``repeatability_within_10pct`` (share of rows whose two
    independent medians agree within 10 %) and ``per_kind`` {kind: same keys}.
    """
    rows = list(rows)
    ops, batch, meas = rows_to_ops(rows, context=None)
    pred = predict_rows(platform, ops, batch, device_index(device_name(device)), mode, precision)
    return report_from(rows, pred, meas)
