"""Replay: a served stream completes every request, reports measured metrics, survives failures."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from sparoa_sim.sim.arrivals import Batching, ClosedLoop, Poisson, TraceArrivals
from sparoa_sim.errors import SimulationError
from sparoa_sim.real.models import zoo
from sparoa_sim.real.run.executor import HybridExecutor
from sparoa_sim.real.run.replay import replay


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


def test_ctrl_c_mid_pass_stops_the_stream_with_partial_results(tmp_path):
    """A KeyboardInterrupt inside an operator (the CPU walk runs in the calling thread) ends the
    stream: what completed is reported, the trace is written whole, the executor stays usable."""
    m = zoo.build("vgg16", reduced=True)
    with HybridExecutor(m, zoo.example_input("vgg16", reduced=True), gpu_device=None, name="vgg16") as e:
        k = e._op_node[2]
        real, calls = e._calls[0][k], []

        def interrupting(*args, **kwargs):
            calls.append(1)
            if len(calls) == 4:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        e._calls[0][k] = interrupting
        pl = [float(i % 2) for i in range(len(e.graph))]  # both walks busy: the GPU role's one is aborted
        rep, path = replay(e, pl, _inputs, ClosedLoop(10, concurrency=1), Batching(max_batch=1),
                           trace_path=tmp_path / "t.json", warmup=0)
        assert rep.interrupted and rep.completed == 3 and not rep.failed
        doc = json.loads(path.read_text())
        assert sorted({ev["args"]["job"] for ev in doc["traceEvents"] if ev.get("cat") == "op"}) == [0, 1, 2]
        e._calls[0][k] = real
        out = e.run(_inputs(0), placement=pl).output
        assert torch.allclose(out, e.eager(_inputs(0)), atol=1e-5)


def test_a_bad_input_or_placement_fails_its_batch_and_the_stream_goes_on(ex):
    from sparoa_sim.sim.policies import StaticSchedule

    n = len(ex.graph)

    class Placer:
        """Fine for one request, a wrong-length schedule for a batch of two; counts its decisions."""

        decisions, decide_s = 0, 0.0

        def place(self, batch: int = 1) -> StaticSchedule:
            self.decisions += n
            return StaticSchedule([0.0] * (n if batch == 1 else n + 1))

    def input_or_fail(r: int) -> torch.Tensor:
        if r == 0:
            raise ValueError("camera frame 0 is corrupt")
        return _inputs(r)

    placer = Placer()
    rep, _ = replay(ex, placer, input_or_fail, TraceArrivals((0.0, 0.03, 0.06, 0.06)),
                    Batching(max_batch=2, timeout_s=0.001))
    assert rep.completed == 1 and sorted(f["request"] for f in rep.failed) == [0, 2, 3]
    by_request = {f["request"]: f for f in rep.failed}
    assert by_request[0]["op"] is None and "camera frame 0" in by_request[0]["message"]
    assert "placement" in by_request[2]["message"]
    assert rep.decisions == 2 * n  # the up-front check of place(1) is not counted as served work


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
    # precision flags and the device state travel with the result (a non-Jetson host says so)
    assert doc["precision"]["tf32"] == "conv" and doc["device_state"]["jetson"] is False
    assert doc["first_over_median"] == pytest.approx(doc["latency_first_s"] / doc["latency_p50_s"])
    assert "cudnn_allow_tf32" in doc["device_state"] or "matmul_allow_tf32" in doc["device_state"]
    for key in ("latency_mean_s", "latency_p50_s", "latency_p95_s", "latency_p99_s", "throughput_rps",
                "energy_per_inference_j", "cpu_busy_s", "gpu_busy_s", "makespan_s"):
        assert key in doc
    bad = subprocess.run(cmd[:5] + ["nope", "--json"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown workload" in bad.stderr and "Traceback" not in bad.stderr


# ---------------------------------------------------------------------------------------------
# SB3 policy queried per operator, torch.profiler trace


def _policy_dir(root, algo: str):
    """An untrained SB3 scheduler saved as a training directory (policy.zip + metadata.json)."""
    import gymnasium as gym
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import SAC

    import sparoa_sim  # noqa: F401  (registers SparOA-v0)
    from sparoa_sim.agents.learn.scheduler import METADATA_KIND
    from sparoa_sim.envs.observation import OBS_LAYOUT_VERSION

    d = root / algo
    d.mkdir()
    kw = {"workloads": ["resnet18"], "platform": "jetson-orin-nano-8gb", "mode": None,
          "action_mode": "continuous" if algo == "sac" else "discrete", "lam": 0.0, "reference": True}
    model = (SAC if algo == "sac" else MaskablePPO)("MlpPolicy", gym.make("SparOA-v0", **kw), seed=0)
    model.save(d / "policy.zip")
    meta = {"kind": METADATA_KIND, "obs_layout_version": OBS_LAYOUT_VERSION, "algo": algo, "env_kwargs": kw,
            "platform": kw["platform"], "mode": None, "workloads": kw["workloads"]}
    (d / "metadata.json").write_text(json.dumps(meta))
    return d, model, kw


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    root = tmp_path_factory.mktemp("policies")
    return {algo: _policy_dir(root, algo) for algo in ("maskable-ppo", "sac")}


@pytest.mark.parametrize("algo", ["maskable-ppo", "sac"])
def test_placer_reproduces_the_env_rollout_at_zero_load(policies, algo):
    from sparoa_sim.agents.learn.scheduler import rollout
    from sparoa_sim.real.run.policy_placer import SB3Placer
    from sparoa_sim.workloads import load_workload

    d, model, kw = policies[algo]
    graph = load_workload("resnet18")
    _, expected, _ = rollout(model, kw)
    placer = SB3Placer(d, graph, load=lambda: (0.0, 0.0))
    sched = placer.place(1)
    assert list(sched.placement) == expected
    assert placer.decisions == len(graph) and placer.decide_s > 0
    sched.check(graph)  # the twin's release order is a valid per-device order
    assert sorted(sched.order["cpu"] + sched.order["gpu"]) == sorted(
        [i for i, s in enumerate(sched.placement) if s < 1] + [i for i, s in enumerate(sched.placement) if s > 0])


def test_placer_feeds_the_live_load_into_the_observation(policies):
    from sparoa_sim.envs.observation import OBS_LAYOUT
    from sparoa_sim.real.run.policy_placer import SB3Placer
    from sparoa_sim.workloads import load_workload

    d, model, _ = policies["maskable-ppo"]
    seen = []

    class Recorder:  # the real model's spaces, a recording decision: always the GPU
        observation_space = model.observation_space

        def predict(self, obs, deterministic=True, action_masks=None):
            seen.append(obs.copy())
            return np.array(1), None

    placer = SB3Placer(d, load_workload("resnet18"), load=lambda: (0.3, 0.6))
    placer.model = Recorder()
    sched = placer.place(1)
    assert sched.placement == (1.0,) * len(seen)
    i_cpu, i_gpu = OBS_LAYOUT.index("load_cpu"), OBS_LAYOUT.index("load_gpu")
    assert all(o[i_cpu] == pytest.approx(0.3) and o[i_gpu] == pytest.approx(0.6) for o in seen)
    assert placer.last_load == (0.3, 0.6)


def test_replay_with_a_policy_and_a_torch_trace(ex, policies, tmp_path):
    from sparoa_sim.real.run.policy_placer import SB3Placer

    placer = SB3Placer(policies["sac"][0], ex.graph)
    rep, _ = replay(ex, placer, _inputs, ClosedLoop(3, concurrency=1), Batching(max_batch=1),
                    torch_trace_path=tmp_path / "torch.json")
    d = rep.to_dict()
    assert d["completed"] == 3 and d["failed"] == 0
    assert d["policy_decisions"] == len(ex.graph) * 3  # the check of place(1) before the stream is not counted
    assert d["policy_decide_s"] > 0 and d["live_load"]["sources"]["cpu"] in ("psutil", "none")
    assert all(0.0 <= v <= 1.0 for v in d["live_load"]["last"])
    doc = json.loads((tmp_path / "torch.json").read_text())
    assert doc["traceEvents"]
    assert [p.name for p in tmp_path.iterdir()] == ["torch.json"]


def test_cli_replay_with_a_policy_directory(policies, tmp_path):
    d = policies["maskable-ppo"][0]
    cmd = [sys.executable, "-m", "sparoa_sim.cli", "replay", "--workload", "mobilenetv3_small", "--reduced",
           "--gpu", "none", "--policy", str(d), "--requests", "2", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["completed"] == 2 and doc["policy_decisions"] > 0 and doc["torch_trace"] is None
    broken = tmp_path / "broken"
    broken.mkdir()
    cmd[cmd.index("--policy") + 1] = str(broken)
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "metadata" in bad.stderr and "Traceback" not in bad.stderr


def test_warm_up_batches_run_before_the_first_timed_request_and_are_reported_apart(ex):
    pl = [0.0] * len(ex.graph)
    runs: list[int] = []
    real = ex.run

    def counting(*a, **k):
        runs.append(int(a[0].shape[0]))
        return real(*a, **k)

    ex.run = counting
    try:
        rep, _ = replay(ex, pl, _inputs, ClosedLoop(4, concurrency=2), Batching(max_batch=2), warmup=2)
    finally:
        del ex.run
    doc = rep.to_dict()
    assert doc["warmup_batches"] == 2 and doc["warmup_batch_size"] == 2 and len(doc["warmup_s"]) == 2
    assert runs[:2] == [2, 2] and sum(runs[2:]) == 4 and rep.completed == 4  # warm-up: not served requests
    assert doc["warmup_first_s"] == doc["warmup_s"][0] > 0 and doc["warmup_error"] is None
    assert doc["precision"]["tf32"] == "conv" and doc["precision"]["precision"] == "fp32"
    cold, _ = replay(ex, pl, _inputs, ClosedLoop(2), Batching(max_batch=1), warmup=0)
    assert cold.to_dict()["warmup_batches"] == 0 and cold.to_dict()["warmup_first_s"] is None
    with pytest.raises(SimulationError, match="warmup"):
        replay(ex, pl, _inputs, ClosedLoop(2), warmup=-1)
