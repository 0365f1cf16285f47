"""RL scheduler: warm start, best-rollout tracking, export, resume, loading errors."""

from __future__ import annotations

import json

import pytest

from sparoa_sim.agents.learn.scheduler import TrainConfig, load_scheduler, rollout, train_scheduler
from sparoa_sim.sim.simulator import simulate
from sparoa_sim.errors import PolicyError

WL = "mobilenetv3_small"
PLAT = "jetson-agx-orin-64gb"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("sched")
    cfg = TrainConfig(workloads=(WL,), platform=PLAT, mode="MAXN", algo="maskable-ppo", timesteps=600,
                      n_steps=256, eval_every=300, checkpoint_every=300, bc_episodes=1, bc_steps=300)
    return cfg, train_scheduler(cfg, out, tensorboard=False), out


def test_export_files_and_schedule_replays(trained):
    cfg, res, out = trained
    for name in ("schedule.json", "policy.zip", "metadata.json"):
        assert (out / name).is_file()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["workloads"] == [WL] and meta["algo"] == "maskable-ppo"
    # the exported schedule reproduces the best rollout's latency in the same (reference) setting
    r = simulate(WL, PLAT, str(out / "schedule.json"), reference=True, mode="MAXN")
    assert r.latency_mean_s == pytest.approx(res.final[WL]["latency_s"], rel=1e-9)
    assert meta["shipped"][WL]["source"] == res.final[WL]["source"]
    assert res.final[WL]["latency_s"] <= res.best_latency_s[WL]  # never worse than the policy's own best


def test_never_behind_the_warm_start_teacher(trained):
    _, res, _ = trained
    teacher_name, teacher_lat = res.teacher[WL]
    assert res.bc_accuracy is not None and res.bc_accuracy > 0.9
    assert res.final[WL]["latency_s"] <= teacher_lat * (1 + 1e-9)
    best = min(simulate(WL, PLAT, p, reference=True, mode="MAXN").latency_mean_s
               for p in ("gpu", "cpu", "heft", "greedy", "threshold"))
    assert res.final[WL]["latency_s"] <= best * (1 + 1e-9)


def test_load_and_rollout_deterministic(trained):
    cfg, _, out = trained
    model, meta = load_scheduler(out)
    a = rollout(model, cfg.case_kwargs(cfg.cases[0]))
    b = rollout(model, cfg.case_kwargs(cfg.cases[0]))
    assert a == b and a[0] > 0


def test_resume_continues_from_checkpoint(trained, tmp_path):
    cfg, _, out = trained
    state = json.loads((out / "checkpoints" / "state.json").read_text())
    assert state["timesteps"] >= 600
    import shutil

    shutil.copytree(out, tmp_path / "run")
    more = TrainConfig(**{**cfg.__dict__, "timesteps": state["timesteps"] + 256})
    res = train_scheduler(more, tmp_path / "run", resume=True, tensorboard=False)
    assert res.timesteps >= state["timesteps"] + 256
    assert res.best_latency_s[WL] <= state["best_latency_s"][WL]


def test_load_errors(trained, tmp_path):
    _, _, out = trained
    with pytest.raises(PolicyError, match="metadata"):
        load_scheduler(tmp_path)
    meta = json.loads((out / "metadata.json").read_text())
    (tmp_path / "metadata.json").write_text(json.dumps(dict(meta, obs_layout_version=-1)))
    with pytest.raises(PolicyError, match="obs_layout_version"):
        load_scheduler(tmp_path)
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    (tmp_path / "policy.zip").write_bytes(b"corrupt")
    with pytest.raises(PolicyError, match="corrupt"):
        load_scheduler(tmp_path)


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_other_algorithms_train(algo, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where SB3's default logger makes its folders
    cfg = TrainConfig(workloads=(WL,), platform=PLAT, algo=algo, timesteps=300, n_steps=128, eval_every=10**9,
                      bc_episodes=1, bc_steps=100)
    res = train_scheduler(cfg, None, tensorboard=False)
    assert res.timesteps >= 300 and res.best_latency_s[WL] > 0
    assert not list(tmp_path.glob("SB3-*")), "training without TensorBoard left an SB3 log folder in the temp dir"


def test_bad_config():
    with pytest.raises(PolicyError, match="algorithm"):
        TrainConfig(workloads=(WL,), algo="dqn")
    with pytest.raises(PolicyError, match="time budget"):
        TrainConfig(workloads=(WL,), time_budget_s=-1)


def test_generalist_cases_and_labels(tmp_path):
    cfg = TrainConfig(workloads=("resnet18", "synthetic"), platform=("jetson-orin-nano-8gb", PLAT), mode="random",
                      timesteps=256, n_steps=128, eval_every=10**9, bc_episodes=1, bc_steps=50)
    assert cfg.cases == (("resnet18", "jetson-orin-nano-8gb", None), ("resnet18", PLAT, None))
    assert cfg.label(cfg.cases[1]) == f"resnet18@{PLAT}:default"
    assert cfg.env_kwargs()["platform"] == ["jetson-orin-nano-8gb", PLAT]
    res = train_scheduler(cfg, tmp_path, tensorboard=False)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert set(meta["schedules"]) == {cfg.label(c) for c in cfg.cases}
    for key, name in meta["schedules"].items():
        case = next(c for c in cfg.cases if cfg.label(c) == key)
        r = simulate(case[0], case[1], str(tmp_path / name), reference=True)
        assert r.latency_mean_s == pytest.approx(res.final[key]["latency_s"], rel=1e-9)


def test_resume_from_corrupt_checkpoint_is_a_clear_error(trained, tmp_path):
    cfg, _, out = trained
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "latest.zip").write_bytes(b"garbage")
    with pytest.raises(PolicyError, match="corrupt checkpoint"):
        train_scheduler(cfg, tmp_path, resume=True, tensorboard=False)


def test_ranked_order_is_valid_and_never_worse_than_reported():
    from sparoa_sim.agents.heuristics.baselines import heft_schedule
    from sparoa_sim.agents.exact.refsched import RefProblem
    from sparoa_sim.agents.learn.scheduler import ranked_order, reference_latency
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.sim.policies import StaticSchedule
    from sparoa_sim.workloads import load_workload

    case = ("resnet18", "jetson-orin-nano-8gb", "15W")
    g = load_workload(case[0])
    heft = heft_schedule(RefProblem.build(g, load_platform(case[1]), mode=case[2]))
    order = ranked_order(case, heft.placement)
    sched = StaticSchedule(heft.placement, order, workload=g.name)
    sched.check(g)  # every operator once, on its device, in an order the dependencies allow
    assert reference_latency(case, sched) > 0
    assert ranked_order(case, [0.5] + [1.0] * (len(g) - 1)) is None  # splits: no static order


def test_thresholds_above_one_are_valid_features():
    cfg = TrainConfig(workloads=(WL,), platform=PLAT, thresholds=(1.01, 56.2))
    assert cfg.env_kwargs()["thresholds"] == [1.0, 56.2]
    import gymnasium as gym

    gym.make("SparOA-v0", **cfg.env_kwargs()).reset(seed=0)


def test_energy_weight_changes_what_is_shipped_by_objective():
    """With λ > 0 the shipped schedule is the best by latency/T_ref + λ·energy/E_ref, never worse
    than any baseline's objective."""
    from sparoa_sim.agents.learn.scheduler import score_schedule

    cfg = TrainConfig(workloads=(WL,), platform=PLAT, mode="MAXN", lam=4.0, timesteps=256, n_steps=128,
                      eval_every=128, bc_episodes=1, bc_steps=100)
    res = train_scheduler(cfg, None, tensorboard=False)
    case = cfg.cases[0]
    shipped = res.final[WL]["objective"]
    assert score_schedule(cfg, case, res.schedule(WL))[0] == pytest.approx(shipped, rel=1e-9)
    for p in ("gpu", "cpu", "heft", "greedy", "threshold", "coexec"):
        assert shipped <= score_schedule(cfg, case, p)[0] * (1 + 1e-9), p


def test_resume_with_other_settings_or_a_malformed_state_is_refused(trained, tmp_path):
    import shutil

    cfg, _, out = trained
    shutil.copytree(out, tmp_path / "run")
    other = TrainConfig(**{**cfg.__dict__, "workloads": ("vgg16",)})
    with pytest.raises(PolicyError, match="other settings.*workloads"):
        train_scheduler(other, tmp_path / "run", resume=True, tensorboard=False)
    other = TrainConfig(**{**cfg.__dict__, "platform": "jetson-agx-orin-32gb"})
    with pytest.raises(PolicyError, match="other settings.*platform"):
        train_scheduler(other, tmp_path / "run", resume=True, tensorboard=False)
    (tmp_path / "run" / "checkpoints" / "state.json").write_text('["valid JSON, wrong shape"]')
    with pytest.raises(PolicyError, match="corrupt checkpoint"):
        train_scheduler(cfg, tmp_path / "run", resume=True, tensorboard=False)


def test_train_summary_is_the_cli_document():
    from sparoa_sim.agents.learn.train_spec import TrainJob, TrainSummary

    s = TrainSummary(output="out", algo="ppo", timesteps=5, train_s=1.5, best_latency_s={"a": 0.25, "b": 0.5},
                     teacher={"a": ("heft", 0.25)})
    assert s.to_dict() == {"output": "out", "algo": "ppo", "timesteps": 5, "train_s": 1.5, "latency_s[a]": 0.25,
                           "teacher[a]": "heft 0.25", "latency_s[b]": 0.5}
    job = TrainJob(workloads=("resnet18",), output="out")
    assert (job.workers, job.ray, job.resume, job.show_progress) == (1, None, False, True)
