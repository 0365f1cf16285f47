"""benchmarks/sparsity.py on a saved sweep: held-out split, the summary, the JSON record."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from sparoa_sim.hwmodels import load_platform, predict
from sparoa_sim.hwmodels.act_sparse import act_sweep_ops, save_act_sweep
from sparoa_sim.hwmodels.host import detect_host_cpu, host_platform
from sparoa_sim.hwmodels.measurements import ActSparsePoint
from bench_scripts import benchmark_script



@pytest.fixture(scope="module")
def bench():
    with benchmark_script("sparsity", "sparsity_bench") as mod:
        yield mod


def _model_sweep(path: Path) -> list[ActSparsePoint]:
    """A sweep whose times are the twin's own (a host platform with a known kernel): every held-out
    point must then be predicted within the target."""
    base = host_platform(detect_host_cpu(), load_platform("jetson-agx-orin-64gb"), 1e10, threads=1)
    lat = dataclasses.replace(base.cpu.latency, act_kinds=("linear", "matmul", "conv"), act_eta=0.03,
                              act_gather=200.0, act_launch=5e-5, g_a=1.0)
    truth = base.with_latency("cpu", lat)
    shapes = [("linear", 1, 1, 512, 1000), ("linear", 1, 1, 576, 1024), ("linear", 1, 197, 768, 3072),
              ("linear", 1, 197, 3072, 768), ("matmul", 12, 197, 64, 197), ("matmul", 12, 197, 197, 64),
              ("conv1x1", 1, 784, 64, 128)]
    pts = []
    for kind, g, r, k, n in shapes:
        for s in (0.0, 0.3, 0.5, 0.7, 0.9, 0.97, 0.99):
            pts.append(ActSparsePoint(kind=kind, groups=g, rows=r, inner=k, outer=n, sparsity=s, act_sparsity=s,
                                      dense_s=1.0, dense_s_a=1.0, dense_s_b=1.0, sparse_s=1.0, sparse_s_a=1.0,
                                      sparse_s_b=1.0, speedup=1.0, reps=4))
    ops = act_sweep_ops(pts)
    d = predict(truth, ops, kernel="dense").cpu
    a = predict(truth, ops, kernel="act_sparse").cpu
    pts = [dataclasses.replace(p, dense_s=float(x), dense_s_a=float(x), dense_s_b=float(x), sparse_s=float(y),
                               sparse_s_a=float(y), sparse_s_b=float(y), speedup=float(x / y))
           for p, x, y in zip(pts, d, a)]
    save_act_sweep(pts, path)
    return pts


def test_saved_sweep_gives_the_table_and_record(bench, tmp_path: Path, capsys) -> None:
    sweep, out = tmp_path / "sweep.json", tmp_path / "sparsity.json"
    pts = _model_sweep(sweep)
    assert bench.main(["--sweep", str(sweep), "--json-out", str(out)]) == 0
    doc = json.loads(out.read_text())
    rows = doc["rows"]
    assert len(rows) == len(pts)
    held = [r for r in rows if r["role"] == "held"]
    fit = [r for r in rows if r["role"] == "fit"]
    # held out: the three held-out shapes at every sparsity, every other offered shape at the held-out levels
    assert {(r["kind"], r["rows"], r["inner"], r["outer"]) for r in fit}.isdisjoint(
        {(k, r, i, o) for k, _, r, i, o in bench.HELD_SHAPES})
    assert all(r["sparsity"] not in bench.HELD_SPARSITIES for r in fit)
    assert len(held) == 3 * 7 + 3 * 4
    assert doc["summary"]["within_15pct_share"] == 1.0 and doc["summary"]["target_met"] is True
    assert doc["summary"]["kernel_choice_agreement"] == 1.0
    conv = [r for r in rows if r["kind"] == "conv1x1"]
    assert conv and all(r["role"] == "not offered" and r["predicted_speedup"] is None for r in conv)
    printed = capsys.readouterr().out
    assert "within ±15 %: 100%" in printed and "met" in printed


def test_point_medians_over_repeated_sweeps(bench, tmp_path: Path) -> None:
    pts = _model_sweep(tmp_path / "s.json")[:3]
    slow = [dataclasses.replace(p, speedup=p.speedup * 3, sparse_s=p.sparse_s / 3) for p in pts]
    fast = [dataclasses.replace(p, speedup=p.speedup / 2) for p in pts]
    med = bench.median_points([pts, slow, fast[:2]])
    assert len(med) == 3
    assert [m.speedup for m in med] == pytest.approx([pts[0].speedup, pts[1].speedup, 2 * pts[2].speedup])
    assert med[0].reps == 12 and med[2].reps == 8


def test_repeatability_is_the_sweeps_own_agreement(bench, tmp_path: Path) -> None:
    pts = _model_sweep(tmp_path / "r.json")[:2]
    a = [dataclasses.replace(p, speedup=1.0) for p in pts]
    b = [dataclasses.replace(a[0], speedup=1.1), dataclasses.replace(a[1], speedup=1.5)]
    c = [dataclasses.replace(a[0], speedup=0.95), dataclasses.replace(a[1], speedup=1.0)]
    rep = bench.repeatability([a, b, c], a)
    # point 0: 1.0, 1.1, 0.95 all within 15 % of the median 1.0, and of the others' means (1.025, 0.975, 1.05);
    # point 1: 1.0, 1.5, 1.0: the median 1.0 holds two; against the others' means 1.25, 1.0, 1.25 none holds
    assert rep == {"points": 2, "single_within_median": 5 / 6, "single_within_others": 3 / 6}
    assert bench.repeatability([a], a) is None


def test_summary_names_the_model_and_the_ceiling(bench, tmp_path: Path) -> None:
    sweep, out = tmp_path / "sweep.json", tmp_path / "sparsity.json"
    _model_sweep(sweep)
    assert bench.main(["--sweep", str(sweep), str(sweep), "--json-out", str(out), "--model", "plain"]) == 0
    doc = json.loads(out.read_text())
    assert doc["summary"]["model"] == "plain" and doc["summary"]["fit_target"] == "speedup"
    assert doc["summary"]["repeatability"]["single_within_median"] == 1.0  # a sweep read twice agrees with itself
    assert "act_cache" not in doc["fit"]


def test_warm_and_cold_sweeps_are_not_mixed(bench, tmp_path: Path, capsys) -> None:
    warm, cold = tmp_path / "warm.json", tmp_path / "cold.json"
    pts = _model_sweep(warm)
    save_act_sweep(pts, cold, {"patterns": 8})
    assert bench.main(["--sweep", str(warm), str(cold), "--json-out", str(tmp_path / "o.json")]) == 2
    assert "mix warm" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()
