"""Evaluation harness: grid, cells, resume from cells.jsonl, summary arithmetic, report files."""

from __future__ import annotations

import json

import pytest

import sparoa_sim.agents.experiments.evaluate as ev
from sparoa_sim.errors import SparOAError

WL = ["mobilenetv3_small"]
PL = ["jetson-orin-nano-8gb"]


def test_grid_and_unknown_policy():
    c = ev.cells(WL, PL, ["15W", "7W"], ["cpu", "gpu", "learned"], seeds=3)
    assert len(c) == 2 * (1 + 1 + 3)
    assert {x.mode for x in c} == {"15W", "7W"}
    with pytest.raises(SparOAError, match="unknown policy"):
        ev.cells(WL, PL, None, ["nope"])
    with pytest.raises(SparOAError, match="no cell"):
        ev.cells(WL, PL, ["nope"], ["cpu"])
    with pytest.raises(SparOAError, match=r"mode\(s\) \['MAXN-does-not-exist'\] exist on none"):
        ev.cells(WL, PL, ["15W", "MAXN-does-not-exist"], ["cpu"])
    with pytest.raises(SparOAError, match="unknown workload"):
        ev.cells(["nope", *WL], PL, None, ["cpu"])  # before any cell runs, not in a worker later
    with pytest.raises(SparOAError, match="batch 1"):
        ev.cells(WL, PL, None, ["cpu", "learned"], batch=8)  # the scheduler trains at batch 1


def test_grid_resolves_mode_aliases_per_platform_and_drops_repeats():
    both = ["jetson-orin-nano-8gb", "jetson-agx-orin-64gb"]
    c = ev.cells(WL * 2, both, ["MAXN"], ["cpu", "gpu", "gpu"])
    assert len(c) == 4 and {(x.platform, x.mode) for x in c} == {("jetson-orin-nano-8gb", "15W"),
                                                                 ("jetson-agx-orin-64gb", "MAXN")}
    assert len({x.key for x in c}) == len(c)
    agx_only = ev.cells(WL, both, ["30W"], ["cpu"])  # a mode one platform lacks is skipped there
    assert [x.platform for x in agx_only] == ["jetson-agx-orin-64gb"]


def test_malformed_result_lines_are_run_again(tmp_path):
    sweep = ev.cells(WL, PL, None, ["cpu", "gpu"])
    rows = ev.run_sweep(sweep, tmp_path)
    good = (tmp_path / "cells.jsonl").read_text().splitlines()
    nan_row = good[1].replace(str(rows[1]["latency_s"]), "NaN")
    (tmp_path / "cells.jsonl").write_text("\n".join([good[0], "[1, 2]", '{"policy": "cpu"}', nan_row]) + "\n")
    assert list(ev.done_keys(tmp_path / "cells.jsonl")) == [sweep[0].key]
    again = ev.run_sweep(sweep, tmp_path)
    assert [r["latency_s"] for r in again] == [r["latency_s"] for r in rows]


def test_a_failing_cell_in_a_worker_keeps_the_others(tmp_path, monkeypatch):
    sweep = ev.cells(WL, PL, ["15W", "7W"], ["cpu", "gpu"])
    bad = sweep[1]
    sweep[1] = ev.Cell(**{**bad.__dict__, "oracle_time_limit_s": -1.0, "policy": "oracle"})
    with pytest.raises(SparOAError, match=r"1 cell\(s\) failed \(the others are saved\)"):
        ev.run_sweep(sweep, tmp_path, workers=2)
    saved = ev.done_keys(tmp_path / "cells.jsonl")
    assert set(saved) == {c.key for k, c in enumerate(sweep) if k != 1}


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
    assert len(ev.done_keys(tmp_path / "cells.jsonl")) == len(sweep)  # the re-run row is not glued to the torn one
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


def test_report_without_gpu_only_cells(tmp_path):
    """No row has a speed-up over GPU-only when gpu is not evaluated: the chart still draws."""
    rows = ev.run_sweep(ev.cells(WL, PL, None, ["cpu", "heft"]), tmp_path)
    files = ev.write_report(rows, tmp_path)
    assert (tmp_path / "speedup.png").stat().st_size > 1000 and files["chart"].endswith("speedup.png")
    from sparoa_sim.cli.args import positive

    with pytest.raises(Exception, match="finite"):
        positive("--oracle-time-limit", float)("inf")
