"""Evaluation harness: grid, cells, resume from cells.jsonl, summary arithmetic, report files."""

from __future__ import annotations

import json

import pytest

import sparoa_sim.agents.evaluate as ev
from sparoa_sim.errors import SparOAError

WL = ["mobilenetv3_small"]
PL = ["jetson-orin-nano-8gb"]


def test_grid_and_unknown_policy():
    c = ev.cells(WL, PL, ["15W", "7W", "MAXN-does-not-exist"], ["cpu", "gpu", "learned"], seeds=3)
    assert len(c) == 2 * (1 + 1 + 3)
    assert {x.mode for x in c} == {"15W", "7W"}
    with pytest.raises(SparOAError, match="unknown policy"):
        ev.cells(WL, PL, None, ["nope"])
    with pytest.raises(SparOAError, match="no cell"):
        ev.cells(WL, PL, ["nope"], ["cpu"])


def test_summary_arithmetic_exact():
    base = dict(platform="p", mode="m", batch=1, lam=0.0, energy_per_inference_j=1.0)
    rows = [dict(base, workload="w", policy=p, latency_s=t) for p, t in
            [("cpu", 10.0), ("gpu", 5.0), ("oracle", 4.0), ("tensorrt", 2.0), ("learned", 4.5), ("learned", 4.1),
             ("learned", 4.3)]]
    table = {r["policy"]: r for r in ev.summarise(rows)}
    le = table["learned"]
    assert le["seeds"] == 3 and le["latency_s"] == 4.3 and le["latency_worst_s"] == 4.5
    assert le["speedup_vs_gpu"] == pytest.approx(5 / 4.3)
    assert le["speedup_vs_cpu"] == pytest.approx(10 / 4.3)
    assert le["speedup_vs_tensorrt"] == pytest.approx(2 / 4.3)
    assert le["gap_to_oracle"] == pytest.approx(4.3 / 4 - 1)
    assert le["gain_realised"] == pytest.approx((5 - 4.3) / (5 - 4))
    assert table["oracle"]["oracle_gain_over_single"] == pytest.approx(0.2)
    assert table["gpu"]["gain_realised"] == 0.0


def test_sweep_runs_resumes_and_reports(tmp_path, monkeypatch):
    sweep = ev.cells(WL, PL, None, ["cpu", "gpu", "heft", "oracle", "tensorrt"], oracle_time_limit_s=2.0)
    rows = ev.run_sweep(sweep, tmp_path)
    assert [r["policy"] for r in rows] == ["cpu", "gpu", "heft", "oracle", "tensorrt"]
    by = {r["policy"]: r for r in rows}
    assert by["oracle"]["latency_s"] <= min(by["cpu"]["latency_s"], by["gpu"]["latency_s"], by["heft"]["latency_s"])
    assert by["oracle"]["bound_s"] <= by["oracle"]["latency_s"]
    lines = (tmp_path / "cells.jsonl").read_text().splitlines()
    assert len(lines) == len(sweep)
    # a torn last line (interrupted write) is ignored and that cell re-run; finished cells are not
    (tmp_path / "cells.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    ran = []
    real = ev.run_cell
    monkeypatch.setattr(ev, "run_cell", lambda c: ran.append(c.policy) or real(c))
    again = ev.run_sweep(sweep, tmp_path)
    assert ran == ["tensorrt"]
    assert len(ev._done_keys(tmp_path / "cells.jsonl")) == len(sweep)  # the re-run row is not glued to the torn one
    assert [r["latency_s"] for r in again] == [r["latency_s"] for r in rows]
    files = ev.write_report(again, tmp_path)
    doc = json.loads((tmp_path / "summary.json").read_text())
    assert len(doc["summary"]) == len(sweep)
    assert "| mobilenetv3_small |" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "speedup.png").stat().st_size > 1000 and files["chart"].endswith("speedup.png")


def test_local_processes_give_identical_numbers(tmp_path):
    sweep = ev.cells(WL, PL, ["15W", "7W"], ["cpu", "gpu", "greedy"])
    one = ev.run_sweep(sweep, None)
    two = ev.run_sweep(sweep, None, workers=2)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "wall_s"} for r in rs]  # noqa: E731
    assert strip(one) == strip(two)


def test_pareto_plot(tmp_path):
    base = dict(workload="w", platform="p", mode="m", batch=1)
    rows = [dict(base, policy="gpu", lam=0.0, latency_s=1.0, energy_per_inference_j=1.0),
            dict(base, policy="learned", lam=0.0, latency_s=0.9, energy_per_inference_j=1.1),
            dict(base, policy="learned", lam=1.0, latency_s=1.0, energy_per_inference_j=0.8)]
    out = ev.pareto_plot(rows, tmp_path / "p.png")
    assert out.stat().st_size > 1000
