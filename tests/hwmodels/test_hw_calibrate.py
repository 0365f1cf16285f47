"""Calibration: self-consistency on model-generated data, exact fit reports, held-out folds, bad input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from sparoa_sim.hwmodels import KINDS, CalibrationError, load_platform, predict
from sparoa_sim.hwmodels.calibrate import (
    FitResult,
    context_ratios,
    cross_validate,
    fit,
    fit_report,
    row_weights,
    rows_for_device,
    rows_to_ops,
    shape_key,
)
from sparoa_sim.hwmodels.measurements import MeasuredOp, table_from_dict

BASE = load_platform("jetson-orin-nano-8gb")
KIND_NAMES = [k.value for k in KINDS]
GRID_KINDS = ("conv", "linear", "dwconv", "add", "norm", "softmax")


def _row(i: int, kind: str, flops: float, nbytes: float, batch: int, workload: str = "w0",
         t: float = 1.0, t_a: float | None = None, t_b: float | None = None, context: str = "graph") -> dict:
    return dict(workload=workload, op=f"op{i}", op_index=i, kind=kind, batch=batch, context=context,
                macs=flops / 2, flops=flops, bytes_in=nbytes / 2, bytes_out=nbytes / 4, bytes_w=nbytes / 4,
                act_sparsity=0.0, w_sparsity=0.0, out_elems=nbytes / 16, time_s=t,
                time_s_a=t if t_a is None else t_a, time_s_b=t if t_b is None else t_b, reps=5)


def _doc(rows: list[dict], device: str = "cpu") -> dict:
    return dict(schema_version=1, kind="sparoa-measurements", device=device, host={"cpu_model": "test"},
                created="2024-01-01T00:00:00", rows=rows, end_to_end=[])


def _perturbed(device: str = "cpu"):
    lp = BASE.device(device).latency
    eta = list(lp.eta)
    for k, f in {"conv": 1.3, "linear": 0.7, "dwconv": 1.5, "add": 0.6, "norm": 1.4, "softmax": 0.8}.items():
        i = KIND_NAMES.index(k)
        eta[i] = min(eta[i] * f, 0.95)
    new = dataclasses.replace(lp, eta=tuple(eta), mem_bw=lp.mem_bw * 1.6, t_launch=lp.t_launch * 2.5 + 1e-6)
    return BASE.with_latency(device, new, origin="assumed")


def _grid_rows() -> list[dict]:
    """Designed grid: six kinds, flops 1e4..1e10, bytes 1e3..1e8, batch 1 and 4, three workloads."""
    rows, j = [], 0
    for k in GRID_KINDS:
        for fl in np.logspace(4, 10, 7):
            for nb in np.logspace(3, 8, 6):
                for b in (1, 4):
                    rows.append(_row(j, k, float(fl), float(nb), b, workload=f"w{(j // 2) % 3}"))
                    j += 1
    return rows


def _synthetic(truth, device: str = "cpu", table_device: str = "cpu") -> tuple[dict, np.ndarray]:
    rows = _grid_rows()
    ops, batch, _ = rows_to_ops(table_from_dict(_doc(rows, table_device)).rows)
    col = 0 if device == "cpu" else 1
    t = predict(truth, ops, batch).latency[:, col]
    for r, x in zip(rows, t):
        r["time_s"] = r["time_s_a"] = r["time_s_b"] = float(x)
    return _doc(rows, table_device), t


# ---------------------------------------------------------------------------------------------
# self-consistency


@pytest.mark.parametrize(("device", "table_device"), [("cpu", "cpu"), ("gpu", "cuda")])
def test_fit_on_model_data_reproduces_grid_within_2pct(device: str, table_device: str) -> None:
    truth = _perturbed(device)
    doc, t_true = _synthetic(truth, device, table_device)
    table = table_from_dict(doc)
    start_err = fit_report(BASE, table.rows, device)
    assert start_err["within_10pct"] < 0.9  # the start really is off
    res = fit(BASE, table, device=device)
    assert isinstance(res, FitResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.params = res.params  # type: ignore[misc]
    ops, batch, _ = rows_to_ops(table.rows)
    col = 0 if device == "cpu" else 1
    pred = predict(res.platform, ops, batch).latency[:, col]
    assert np.max(np.abs(pred / t_true - 1.0)) < 0.02
    assert res.report["within_10pct"] == 1.0 and res.report["n"] == len(table.rows)
    # fixed entries unchanged; fitted entries tagged "fitted"
    old = BASE.device(device).latency
    assert res.params.lanes == old.lanes
    assert res.params.sparse_eta == old.sparse_eta and res.params.noise_sigma == old.noise_sigma
    assert res.platform.device(device).latency == res.params
    assert res.platform.origin(f"{device}.latency.mem_bw").origin == "fitted"
    assert "lanes" not in res.report["fitted"]
    # a kind absent from the data keeps its efficiency
    assert res.params.eta_of("attention") == old.eta_of("attention")
    # the other device is untouched
    other = "gpu" if device == "cpu" else "cpu"
    assert res.platform.device(other).latency == BASE.device(other).latency


def test_fit_from_truth_stays_put() -> None:
    doc, _ = _synthetic(BASE)
    res = fit(BASE, [table_from_dict(doc)])
    assert res.report["mape"] < 1e-6


# ---------------------------------------------------------------------------------------------
# fit_report


def test_fit_report_exact_numbers() -> None:
    rows = [_row(0, "conv", 1e8, 1e6, 1), _row(1, "conv", 1e7, 1e5, 4),
            _row(2, "add", 1e5, 1e6, 1), _row(3, "linear", 1e9, 1e7, 1)]
    ops, batch, _ = rows_to_ops(table_from_dict(_doc(rows)).rows)
    pred = predict(BASE, ops, batch).latency[:, 0]
    errs = [0.05, -0.15, 0.0, 0.3]  # pred / measured - 1
    spreads = [0.0, 0.05, 0.2, 0.5]
    for r, p, e, s in zip(rows, pred, errs, spreads):
        m = float(p / (1 + e))
        r["time_s"], r["time_s_a"], r["time_s_b"] = m, m, m * (1 + s)
    rep = fit_report(BASE, table_from_dict(_doc(rows)).rows, "cpu")
    assert rep["n"] == 4
    assert rep["within_10pct"] == 0.5
    assert rep["within_20pct"] == 0.75
    assert rep["median_error"] == pytest.approx(0.10)
    assert rep["mape"] == pytest.approx(0.125)
    assert rep["repeatability_within_10pct"] == 0.5
    conv = rep["per_kind"]["conv"]
    assert conv["n"] == 2 and conv["within_10pct"] == 0.5 and conv["within_20pct"] == 1.0
    assert conv["median_error"] == pytest.approx(0.10) and conv["mape"] == pytest.approx(0.10)
    assert rep["per_kind"]["linear"]["within_20pct"] == 0.0
    assert rep["per_kind"]["add"]["mape"] == pytest.approx(0.0, abs=1e-12)
    assert set(rep["per_kind"]) == {"conv", "add", "linear"}


# ---------------------------------------------------------------------------------------------
# cross-validation


def test_cross_validate_holds_out_workloads_and_their_shapes() -> None:
    truth = _perturbed()
    doc, _ = _synthetic(truth)
    # add a workload "shared" whose single shape also occurs in w0: training must drop it
    shared = dict(doc["rows"][0], workload="shared", op="s0")
    doc["rows"].append(shared)
    table = table_from_dict(doc)
    cv = cross_validate(BASE, table)
    by = {tuple(f["held_out"]): f for f in cv["folds"]}
    assert set(by) == {("shared",), ("w0",), ("w1",), ("w2",)}
    assert by[("shared",)]["n_dropped"] == 2  # the shape at batch 1 and batch 4, both in w0
    assert by[("w0",)]["n_dropped"] == 1
    assert by[("w1",)]["n_dropped"] == 0
    assert cv["n_folds"] == 4
    assert cv["overall"]["n"] == len(table.rows)
    assert cv["overall"]["within_10pct"] == 1.0
    # explicit folds
    cv2 = cross_validate(BASE, table, folds=[["w0", "shared"], ["w1"]])
    assert [f["held_out"] for f in cv2["folds"]] == [["shared", "w0"], ["w1"]]
    with pytest.raises(CalibrationError, match="unknown workload"):
        cross_validate(BASE, table, folds=[["nope"]])


def test_shape_key_rounds() -> None:
    a = MeasuredOp(**_row(0, "conv", 1.0001e8, 1e6, 1))
    b = MeasuredOp(**_row(1, "conv", 1.0002e8, 1e6, 4, workload="x"))
    assert shape_key(a) == shape_key(b)


# ---------------------------------------------------------------------------------------------
# bad input


def test_context_ratios_pair_graph_and_isolated_rows() -> None:
    rows = []
    for i, (kind, iso, graph) in enumerate([("conv", 1e-3, 1.05e-3), ("conv", 2e-3, 3e-3), ("add", 1e-5, 4e-5),
                                            ("add", 2e-5, 6e-5), ("add", 3e-5, 3e-5)]):
        rows += [_row(i, kind, 1e6, 1e5, 1, t=iso, context="isolated"), _row(i, kind, 1e6, 1e5, 1, t=graph)]
    rows.append(_row(9, "norm", 1e6, 1e5, 1, t=1e-4))  # in the graph only: not paired
    rows.append(_row(0, "conv", 1e6, 1e5, 1, t=1e-4, workload="w1", context="isolated"))  # other workload
    out = context_ratios(table_from_dict(_doc(rows)))
    assert out["n"] == 5 and set(out["per_kind"]) == {"conv", "add"}
    assert out["per_kind"]["conv"]["median"] == pytest.approx(1.275)
    assert out["per_kind"]["add"] == pytest.approx({"n": 3, "median": 3.0, "q25": 2.0, "q75": 3.5,
                                                    "within_10pct": 1 / 3})
    assert out["median"] == pytest.approx(1.5) and out["within_10pct"] == pytest.approx(2 / 5)
    with pytest.raises(CalibrationError, match="both alone and in the graph"):
        context_ratios(table_from_dict(_doc([_row(0, "conv", 1e6, 1e5, 1, t=1e-3),
                                             _row(1, "conv", 1e6, 1e5, 1, t=1e-3, context="isolated")])))


def test_empty_table_is_refused() -> None:
    with pytest.raises(CalibrationError, match="no operator rows"):
        fit(BASE, table_from_dict(_doc([])))
    with pytest.raises(CalibrationError, match="no measurement tables"):
        fit(BASE, [])


def test_no_rows_for_device_or_context() -> None:
    table = table_from_dict(_doc([_row(0, "conv", 1e8, 1e6, 1, t=1e-3)], device="cuda"))
    with pytest.raises(CalibrationError, match="device 'cpu'"):
        fit(BASE, table, device="cpu")
    with pytest.raises(CalibrationError, match="'isolated'"):
        fit(BASE, table, device="gpu", context="isolated")
    with pytest.raises(CalibrationError, match="unknown context"):
        rows_for_device(table, "gpu", context="warm")
    with pytest.raises(CalibrationError, match="unknown device"):
        rows_for_device(table, "tpu")


@pytest.mark.parametrize("bad", [math.nan, 0.0, -1e-3, math.inf])
def test_bad_times_are_refused(bad: float) -> None:
    good = MeasuredOp(**_row(0, "conv", 1e8, 1e6, 1, t=1e-3))
    broken = dataclasses.replace(good, op="bad", time_s=bad)
    with pytest.raises(CalibrationError, match="'bad'.*time_s"):
        rows_to_ops([good, broken])
    with pytest.raises(CalibrationError, match="time_s"):
        fit_report(BASE, [broken], "cpu")


def test_table_with_nan_time_is_refused_on_load() -> None:
    doc = _doc([_row(0, "conv", 1e8, 1e6, 1, t=math.nan)])
    with pytest.raises(CalibrationError):
        table_from_dict(doc)


def test_row_weights_lean_towards_long_operators() -> None:
    t = np.array([1e-6, 1e-5, 1e-4, 1e-3])
    assert np.array_equal(row_weights(t, 0.0), np.ones(4))
    w = row_weights(t, 0.5)
    assert w.mean() == pytest.approx(1.0) and np.all(np.diff(w) > 0)
    assert w[3] / w[0] == pytest.approx(1000.0**0.5)
    for bad in (-0.1, 2.5, math.nan):
        with pytest.raises(CalibrationError, match="time_weight"):
            row_weights(t, bad)


def test_time_weighted_fit_gets_the_summed_latency_closer() -> None:
    """Where the roofline cannot fit every operator, weighting by time trades per-operator error
    for the sum (end-to-end latency) — measured on the shipped host fixture."""
    from pathlib import Path

    from sparoa_sim.hwmodels.measurements import load_table

    fixtures = Path(__file__).parents[1] / "fixtures"
    table = load_table(fixtures / "host_table.json")
    plat = load_platform(fixtures / "host.toml")
    ops, batch, meas = rows_to_ops(rows_for_device(table, "cpu", "graph"), context=None)

    def sum_error(tw: float) -> float:
        f = fit(plat, table, time_weight=tw)
        assert f.report["time_weight"] == tw
        return abs(float(predict(f.platform, ops, batch).latency[:, 0].sum()) / float(meas.sum()) - 1.0)

    assert sum_error(0.5) < sum_error(0.0)
    with pytest.raises(CalibrationError, match="time_weight"):
        fit(plat, table, time_weight=3.0)


def _sweep_from_model(platform, shapes, sparsities):
    """Sweep points whose speed-ups are the model's own (so a fit must reproduce them)."""
    from sparoa_sim.hwmodels.calibrate import sparse_sweep_ops
    from sparoa_sim.hwmodels.measurements import SparsePoint

    def point(o, i, c, s, d_s=1.0, sp_s=1.0):
        return SparsePoint(out_features=o, in_features=i, cols=c, sparsity=s, w_sparsity=s, nnz=int(o * i * (1 - s)),
                           dense_s=d_s, dense_s_a=d_s, dense_s_b=d_s, sparse_s=sp_s, sparse_s_a=sp_s,
                           sparse_s_b=sp_s, speedup=d_s / sp_s, reps=4)

    pts = [point(o, i, c, s) for o, i, c in shapes for s in sparsities]
    ops = sparse_sweep_ops(pts)
    dense = predict(platform, ops, 1, kernel="dense").latency[:, 0]
    sparse = predict(platform, ops, 1, kernel="sparse").latency[:, 0]
    return [point(p.out_features, p.in_features, p.cols, p.sparsity, float(d), float(s))
            for p, d, s in zip(pts, dense, sparse)]


def test_predict_can_force_either_kernel() -> None:
    from sparoa_sim.hwmodels.calibrate import sparse_sweep_ops

    pts = _sweep_from_model(BASE, [(512, 512, 8)], [0.0, 0.99])
    ops = sparse_sweep_ops(pts)
    auto = predict(BASE, ops, 1)
    dense = predict(BASE, ops, 1, kernel="dense")
    sparse = predict(BASE, ops, 1, kernel="sparse")
    assert not dense.sparse.any() and sparse.sparse[:, 0].all()
    assert np.allclose(auto.latency, np.minimum(dense.latency, sparse.latency))
    with pytest.raises(ValueError, match="kernel"):
        predict(BASE, ops, 1, kernel="csr")


def test_fit_sparse_recovers_the_models_own_speedups() -> None:
    from sparoa_sim.hwmodels.calibrate import fit_sparse

    truth_lat = dataclasses.replace(BASE.cpu.latency, sparse_eta=0.12, csr_index_overhead=1.5)
    truth = BASE.with_latency("cpu", truth_lat)
    pts = _sweep_from_model(truth, [(1000, 2048, 1), (768, 768, 197)], [0.0, 0.5, 0.8, 0.9, 0.95])
    fitted, report = fit_sparse(BASE, pts, "cpu")
    assert report["n"] == len(pts) and report["median_speedup_error"] < 0.01
    assert all(b["measured"] == b["predicted"] for b in report["break_even"])
    assert fitted.cpu.latency.sparse_eta == pytest.approx(report["sparse_eta"])
    with pytest.raises(CalibrationError, match="two sweep points"):
        fit_sparse(BASE, pts[:1], "cpu")
    no_kernel = BASE.with_latency("cpu", dataclasses.replace(BASE.cpu.latency, sparse_kinds=()))
    with pytest.raises(CalibrationError, match="no sparse linear kernel"):
        fit_sparse(no_kernel, pts, "cpu")


def test_fit_report_describes_the_platform_it_returns_after_the_sparse_stage() -> None:
    """The sparse kernel is fitted after the rows; the report's figures are recomputed on the
    returned platform (a sparse linear row may change kernel), and the folds of cross_validate
    run the same stages."""
    truth = BASE.with_latency("cpu", dataclasses.replace(BASE.cpu.latency, sparse_eta=0.5, csr_index_overhead=1.0))
    pts = _sweep_from_model(truth, [(1000, 2048, 1), (768, 768, 197)], [0.0, 0.5, 0.8, 0.9, 0.95])
    rows = [_row(i, k, f, b, 1, workload=f"w{i % 3}", t=t) for i, (k, f, b, t) in enumerate(
        [("conv", 2e8, 4e6, 4e-3), ("conv", 5e7, 2e6, 1.2e-3), ("linear", 4e6, 8e6, 4e-4), ("add", 1e5, 1.2e6, 6e-5),
         ("norm", 4e5, 1e6, 8e-5), ("linear", 3e7, 5e6, 9e-4), ("conv", 1e8, 1e6, 2e-3), ("add", 5e4, 6e5, 3e-5),
         ("linear", 8e6, 1.6e7, 7e-4)])]
    for r in rows:
        if r["kind"] == "linear":
            r["w_sparsity"] = 0.95
    doc = _doc(rows)
    doc["sparse_sweep"] = [dataclasses.asdict(p) for p in pts]
    table = table_from_dict(doc)
    res = fit(BASE, table, residual=False)
    assert "sparse" in res.report
    again = fit_report(res.platform, rows_for_device(table))
    for key in ("within_10pct", "median_error", "mape"):
        assert res.report[key] == pytest.approx(again[key])
    cv = cross_validate(BASE, table, residual=False)
    assert cv["n_folds"] == 3
    with pytest.raises(CalibrationError, match="unknown fit option.*time_weigth"):
        cross_validate(BASE, table, time_weigth=0.0)


def test_other_devices_tables_do_not_hold_up_a_fit() -> None:
    from sparoa_sim.hwmodels.host import achieved_flops_per_core

    cpu = table_from_dict(_doc([_row(0, "conv", 1e8, 1e6, 1, t=1e-3), _row(1, "linear", 1e6, 1e6, 1, t=1e-4)]))
    empty_gpu = table_from_dict(_doc([], device="cuda"))
    assert len(rows_for_device([cpu, empty_gpu], "cpu")) == 2  # an empty CUDA table is not the CPU's problem
    with pytest.raises(CalibrationError, match="no operator rows"):
        rows_for_device([cpu, empty_gpu], "gpu")
    fast_gpu = table_from_dict(_doc([_row(0, "conv", 1e8, 1e6, 1, t=1e-6)], device="cuda"))
    assert achieved_flops_per_core([cpu, fast_gpu]) == pytest.approx(achieved_flops_per_core([cpu]))
