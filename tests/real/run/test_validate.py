"""Sim-to-real validation: report structure, the no-GPU rule, ranking maths, outputs, bad input.

Reduced models, two or four executor runs per placement; nothing asserts on a wall-clock value.
The platform is the committed fixture host profile where present (else a shipped Jetson
profile: the structure under test does not depend on the calibration).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.real.run.validate import (
    NO_GPU_REASON,
    PlacementResult,
    ValidationError,
    ValidationReport,
    candidate_schedules,
    to_markdown,
    validate,
    write_outputs,
)
from sparoa_sim.workloads import load_workload

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "host.toml"
PLATFORM = load_platform(FIXTURE if FIXTURE.is_file() else "jetson-orin-nano-8gb")
CUDA = torch.cuda.is_available()
W = "mobilenetv3_small"


@pytest.fixture(scope="module")
def report() -> ValidationReport:
    return validate(W, PLATFORM, policies=("cpu", "gpu", "greedy"), reps=2, warmup=1, reduced=True)


def test_report_keys_and_cpu_only_placement(report):
    d = report.to_dict()
    for key in ("e2e_error_mean", "e2e_error_max", "within_10pct", "kendall_tau", "per_op", "placements", "ops",
                "cpu_only", "setting", "devices"):
        assert key in d
    json.dumps(d, allow_nan=False)
    cpu = next(p for p in d["placements"] if p["name"] == "cpu")
    assert cpu["gpu_ops"] == 0 and cpu["meaningful"] and cpu["measured_s"] > 0 and cpu["reps"] == 2
    assert cpu["error"] == pytest.approx((cpu["predicted_s"] - cpu["measured_s"]) / cpu["measured_s"])
    assert d["cpu_only"]["executor_s"] == cpu["measured_s"] and d["cpu_only"]["eager_s"] > 0
    assert 0.0 <= d["e2e_error_mean"] <= d["e2e_error_max"]
    assert d["e2e_error_max"] == pytest.approx(max(abs(p["error"]) for p in d["placements"]
                                                   if p["meaningful"] and p["measured_s"] and not p["same_as"]))
    po = d["per_op"]
    meaningful = {p["name"] for p in d["placements"] if p["meaningful"]}
    assert po["n"] == sum(r["placement"] in meaningful for r in d["ops"]) > 0
    assert d["within_10pct"] == po["within_10pct"] and 0.0 <= po["within_10pct"] <= 1.0


@pytest.mark.skipif(CUDA, reason="checks the no-GPU rule; this host has CUDA")
def test_no_gpu_host_reports_no_tau_and_skips_gpu_placements(report):
    d = report.to_dict()
    assert d["cuda"] is False and d["kendall_tau"] is None and d["ranking_reason"] == NO_GPU_REASON
    assert d["latency_lost_s"] is None and d["gpu_note"] == NO_GPU_REASON
    gpu = next(p for p in d["placements"] if p["name"] == "gpu")
    assert gpu["measured_s"] is None and not gpu["meaningful"] and "needs a GPU" in gpu["note"]
    assert gpu["predicted_s"] > 0
    assert {r["device"] for r in d["ops"]} == {"cpu"}
    md = to_markdown(report)
    assert "No GPU on this host" in md and "Kendall τ: not reported" in md


def test_per_op_prediction_is_the_twins_operator_latency(report):
    """CPU-only: each operator's predicted slice is its table latency, and they add up end to end."""
    from sparoa_sim.real.models import zoo  # the reduced graph is the executor's: rebuild it the same way
    from sparoa_sim.real.models.extract import extract

    graph = extract(zoo.build(W, reduced=True), zoo.example_input(W, reduced=True), name=W)
    lat = np.asarray(Simulator(graph, PLATFORM, "cpu").tables(1).lat[0])
    rows = [r for r in report.ops if r.placement == "cpu"]
    assert len(rows) == len(graph)
    for r in rows:
        assert r.device == "cpu" and r.share == 0.0
        assert r.predicted_s == pytest.approx(lat[r.op], rel=1e-9)
        assert r.time_s > 0 and min(r.time_s_a, r.time_s_b) <= r.time_s <= max(r.time_s_a, r.time_s_b)
    cpu = next(p for p in report.placements if p.name == "cpu")
    assert cpu.predicted_s == pytest.approx(sum(r.predicted_s for r in rows), rel=1e-9)


def test_emulated_gpu_placements_are_measured_but_not_counted():
    rep = validate(W, PLATFORM, policies=("cpu", "gpu"), reps=2, warmup=0, reduced=True, emulate_gpu=True)
    d = rep.to_dict()
    gpu = next(p for p in d["placements"] if p["name"] == "gpu")
    cpu = next(p for p in d["placements"] if p["name"] == "cpu")
    assert gpu["measured_s"] > 0
    assert gpu["meaningful"] is CUDA
    if not CUDA:
        assert "emulated" in gpu["note"] and d["kendall_tau"] is None
        assert d["e2e_error_max"] == pytest.approx(abs(cpu["error"]))
        assert {r["placement"] for r in d["ops"]} == {"cpu", "gpu"}
        assert rep.per_op()["n"] == sum(r["placement"] == "cpu" for r in d["ops"])


def _placements(pred, meas):
    return tuple(PlacementResult(f"p{i}", 1, 10, p, True, m, m, m, 4) for i, (p, m) in enumerate(zip(pred, meas)))


def _report(placements, cuda=True):
    return ValidationReport(workload="w", platform="x", mode="m", setting="deterministic", batch=1, reps=4, threads=1,
                            devices={"cpu": "cpu", "gpu": "cuda:0"}, cuda=cuda, placements=placements, ops=(),
                            eager=None)


def test_ranking_tau_and_latency_lost():
    d = _report(_placements([1.0, 2.0, 3.0], [2.0, 1.0, 3.0])).to_dict()
    assert d["kendall_tau"] == pytest.approx(1 / 3)
    assert d["twin_choice"] == "p0" and d["measured_best"] == "p1"
    assert d["latency_lost_s"] == pytest.approx(1.0) and d["latency_lost_frac"] == pytest.approx(1.0)
    d = _report(_placements([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])).to_dict()
    assert d["kendall_tau"] == pytest.approx(1.0) and d["latency_lost_s"] == 0.0
    assert d["e2e_error_max"] == pytest.approx(1 / 3)
    d = _report(_placements([1.0], [1.0])).to_dict()
    assert d["kendall_tau"] is None and "two or more" in d["ranking_reason"]
    d = _report(_placements([1.0, 1.0], [1.0, 2.0])).to_dict()
    assert d["kendall_tau"] is None and "undefined" in d["ranking_reason"]
    d = _report(_placements([1.0, 2.0], [1.0, 2.0]), cuda=False).to_dict()
    assert d["kendall_tau"] is None and d["ranking_reason"] == NO_GPU_REASON


def test_outputs_written_atomically(report, tmp_path):
    files = write_outputs(report, tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"validation.json", "report.md", "scatter.png"}
    doc = json.loads(files["json"].read_text())
    assert doc["workload"] == W and len(doc["ops"]) == len(report.ops)
    assert files["scatter"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert files["markdown"].read_text().startswith(f"# Sim-to-real validation: {W}")
    # a failing write leaves the previous file whole and no temporary behind
    before = files["json"].read_text()
    bad = _report((PlacementResult("p", 0, 1, float("nan"), True, 1.0, 1.0, 1.0, 2),))
    with pytest.raises(ValueError):
        write_outputs(bad, tmp_path / "out")
    assert files["json"].read_text() == before
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"validation.json", "report.md", "scatter.png"}


def test_candidates_take_the_twins_order_and_fail_clearly(tmp_path):
    graph = load_workload("resnet18")
    cands = candidate_schedules(graph, PLATFORM, ["cpu", "gpu"])
    cpu = cands[0].schedule
    assert cpu.placement == (0.0,) * len(graph) and sorted(cpu.order["cpu"]) == list(range(len(graph)))
    pos = {op: k for k, op in enumerate(cpu.order["cpu"])}  # the twin's run order: a topological order
    assert all(pos[p] < pos[i] for i, op in enumerate(graph.ops) for p in op.deps)
    assert cands[1].schedule.order["gpu"] and not cands[1].schedule.order["cpu"]
    with pytest.raises(ValidationError, match="unknown policy 'nope'"):
        candidate_schedules(graph, PLATFORM, ["cpu", "nope"])
    with pytest.raises(ValidationError, match="listed twice"):
        candidate_schedules(graph, PLATFORM, ["cpu", "cpu"])
    other = tmp_path / "other.json"
    StaticSchedule([0.0] * len(load_workload("vgg16")), workload="vgg16").save(other)
    with pytest.raises(ValidationError, match="workload"):
        candidate_schedules(graph, PLATFORM, [str(other)])
    mine = tmp_path / "mine.json"
    StaticSchedule([float(i % 2) for i in range(len(graph))], workload="resnet18").save(mine)
    (c,) = candidate_schedules(graph, PLATFORM, [str(mine)])
    assert c.schedule.order is not None and c.gpu_ops == len(graph) // 2
    with pytest.raises(ValidationError, match="reps"):
        validate(W, PLATFORM, reps=1, reduced=True)


def _cli(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sparoa_sim.cli", "validate", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def test_cli_json_and_bad_input(tmp_path):
    plat = str(FIXTURE) if FIXTURE.is_file() else "jetson-orin-nano-8gb"
    out = _cli("--workload", W, "--reduced", "--platform", plat, "--policies", "cpu", "gpu", "--reps", "2",
               "-o", str(tmp_path / "v"), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["workload"] == W and "ops" not in doc and Path(doc["files"]["json"]).is_file()
    if not CUDA:
        assert doc["kendall_tau"] is None
    for bad, msg in ((["--policies", "cpu", "nope"], "unknown policy"), (["--reps", "0"], "--reps")):
        r = _cli("--workload", W, "--reduced", "--platform", plat, *bad, "-o", str(tmp_path / "b"), "--json")
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    other = tmp_path / "other.json"
    StaticSchedule([0.0] * len(load_workload("vgg16")), workload="vgg16").save(other)
    r = _cli("--workload", W, "--reduced", "--platform", plat, "--policies", str(other), "-o", str(tmp_path / "b"))
    assert r.returncode == 2 and "workload" in r.stderr and "Traceback" not in r.stderr
    r = _cli("--workload", "nope", "--platform", plat, "-o", str(tmp_path / "b"))
    assert r.returncode == 2 and "unknown workload" in r.stderr
    assert not (tmp_path / "b").exists()


def test_host_platform_is_calibrated_first_when_missing(tmp_path, monkeypatch):
    """No stored host profile: profile (here: the fixture table, no timing), fit, store, load."""
    from sparoa_sim.real.measure.host_calibration import QUICK_CALIBRATION, ensure_host_profile
    from sparoa_sim.hwmodels.measurements import load_table
    from sparoa_sim.hwmodels.profile_io import DATA_ENV_VAR, host_profile_path
    from sparoa_sim.real.measure import profiler

    table = load_table(FIXTURE.parent / "host_table.json")
    calls = []

    def fake_profile(name, **kw):
        calls.append((name, kw["bandwidth"]))
        return table

    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "data"))
    monkeypatch.setattr(profiler, "profile_workload", fake_profile)
    plat = ensure_host_profile(progress=False)
    assert calls == [(w, i == 0) for i, w in enumerate(QUICK_CALIBRATION)]
    assert host_profile_path().is_file() and plat.name == "host"
    assert any(origin == "fitted" for key, origin, _ in plat.provenance if key.startswith("cpu.latency."))
    from sparoa_sim.hwmodels.host import load_host_anchors

    assert load_host_anchors() == {e.workload: e.time_s for e in table.end_to_end if e.batch == 1}
    calls.clear()
    assert ensure_host_profile(progress=False).name == "host" and calls == []  # stored: no recalibration


def test_host_drift_since_calibration_is_reported(tmp_path, monkeypatch):
    """With anchors stored beside the host profile, validate reports the eager drift and the
    twin's error once scaled by it (a ratio of two timings of one model)."""
    import dataclasses

    from sparoa_sim.hwmodels.host import store_host_anchors
    from sparoa_sim.hwmodels.profile_io import DATA_ENV_VAR

    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "data"))
    host = dataclasses.replace(PLATFORM, name="host")
    store_host_anchors({W: 0.004}, clock="wall", threads=1)
    c = validate(W, host, policies=("cpu",), reps=2, warmup=1).to_dict()["cpu_only"]
    assert c["calibration_eager_s"] == 0.004 and c["host_drift"] == pytest.approx(c["eager_s"] / 0.004)
    assert c["drift_corrected_error"] == pytest.approx(
        (c["predicted_s"] * c["host_drift"] - c["executor_s"]) / c["executor_s"])
    other = validate(W, PLATFORM, policies=("cpu",), reps=2, warmup=1, reduced=True).to_dict()["cpu_only"]
    assert "host_drift" not in other  # not the host profile, and a reduced model: no anchor applies


def test_measurement_records_the_hosts_other_load(report):
    meta = report.to_dict()["meta"]
    assert 0.0 <= meta["other_processes_cpu_share"] <= 1.0 and meta["other_processes_cpu_source"] in ("psutil", "none")
    assert "other processes' share" in to_markdown(report)


def test_sim_to_real_benchmark_writes_its_table(tmp_path, monkeypatch, capsys):
    """benchmarks/sim_to_real.py on one small workload with the fixture host profile (no calibration)."""
    import importlib.util
    import shutil

    from sparoa_sim.hwmodels.profile_io import DATA_ENV_VAR, host_profile_path

    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "data"))
    host_profile_path().parent.mkdir(parents=True)
    shutil.copy(FIXTURE, host_profile_path())
    script = Path(__file__).resolve().parents[3] / "benchmarks" / "sim_to_real.py"
    spec = importlib.util.spec_from_file_location("sim_to_real_bench", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "s2r.json"
    assert mod.main(["--workloads", W, "--reps", "2", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    (row,) = doc["rows"]
    assert row["workload"] == W and row["executor_s"] > 0 and row["host_drift"] is None  # no anchors stored
    assert row["executor_error"] == pytest.approx((row["predicted_s"] - row["executor_s"]) / row["executor_s"])
    assert doc["summary"]["n"] == 1 and "within 5%" in capsys.readouterr().out


def test_a_split_run_whole_is_not_compared_with_the_predicted_part():
    """Where the executor ran a split operator whole on its home device (too small to cut), its
    time is not the part the twin predicted: that row is left out, the others stay."""
    from sparoa_sim.sim.policies import StaticSchedule
    from sparoa_sim.real.run.validate import Candidate, _op_rows, _Timings
    from sparoa_sim.workloads import load_workload

    graph = load_workload("resnet18")
    shares = [0.0] * len(graph)
    shares[0] = 0.3
    cand = Candidate("split", StaticSchedule(shares), 1e-2, {(0, "cpu"): 1e-3, (0, "gpu"): 2e-3, (1, "cpu"): 5e-4})
    tm = _Timings()
    for half in (0, 1):
        tm.ops[half][(0, "gpu")] = [3e-3]  # the whole operator, on its home device
        tm.ops[half][(1, "cpu")] = [6e-4]
    tm.share.update({(0, "gpu"): 1.0, (1, "cpu"): 0.0})
    rows = _op_rows(graph, cand, tm)
    assert [(r.op, r.device) for r in rows] == [(1, "cpu")]
    tm.share[(0, "gpu")] = 0.3  # really split: compared
    assert [(r.op, r.device) for r in _op_rows(graph, cand, tm)] == [(0, "gpu"), (1, "cpu")]
