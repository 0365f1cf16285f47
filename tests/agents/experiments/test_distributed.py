"""Scale-out on Ray against a real local Ray instance (one per test session, 2 CPUs): identical
numbers locally and on Ray, streaming + resume, a killed worker retried, a failing cell named,
RayVecEnv stepping exactly like DummyVecEnv, training with Ray env workers, and the clear error
when Ray is not installed."""

from __future__ import annotations

import json
import os
import signal
import sys

import numpy as np
import pytest

from sparoa_sim.agents.experiments import evaluate
from sparoa_sim.agents.experiments.distributed import CellFailedError, RayUnavailableError
from sparoa_sim.agents.experiments.evaluate import cells, run_sweep
from sparoa_sim.cli import main
from sparoa_sim.errors import SparOAError

WORKLOADS = ["resnet18", "resnet50", "mobilenetv2", "mobilenetv3_small", "vgg16", "vit_b_16", "swin_t"]
PLATFORMS = ["jetson-orin-nano-8gb", "jetson-agx-orin-64gb"]
CHEAP = ["cpu", "gpu", "tensorrt", "threshold", "greedy", "heft", "coexec"]


@pytest.fixture(scope="session")
def ray_session():
    ray = pytest.importorskip("ray", reason="Ray is the optional extra sparoa-sim[ray]; CI installs it")
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False)  # never a stray `ray start` cluster
    yield ray
    if started:
        ray.shutdown()


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_without_ray_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(RayUnavailableError, match=r"sparoa-sim\[ray\]"):
        run_sweep(cells(["vgg16"], PLATFORMS[:1], None, ["cpu"]), backend="ray")
    rc = main(["evaluate", "--workloads", "vgg16", "--platforms", PLATFORMS[0], "--policies", "cpu", "--ray",
               "-o", str(tmp_path / "ev"), "--json"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "sparoa-sim[ray]" in err[0]
    rc = main(["train", "scheduler", "--workload", "vgg16", "--ray", "--workers", "2", "-o", str(tmp_path / "tr")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "sparoa-sim[ray]" in err[0]
    # the local path needs no Ray
    assert len(run_sweep(cells(["vgg16"], PLATFORMS[:1], None, ["cpu", "gpu"]), workers=1)) == 2


def test_unreachable_head_fails_fast():
    import socket

    from sparoa_sim.agents.experiments.distributed import check_reachable

    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(SparOAError, match=rf"no Ray head node answers at '127.0.0.1:{port}'"):
            check_reachable(f"127.0.0.1:{port}", timeout_s=2.0)
    check_reachable("auto")  # resolved by Ray itself
    check_reachable("ray://head:10001")


def test_seven_workloads_two_platforms_identical_locally_and_on_ray(ray_session):
    sweep = cells(WORKLOADS, PLATFORMS, None, CHEAP) + cells(["vgg16", "resnet18"], PLATFORMS, None, ["threshold-best"])
    local = run_sweep(sweep)
    seen = []
    remote = run_sweep(sweep, backend="ray", progress=seen.append)
    assert len(remote) == len(sweep) == 7 * 2 * len(CHEAP) + 4
    assert _strip(remote) == _strip(local)  # every number, bit for bit, in sweep order
    assert seen == [1] * len(sweep)  # one progress tick per cell as it streams back


def test_ray_sweep_resumes_from_cells_jsonl(ray_session, tmp_path):
    sweep = cells(["vgg16", "resnet18"], PLATFORMS, None, ["cpu", "gpu", "greedy"])
    out = tmp_path / "sweep"
    first = run_sweep(sweep[:5], out)  # an "interrupted" run: 5 of 12 cells written
    path = out / "cells.jsonl"
    marked = [dict(r, latency_s=-1.0) for r in first]  # sentinel: a recomputed cell would lose it
    path.write_text("".join(json.dumps(r) + "\n" for r in marked))
    seen = []
    rows = run_sweep(sweep, out, backend="ray", progress=seen.append)
    assert seen[0] == 5 and seen[1:] == [1] * 7
    assert [r["latency_s"] for r in rows[:5]] == [-1.0] * 5
    assert all(r["latency_s"] > 0 for r in rows[5:])
    on_disk = _lines(path)
    assert len(on_disk) == len(sweep)
    assert {json.dumps(r, sort_keys=True) for r in on_disk} == {json.dumps(r, sort_keys=True) for r in rows}


def test_killed_worker_is_retried_and_the_sweep_completes(ray_session, tmp_path, monkeypatch):
    real_run_cell = evaluate.run_cell
    marks = tmp_path / "marks"
    marks.mkdir()

    def dies_once(cell):
        mark = marks / f"{cell.workload}-{cell.policy}"
        if not mark.exists():
            mark.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies mid-sweep
        return real_run_cell(cell)

    monkeypatch.setattr(evaluate, "run_cell", dies_once)
    sweep = cells(["vgg16"], PLATFORMS[:1], None, ["cpu", "gpu", "heft"])
    rows = run_sweep(sweep, tmp_path / "out", backend="ray")
    assert sorted(p.name for p in marks.iterdir()) == ["vgg16-cpu", "vgg16-gpu", "vgg16-heft"]
    assert _strip(rows) == _strip([real_run_cell(c) for c in sweep])
    assert len(_lines(tmp_path / "out" / "cells.jsonl")) == 3


def test_failing_cell_is_named_not_retried_and_the_rest_resume(ray_session, tmp_path, monkeypatch):
    real_run_cell = evaluate.run_cell
    attempts = tmp_path / "attempts"

    def gpu_fails(cell):
        if cell.policy == "gpu":
            with open(attempts, "a") as f:
                f.write("x\n")
            raise ValueError("boom: no GPU in this cell")
        return real_run_cell(cell)

    monkeypatch.setattr(evaluate, "run_cell", gpu_fails)
    sweep = cells(["vgg16"], PLATFORMS[:1], None, ["cpu", "gpu", "greedy"])
    out = tmp_path / "out"
    with pytest.raises(CellFailedError, match=r"vgg16/jetson-orin-nano-8gb/15W/gpu .*ValueError: boom") as info:
        run_sweep(sweep, out, backend="ray")
    assert isinstance(info.value.__cause__, ValueError)
    assert attempts.read_text() == "x\n"  # a deterministic failure is not retried
    assert sorted(r["policy"] for r in _lines(out / "cells.jsonl")) == ["cpu", "greedy"]
    monkeypatch.setattr(evaluate, "run_cell", real_run_cell)
    seen = []
    rows = run_sweep(sweep, out, backend="ray", progress=seen.append)
    assert seen == [2, 1] and [r["policy"] for r in rows] == ["cpu", "gpu", "greedy"]


def test_ray_vec_env_steps_exactly_like_dummy_vec_env(ray_session):
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    from sparoa_sim.agents.learn.ray_vecenv import RayVecEnv
    from sparoa_sim.agents.learn.scheduler import TrainConfig

    kw = TrainConfig(workloads=("vgg16",)).env_kwargs()
    rv = RayVecEnv(kw, workers=2, envs_per_worker=2)
    dv = DummyVecEnv([lambda: Monitor(gym.make("SparOA-v0", **kw)) for _ in range(4)])
    try:
        assert rv.num_envs == 4 and rv.observation_space == dv.observation_space
        assert rv.has_attr("action_masks") and rv.env_is_wrapped(Monitor) == [True] * 4
        rv.seed(7)
        dv.seed(7)
        assert np.array_equal(rv.reset(), dv.reset())
        rng = np.random.default_rng(0)
        ends = 0
        for _ in range(100):  # vgg16 has 37 operators: every env finishes and auto-resets twice
            assert np.array_equal(np.stack(rv.env_method("action_masks")), np.stack(dv.env_method("action_masks")))
            a = rng.integers(0, 2, 4)
            (o1, r1, d1, i1), (o2, r2, d2, i2) = rv.step(a), dv.step(a)
            assert np.array_equal(o1, o2) and np.array_equal(r1, r2) and np.array_equal(d1, d2)
            for x, y in zip(i1, i2):
                assert x.keys() == y.keys()
                if "terminal_observation" in x:
                    ends += 1
                    assert np.array_equal(x["terminal_observation"], y["terminal_observation"])
                    assert x["episode"]["r"] == y["episode"]["r"] and x["latency_mean_s"] == y["latency_mean_s"]
        assert ends == 8
        assert rv.get_attr("spec", indices=[3])[0].id == "SparOA-v0" and not rv.has_attr("no_such_attribute")
        for k in range(4):
            rv.set_attr("tag", f"env{k}", indices=[k])
            dv.set_attr("tag", f"env{k}", indices=[k])
        assert rv.get_attr("tag", indices=[3, 0, 2]) == dv.get_attr("tag", indices=[3, 0, 2]) == ["env3", "env0", "env2"]
    finally:
        rv.close()
        dv.close()
    with pytest.raises(SparOAError, match="--workers 3: the Ray cluster has 2 CPU"):
        RayVecEnv(kw, workers=3)  # a third worker would wait forever for a CPU


def test_train_scheduler_with_ray_env_workers(ray_session, tmp_path, capsys):
    out = tmp_path / "sched"
    rc = main(["train", "scheduler", "--workload", "vgg16", "--timesteps", "1024", "--ray", "--workers", "2",
               "--seed", "1", "-o", str(out), "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    doc = json.loads(cap.out)
    assert doc["timesteps"] >= 1024 and doc["latency_s[vgg16]"] > 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["timesteps"] == doc["timesteps"] and (out / "policy.zip").is_file()
    assert rc == 0 and main(["simulate", "--workload", "vgg16", "--platform", "jetson-orin-nano-8gb", "--policy", str(out / "schedule.json"), "--reference",
                             "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["latency_mean_s"] == pytest.approx(doc["latency_s[vgg16]"], rel=1e-9)


@pytest.mark.slow
def test_all_baselines_identical_locally_and_on_ray(ray_session):
    sweep = cells(WORKLOADS, PLATFORMS, None, [*CHEAP, "threshold-best"])
    assert _strip(run_sweep(sweep, backend="ray")) == _strip(run_sweep(sweep))


@pytest.mark.slow
def test_local_process_env_workers(tmp_path, capsys):
    rc = main(["train", "scheduler", "--workload", "vgg16", "--timesteps", "1024", "--workers", "2", "-o",
               str(tmp_path), "--json"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["timesteps"] >= 1024
