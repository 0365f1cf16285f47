"""Replay: a served stream completes every request, reports measured metrics, survives failures."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from sparoa_sim.arrivals import Batching, ClosedLoop, Poisson, TraceArrivals
from sparoa_sim.errors import SimulationError
from sparoa_sim.real import zoo
from sparoa_sim.real.executor import HybridExecutor
from sparoa_sim.real.replay import replay


@pytest.fixture(scope="module")
def ex():
    m = zoo.build("vgg16", reduced=True)
    with HybridExecutor(m, zoo.example_input("vgg16", reduced=True), gpu_device=None, name="vgg16") as e:
        yield e


def _inputs(r: int) -> torch.Tensor:
    return zoo.example_input("vgg16", reduced=True, seed=r)


def test_closed_loop_batches_and_metrics(ex, tmp_path):
    n = len(ex.graph)
    pl = [float(i % 2) for i in range(n)]
    rep, path = replay(ex, pl, _inputs, ClosedLoop(10, concurrency=4), Batching(max_batch=4), trace_path=tmp_path / "t.json")
    d = rep.to_dict()
    assert d["completed"] == 10 and d["failed"] == 0 and not d["interrupted"]
    assert sum(rep.batches) == 10 and max(rep.batches) == 4
    assert 0 < d["latency_p50_s"] <= d["latency_p95_s"] <= d["latency_p99_s"] <= d["latency_max_s"] <= d["makespan_s"]
    assert d["throughput_rps"] == pytest.approx(10 / d["makespan_s"])
    assert d["energy_per_inference_j"] is None or d["energy_per_inference_j"] > 0
    assert d["cpu_busy_s"] > 0 and d["gpu_busy_s"] > 0
    doc = json.loads(path.read_text())
    ops = [e for e in doc["traceEvents"] if e.get("cat") == "op"]
    assert len(ops) == n * len(rep.batches)
    assert sorted({e["args"]["job"] for e in ops}) == list(range(len(rep.batches)))


def test_open_loop_timeout_and_trace_arrivals(ex):
    pl = [0.0] * len(ex.graph)
    rep, _ = replay(ex, pl, _inputs, Poisson(2000.0, 6), Batching(max_batch=8, timeout_s=0.001), seed=1)
    assert rep.completed == 6 and sum(rep.batches) == 6
    rep, _ = replay(ex, pl, _inputs, TraceArrivals((0.0, 0.0, 0.05)), Batching(max_batch=2))
    assert rep.completed == 3
    assert rep.batches == (2, 1)
    assert min(rep.latencies_s) > 0


def test_failed_batches_are_reported_and_the_stream_goes_on(ex):
    pl = [0.0] * len(ex.graph)

    def bad_every_other(r: int) -> torch.Tensor:
        x = _inputs(r)
        return x[:, :2] if r % 2 else x  # two channels: the first conv fails

    rep, _ = replay(ex, pl, bad_every_other, ClosedLoop(4, concurrency=1), Batching(max_batch=1))
    assert rep.completed == 2 and len(rep.failed) == 2
    assert {f["request"] for f in rep.failed} == {1, 3}
    assert all(f["op"] == ex.graph.ops[0].name and "failed" in f["message"] for f in rep.failed)


def test_bad_placement_fails_before_serving(ex):
    with pytest.raises(SimulationError, match="placement"):
        replay(ex, [0.0], _inputs, ClosedLoop(2))


def test_cli_replay_json_and_bad_input(tmp_path):
    cmd = [sys.executable, "-m", "sparoa_sim.cli", "replay", "--workload", "mobilenetv3_small", "--reduced",
           "--gpu", "none", "--policy", "gpu", "--requests", "3", "--max-batch", "2", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["completed"] == 3 and doc["policy"] == "gpu"
    for key in ("latency_mean_s", "latency_p50_s", "latency_p95_s", "latency_p99_s", "throughput_rps",
                "energy_per_inference_j", "cpu_busy_s", "gpu_busy_s", "makespan_s"):
        assert key in doc
    bad = subprocess.run(cmd[:5] + ["nope", "--json"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown workload" in bad.stderr and "Traceback" not in bad.stderr
