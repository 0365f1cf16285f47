"""The activation-sparse kernel in the twin: exact latency, the one kernel rule, profile I/O, the fit."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.hwmodels import OpArrays, kind_code, load_platform, predict, retime
from sparoa_sim.hwmodels.act_sparse import (
    ActSparsePoint, act_sweep_ops, fit_act_sparse, load_act_sweep, predicted_speedup, save_act_sweep)
from sparoa_sim.hwmodels.errors import CalibrationError, ProfileError
from sparoa_sim.hwmodels.latency import KERNELS, choose_kernel
from sparoa_sim.hwmodels.profile_io import parse_platform, platform_to_toml

AGX = load_platform("jetson-agx-orin-64gb")


def with_act(platform=AGX, kinds=("linear", "matmul"), eta=0.05, gather=20.0, launch=3e-5, g_a=1.0):
    lat = dataclasses.replace(platform.cpu.latency, act_kinds=kinds, act_eta=eta, act_gather=gather,
                              act_launch=launch, g_a=g_a)
    return platform.with_latency("cpu", lat, origin="assumed", note="test")


def linear_ops(act: float | list[float], rows: float = 1.0, inner: float = 4096, outer: float = 4096) -> OpArrays:
    a = np.atleast_1d(np.asarray(act, dtype=float))
    n = len(a)
    return OpArrays.build([kind_code("linear")] * n, [2 * rows * inner * outer] * n, bytes_in=[4 * rows * inner] * n,
                          bytes_out=[4 * rows * outer] * n, bytes_w=[4 * inner * outer] * n, act_sparsity=a,
                          units=[rows * outer] * n)


def test_off_by_default_in_every_shipped_profile():
    for name in ("jetson-agx-orin-64gb", "jetson-orin-nano-8gb"):
        p = load_platform(name)
        assert p.cpu.latency.act_kinds == () and p.gpu.latency.act_kinds == ()
        pred = predict(p, linear_ops([0.0, 0.99]))
        assert not pred.act_sparse.any()
        np.testing.assert_array_equal(pred.kernels_chosen, pred.sparse.astype(np.int8))


def test_act_kernel_latency_matches_hand_formula():
    """t = launch + act_launch + max((work_a/eta + gather·in_elems) / P_plain, bytes_a / B) on the CPU."""
    p = with_act()
    ops = linear_ops(0.9)
    pred = predict(p, ops, kernel="act_sparse", mode="MAXN")
    m = p.mode("MAXN")
    lat = p.cpu.latency
    peak = p.peak_flops("cpu", m, "fp32")
    work = 2 * 4096 * 4096 * (1 - 0.9)
    tc = (work / 0.05 + 20.0 * 4096) / peak
    tm = (4 * 4096 * 2 + 4 * 4096 * 4096 * (1 - 0.9)) / p.mem_bw("cpu", m)
    ovh = p.overhead_scale(m)
    expected = lat.t_launch * ovh + 3e-5 * ovh + max(tc, tm)
    assert pred.act_sparse[0, 0] and not pred.sparse[0, 0]
    assert math.isclose(pred.cpu[0], expected, rel_tol=1e-12)
    assert math.isclose(pred.work[0, 0], work, rel_tol=1e-12)
    # the GPU has no activation-sparse kernel: it stays dense
    assert pred.kernels_chosen[0, 1] == 0


def test_auto_picks_the_fastest_kernel_and_retime_is_exact():
    p = with_act()
    ops = linear_ops([0.0, 0.5, 0.95, 0.999])
    auto = predict(p, ops)
    dense = predict(p, ops, kernel="dense").cpu
    act = predict(p, ops, kernel="act_sparse").cpu
    np.testing.assert_allclose(auto.cpu, np.minimum(dense, act), rtol=1e-12)
    assert list(auto.act_sparse[:, 0]) == list(act < dense)
    assert auto.act_sparse[-1, 0] and not auto.act_sparse[0, 0]
    np.testing.assert_allclose(retime(auto), auto.latency, rtol=1e-12)
    slower = retime(auto, load=(0.5, 0.0))
    assert np.all(slower[:, 0] >= auto.cpu) and slower[1, 0] > auto.cpu[1]  # the act kernel's compute slows


@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=6))
def test_act_latency_never_grows_with_sparsity(acts):
    p = with_act()
    s = np.sort(np.array(acts))
    t = predict(p, linear_ops(list(s), rows=197, inner=768, outer=3072), kernel="act_sparse").cpu
    assert np.all(np.diff(t) <= 1e-15 + 1e-12 * t[1:])


@given(st.lists(st.tuples(st.floats(0.0, 10.0), st.floats(0.0, 10.0), st.floats(0.0, 10.0),
                          st.booleans(), st.booleans()), min_size=1, max_size=20))
def test_choose_kernel_is_the_argmin_with_ties_to_the_earlier(rows):
    t = [np.array([r[i] for r in rows]) for i in range(3)]
    ok = [np.ones(len(rows), bool), np.array([r[3] for r in rows]), np.array([r[4] for r in rows])]
    got = choose_kernel(t, ok)
    for j, r in enumerate(rows):
        cands = [(r[i], i) for i in range(3) if ok[i][j]]
        assert got[j] == min(cands)[1]


def test_choose_kernel_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match="one availability per kernel"):
        choose_kernel([np.zeros(2)], [])


def test_csr_kernel_keeps_g_a_only_without_an_act_kernel():
    """Old profiles with g_a > 0 keep their CSR prediction; with an act kernel, g_a is the act kernel's."""
    ops = linear_ops(0.5)
    ops = dataclasses.replace(ops, w_sparsity=np.array([0.9]))
    legacy = AGX.with_latency("cpu", dataclasses.replace(AGX.cpu.latency, g_a=0.5))
    w_legacy = predict(legacy, ops, kernel="sparse").work[0, 0]
    assert math.isclose(w_legacy, 2 * 4096 * 4096 * 0.1 * 0.75, rel_tol=1e-12)
    w_new = predict(with_act(g_a=0.5), ops, kernel="sparse").work[0, 0]
    assert math.isclose(w_new, 2 * 4096 * 4096 * 0.1, rel_tol=1e-12)


def test_kernel_option_is_checked():
    with pytest.raises(ValueError, match="kernel must be one of"):
        predict(AGX, linear_ops(0.1), kernel="magic")
    assert KERNELS == ("dense", "csr", "act_sparse")


def test_profile_round_trip_and_errors():
    p = with_act()
    text = platform_to_toml(p)
    assert "act_kinds" in text and "act_eta" in text
    back = parse_platform(text, "<test>")
    assert back.cpu.latency == p.cpu.latency
    assert "act_kinds = " not in platform_to_toml(AGX)  # written only where a device has the kernel
    bad = text.replace("act_eta = { value = 0.05", "act_eta = { value = 1.5")
    with pytest.raises(ProfileError, match="act_eta"):
        parse_platform(bad, "<test>")
    orphan = platform_to_toml(AGX).replace("[cpu.latency]\n", "[cpu.latency]\nact_eta = 0.1\n", 1)
    with pytest.raises(ProfileError, match="act_kinds"):
        parse_platform(orphan, "<test>")
    with pytest.raises(ValueError, match="act_gather"):
        dataclasses.replace(AGX.cpu.latency, act_gather=-1.0)


def _synthetic(platform, shapes, sparsities):
    """Points whose speed-ups are the model's own (noise-free): the fit must recover the parameters."""
    pts = []
    for kind, g, r, k, n in shapes:
        for s in sparsities:
            pts.append(ActSparsePoint(kind=kind, groups=g, rows=r, inner=k, outer=n, sparsity=s, act_sparsity=s,
                                      dense_s=1.0, dense_s_a=1.0, dense_s_b=1.0, sparse_s=1.0, sparse_s_a=1.0,
                                      sparse_s_b=1.0, speedup=1.0, reps=4))
    sp = predicted_speedup(platform, pts)
    return [dataclasses.replace(p, speedup=float(v), sparse_s=float(1.0 / v), sparse_s_a=float(1.0 / v),
                                sparse_s_b=float(1.0 / v)) for p, v in zip(pts, sp)]


def test_fit_recovers_known_parameters():
    truth = with_act(eta=0.04, gather=50.0, launch=2e-5)
    shapes = [("linear", 1, 1, 512, 1000), ("linear", 1, 1, 4096, 4096), ("linear", 1, 197, 768, 3072),
              ("matmul", 12, 197, 64, 197)]
    pts = _synthetic(truth, shapes, (0.0, 0.5, 0.9, 0.99))
    fitted, rep = fit_act_sparse(with_act(eta=0.2, gather=1.0, launch=0.0), pts)
    lat = fitted.cpu.latency
    assert math.isclose(lat.act_eta, 0.04, rel_tol=1e-3)
    assert math.isclose(lat.act_gather, 50.0, rel_tol=1e-2)
    assert math.isclose(lat.act_launch, 2e-5, rel_tol=1e-2)
    assert rep["median_speedup_error"] < 1e-4 and rep["act_kinds"] == ["linear", "matmul"]
    assert dict(((k, o) for k, o, _ in fitted.provenance))["cpu.latency.act_eta"] == "fitted"


def test_fit_and_points_refuse_bad_input(tmp_path):
    with pytest.raises(CalibrationError, match="at least three"):
        fit_act_sparse(AGX, [])
    with pytest.raises(CalibrationError, match="rows must be an integer"):
        ActSparsePoint(kind="linear", groups=1, rows=0, inner=1, outer=1, sparsity=0.0, act_sparsity=0.0,
                       dense_s=1.0, dense_s_a=1.0, dense_s_b=1.0, sparse_s=1.0, sparse_s_a=1.0, sparse_s_b=1.0,
                       speedup=1.0, reps=1)
    with pytest.raises(CalibrationError, match="kind must be one of"):
        ActSparsePoint(kind="conv3x3", groups=1, rows=1, inner=1, outer=1, sparsity=0.0, act_sparsity=0.0,
                       dense_s=1.0, dense_s_a=1.0, dense_s_b=1.0, sparse_s=1.0, sparse_s_a=1.0, sparse_s_b=1.0,
                       speedup=1.0, reps=1)
    pts = _synthetic(with_act(), [("linear", 1, 1, 64, 64)], (0.0, 0.5, 0.9))
    with pytest.raises(CalibrationError, match="no activation-sparse kernel for linear"):
        predicted_speedup(AGX, pts)
    f = tmp_path / "sweep.json"
    save_act_sweep(pts, f, {"host": "test"})
    assert load_act_sweep(f) == tuple(pts)
    f.write_text('{"kind": "sparoa-act-sweep", "points": [{"kind": "linear"}]}')
    with pytest.raises(CalibrationError, match=r"points\[0\]"):
        load_act_sweep(f)


def test_sweep_ops_count_the_work():
    p = ActSparsePoint(kind="matmul", groups=12, rows=197, inner=64, outer=197, sparsity=0.5, act_sparsity=0.5,
                       dense_s=1.0, dense_s_a=1.0, dense_s_b=1.0, sparse_s=1.0, sparse_s_a=1.0, sparse_s_b=1.0,
                       speedup=1.0, reps=1)
    ops = act_sweep_ops([p])
    assert ops.flops[0] == 2 * 12 * 197 * 64 * 197 and ops.bytes_w[0] == 0.0
    assert ops.bytes_in[0] == 4 * 12 * (197 * 64 + 64 * 197)


def _table_doc(points):
    rows = [dict(workload="w0", op=f"op{i}", op_index=i, kind=k, batch=1, context="graph", macs=f / 2, flops=f,
                 bytes_in=b / 2, bytes_out=b / 4, bytes_w=b / 4, act_sparsity=0.5, w_sparsity=0.0, out_elems=b / 16,
                 time_s=t, time_s_a=t, time_s_b=t, reps=5)
            for i, (k, f, b, t) in enumerate([("conv", 2e8, 4e6, 4e-3), ("linear", 4e6, 8e6, 4e-4),
                                              ("add", 1e5, 1.2e6, 6e-5), ("linear", 3e7, 5e6, 9e-4)])]
    return dict(schema_version=1, kind="sparoa-measurements", device="cpu", host={"cpu_model": "test"},
                created="2024-01-01T00:00:00", rows=rows, end_to_end=[],
                act_sweep=[dataclasses.asdict(p) for p in points])


def test_measurement_table_carries_the_sweep_and_calibration_fits_it():
    from sparoa_sim.hwmodels.calibrate import fit
    from sparoa_sim.hwmodels.measurements import merge_tables, table_from_dict, table_to_dict

    truth = with_act(kinds=("linear", "matmul", "conv"), eta=0.04, gather=50.0, launch=2e-5)
    pts = _synthetic(truth, [("linear", 1, 1, 512, 1000), ("linear", 1, 197, 768, 3072),
                             ("conv1x1", 1, 784, 64, 128)], (0.0, 0.5, 0.9, 0.99))
    table = table_from_dict(_table_doc(pts))
    assert table.act_sweep == tuple(pts)
    assert table_from_dict(table_to_dict(table)) == table
    assert len(merge_tables([table, table]).act_sweep) == len(pts)
    res = fit(AGX, table, residual=False)
    lat = res.platform.cpu.latency
    assert [k.value for k in lat.act_kinds] == ["linear", "matmul"]
    assert res.report["act_sparse"]["n"] == 8  # the 1x1-conv points are measured, not offered
    plain = table_from_dict(dict(_table_doc(pts), act_sweep=[]))
    assert "act_sweep" not in table_to_dict(plain)  # tables without the sweep are written as before
    assert fit(AGX, plain, residual=False).platform.cpu.latency.act_kinds == ()


def test_a_bad_sweep_point_in_a_table_names_entry_and_field():
    from sparoa_sim.hwmodels.measurements import table_from_dict

    pts = _synthetic(with_act(), [("linear", 1, 1, 64, 64)], (0.0, 0.5, 0.9))
    doc = _table_doc(pts)
    doc["act_sweep"][1]["speedup"] = -1.0
    with pytest.raises(CalibrationError, match=r"act_sweep\[1\].*speedup"):
        table_from_dict(doc)
    doc = _table_doc(pts)
    del doc["act_sweep"][2]["rows"]
    with pytest.raises(CalibrationError, match=r"act_sweep\[2\].*'rows'"):
        table_from_dict(doc)
