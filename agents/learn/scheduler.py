"""The RL scheduler: SB3 SAC (continuous GPU share, the paper's) or PPO / MaskablePPO (discrete).

Training runs on ``SparOA-v0`` with γ = 1 (the objective is undiscounted). Three things make a
per-workload policy useful within a minute on two cores:

- **behaviour-cloning warm start**: the policy is first fitted to the best whole-operator
  heuristic (CPU-only, GPU-only, threshold rule, greedy, HEFT — evaluated in the same setting),
  so RL starts from the best baseline instead of from random placements;
- **evaluation while training**: every ``eval_every`` steps the deterministic policy is rolled
  out on each training workload; the best rollout seen so far (latency, its placement) is kept
  and exported — SB3's ``EvalCallback`` pattern, with the schedule as the artifact;
- **time budget / checkpoints**: stop after ``time_budget_s``; periodic checkpoints in
  ``DIR/checkpoints`` and ``resume=True`` continue an interrupted run.

Outputs (``export``): ``DIR/schedule.json`` (a :class:`~sparoa_sim.sim.policies.StaticSchedule`,
usable as ``sparoa simulate --policy DIR/schedule.json``), ``DIR/policy.zip`` (the SB3 model —
a pickle: load only trusted files) and ``DIR/metadata.json`` (workloads, platform, mode,
observation-layout version, algorithm, timings, latencies).
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import sparoa_sim  # noqa: F401  (registers the env ids)
from sparoa_sim.agents.learn.artifacts import read_metadata
from sparoa_sim.agents.exact.oracle import whole_op_heuristics
from sparoa_sim.envs.observation import OBS_LAYOUT_VERSION
from sparoa_sim.errors import PolicyError
from sparoa_sim.hwmodels.fileio import file_token
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.hwmodels.fileio import atomic_write_text
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.workloads import load_workload

from sparoa_sim.agents.learn.train_spec import (
    ALGOS,
    METADATA_KIND,
    TrainConfig,
    TrainJob,
    TrainResult,
    TrainSummary,
)

__all__ = ["ALGOS", "METADATA_KIND", "TrainConfig", "TrainJob", "TrainResult", "TrainSummary", "export",
           "load_scheduler", "rollout", "run_training", "train_scheduler"]


def _make_env(kwargs: dict[str, Any]) -> gym.Env:
    return gym.make("SparOA-v0", **kwargs)


def rollout(model: Any, env_kwargs: dict[str, Any], seed: int = 0) -> tuple[float, list[float], float]:
    """Deterministic rollout of ``model`` on one episode: (mean latency, placement, objective
    ``latency/T_ref + λ·energy/E_ref``, the negated return)."""
    env = _make_env(env_kwargs)
    obs, _ = env.reset(seed=seed)
    masks = hasattr(env.unwrapped, "action_masks")
    done = False
    info: dict[str, Any] = {}
    while not done:
        kw = {"action_masks": env.unwrapped.action_masks()} if masks and _is_maskable(model) else {}
        action, _ = model.predict(obs, deterministic=True, **kw)
        obs, _, term, trunc, info = env.step(action)
        done = term or trunc
    env.close()
    return float(info["latency_mean_s"]), [float(x) for x in info["placement"]], float(info["objective"])


def _is_maskable(model: Any) -> bool:
    return type(model).__name__ == "MaskablePPO"


def _quantise(placement: Sequence[float], levels: int) -> np.ndarray:
    """Shares as the continuous action can express them (whole, or a multiple of 1/levels)."""
    p = np.asarray(placement, dtype=np.float64)
    split = (p > 0.0) & (p < 1.0)
    p[split] = np.clip(np.round(p[split] * levels), 1, levels - 1) / levels
    return p


def _share_action(share: float, cfg: TrainConfig) -> np.ndarray:
    """The continuous action the env maps to ``share`` (centre of its bin, outside the dead zones)."""
    dz = cfg.dead_zone
    u = 0.5 * dz if share <= 0.0 else 1.0 - 0.5 * dz if share >= 1.0 else dz + share * (1.0 - 2.0 * dz)
    return np.array([2.0 * u - 1.0], dtype=np.float32)


@functools.lru_cache(maxsize=256)
def _gpu_reference(workload: str, platform: str, mode: str | None) -> tuple[float, float]:
    """(T_ref, E_ref): GPU-only latency and energy per inference in the reference setting."""
    return _reference_run((workload, platform, mode), "gpu")


def _reference_run(case: tuple[str, str, str | None], schedule: Any) -> tuple[float, float]:
    """(latency, energy per inference) of one inference under ``schedule`` in the reference setting."""
    from sparoa_sim.sim.simulator import Simulator
    from sparoa_sim.sim.config import SimConfig

    r = Simulator(case[0], case[1], schedule, config=SimConfig(mode=case[2], reference=True,
                                                              record_trace=False)).run()
    return r.latency_mean_s, r.energy_per_inference_j


def score_schedule(cfg: TrainConfig, case: tuple[str, str, str | None], schedule: Any) -> tuple[float, float]:
    """(objective, latency) of ``schedule``: the env's objective ``T/T_ref + λ·E/E_ref``."""
    lat, energy = _reference_run(case, schedule)
    t_ref, e_ref = _gpu_reference(*case)
    return lat / t_ref + (cfg.lam * energy / e_ref if cfg.lam and e_ref > 0 else 0.0), lat


def reference_latency(case: tuple[str, str, str | None], schedule: StaticSchedule) -> float:
    """Latency of one inference under ``schedule`` in the reference setting (the engine's)."""
    return _reference_run(case, schedule)[0]


def _teacher(cfg: TrainConfig, case: tuple[str, str, str | None]
             ) -> tuple[tuple[str, float, float, StaticSchedule], tuple[str, float, float, StaticSchedule]]:
    """Best heuristic for one case in the reference setting — (the best the env's actions can
    express, the teacher to imitate; the best overall, the fallback to ship) — among the
    whole-operator ones (HEFT with its per-device order), plus CoDL-style co-execution where the
    action can split operators (its shares quantised as the env maps them; exact for shipping)."""
    from sparoa_sim.agents.heuristics.baselines import CoExec
    from sparoa_sim.sim.simulator import Simulator
    from sparoa_sim.sim.config import SimConfig

    workload, platform, mode = case
    graph = load_workload(workload)
    plat = load_platform(platform)
    candidates = {name: sched for name, (_lat, sched) in whole_op_heuristics(graph, plat, mode=mode).items()}
    res = Simulator(graph, plat, CoExec(), config=SimConfig(mode=mode, reference=True, record_trace=False)).run()
    if cfg.action_mode == "continuous":
        candidates["coexec"] = StaticSchedule(_quantise(res.placement, cfg.split_levels).tolist())
    scored = []  # (name, objective, latency, schedule): the best by the env's objective
    for name, sched in candidates.items():
        sched = StaticSchedule(sched.placement, sched.order, workload=graph.name)
        scored.append((name, *score_schedule(cfg, case, sched), sched))
    imitate = min(scored, key=lambda t: t[1])
    exact = StaticSchedule(res.placement, workload=graph.name)
    ship = min([imitate, ("coexec", *score_schedule(cfg, case, exact), exact)], key=lambda t: t[1])
    return imitate, ship


def ranked_order(case: tuple[str, str, str | None], placement: Sequence[float]) -> dict[str, list[int]] | None:
    """Per-device order by upward rank under a fixed whole-operator placement (HEFT's list order:
    the critical path first); None for a placement that splits operators."""
    from sparoa_sim.agents.exact.refsched import RefProblem

    if any(0.0 < s < 1.0 for s in placement):
        return None
    p = RefProblem.build(load_workload(case[0]), load_platform(case[1]), mode=case[2])
    dev = [int(s) for s in placement]
    lat = (p.lat_cpu, p.lat_gpu)
    rank = [0.0] * p.n
    for i in range(p.n - 1, -1, -1):
        rank[i] = lat[dev[i]][i] + max((rank[c] + (p.xfer[i] if dev[c] != dev[i] else 0.0) for c in p.cons[i]),
                                       default=0.0)
    seq = sorted(range(p.n), key=lambda i: (-rank[i], i))
    return {"cpu": [i for i in seq if dev[i] == 0], "gpu": [i for i in seq if dev[i] == 1]}


def _finalise(cfg: TrainConfig, result: TrainResult) -> None:
    """The schedule to ship per case, by the env's objective: the policy's best rollout (in
    dispatch order, or in upward-rank order when that scores better), unless the warm-start
    teacher's schedule scores better still — the source is recorded, so a case where learning did
    not beat its teacher is visible."""
    for case in cfg.cases:
        key = cfg.label(case)
        workload = load_workload(case[0]).name
        options: list[tuple[float, float, str, StaticSchedule]] = []
        if key in result.best_placement:
            placement = result.best_placement[key]
            options.append((result.best_objective[key], result.best_latency_s[key], "policy",
                            StaticSchedule(placement, workload=workload)))
            order = ranked_order(case, placement)
            if order is not None:
                sched = StaticSchedule(placement, order, workload=workload)
                options.append((*score_schedule(cfg, case, sched), "policy+ranked-order", sched))
        if key in result.teacher_schedule:
            name, obj, lat = result.fallback[key]
            options.append((obj, lat, f"teacher:{name}", result.teacher_schedule[key]))
        if options:
            obj, lat, source, sched = min(options, key=lambda o: (o[0], o[1]))
            result.final[key] = {"latency_s": lat, "objective": obj, "source": source, "schedule": sched.to_dict()}
        own = [o for o in options if o[2].startswith("policy")]
        if own:  # the policy's own result, reported apart from the shipped one
            obj, lat, source, sched = min(own, key=lambda o: (o[0], o[1]))
            result.own[key] = {"latency_s": lat, "objective": obj, "source": source, "schedule": sched.to_dict()}


def _demonstrations(cfg: TrainConfig, teachers: dict[tuple, np.ndarray], episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """(observations, actions) of the teachers' placements stepped through the env."""
    obs_l, act_l = [], []
    for case, placement in teachers.items():
        env = _make_env(cfg.case_kwargs(case))
        for ep in range(episodes):
            obs, _ = env.reset(seed=cfg.seed + ep)
            done = False
            while not done:
                op = env.unwrapped.pending_op
                share = float(placement[op])
                a = int(share >= 0.5) if cfg.action_mode == "discrete" else _share_action(share, cfg)
                obs_l.append(obs)
                act_l.append(a)
                obs, _, term, trunc, _ = env.step(a)
                done = term or trunc
        env.close()
    return np.asarray(obs_l, dtype=np.float32), np.asarray(act_l)


def _behaviour_clone(model: Any, obs: np.ndarray, acts: np.ndarray, steps: int, seed: int) -> float:
    """Fit the policy to demonstrations (max log-likelihood; SAC: the actor's deterministic output);
    returns the share of demonstrated actions the deterministic policy reproduces."""
    policy = model.policy
    policy.set_training_mode(True)
    gen = torch.Generator().manual_seed(seed)
    o = torch.as_tensor(obs, device=policy.device)
    a = torch.as_tensor(acts, device=policy.device)
    sac = type(model).__name__ == "SAC"
    # a fresh optimiser at a higher rate: imitation is supervised and needs precise shares
    opt = torch.optim.Adam((model.actor if sac else policy).parameters(), lr=1e-3)
    if sac:
        steps *= 5
    for _ in range(steps):
        idx = torch.randint(len(o), (min(128, len(o)),), generator=gen)
        if sac:
            loss = torch.nn.functional.mse_loss(model.actor(o[idx], deterministic=True), a[idx].float())
        else:
            loss = -policy.get_distribution(o[idx]).log_prob(a[idx]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    policy.set_training_mode(False)
    with torch.no_grad():
        if sac:
            tol = (1.0 - 2.0 * model.env.get_attr("options")[0].dead_zone) / model.env.get_attr("options")[0].split_levels
            return float(((model.actor(o, deterministic=True) - a).abs() < tol).float().mean())
        return float((policy.get_distribution(o).mode() == a).float().mean())


def _new_model(cfg: TrainConfig, env: Any, tb_dir: str | None) -> Any:
    common = dict(seed=cfg.seed, verbose=0, tensorboard_log=tb_dir, device="cpu")
    if cfg.algo == "sac":
        from stable_baselines3 import SAC

        return SAC("MlpPolicy", env, gamma=1.0, learning_rate=cfg.learning_rate, learning_starts=256,
                   buffer_size=100_000, batch_size=256, train_freq=64, gradient_steps=16, **common)
    kwargs = dict(gamma=1.0, gae_lambda=0.95, n_steps=cfg.n_steps, batch_size=128, n_epochs=5, ent_coef=0.003,
                  learning_rate=cfg.learning_rate, **common)
    if cfg.algo == "maskable-ppo":
        from sb3_contrib import MaskablePPO

        return MaskablePPO("MlpPolicy", env, **kwargs)
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", env, **kwargs)


def _algo_class(algo: str):
    if algo == "sac":
        from stable_baselines3 import SAC

        return SAC
    if algo == "maskable-ppo":
        from sb3_contrib import MaskablePPO

        return MaskablePPO
    from stable_baselines3 import PPO

    return PPO


def _callback(cfg: TrainConfig, result: TrainResult, t_start: float, ckpt_dir: Path | None,
              progress: Callable[[int], None] | None):
    from stable_baselines3.common.callbacks import BaseCallback

    class _Cb(BaseCallback):
        """Periodic evaluation (keep the best rollout), checkpoints, time budget, progress."""

        def __init__(self) -> None:
            super().__init__()
            self._last_eval = 0
            self._last_ckpt = 0
            self._last_seen = 0

        def _on_step(self) -> bool:
            n = self.num_timesteps
            if progress is not None:
                progress(n - self._last_seen)
            self._last_seen = n
            if n - self._last_eval >= cfg.eval_every:
                self._last_eval = n
                _evaluate(self.model, cfg, result, n, t_start)
                self.logger.record("eval/best_score", result.best_score)
            if ckpt_dir is not None and n - self._last_ckpt >= cfg.checkpoint_every:
                self._last_ckpt = n
                _checkpoint(self.model, result, ckpt_dir)
            return cfg.time_budget_s is None or time.perf_counter() - t_start < cfg.time_budget_s

    return _Cb()


def _evaluate(model: Any, cfg: TrainConfig, result: TrainResult, step: int, t_start: float) -> None:
    """Roll out every case; keep each case's best rollout, and the policy weights of the best
    mean score (latency / teacher latency, or / the first evaluation's without a teacher)."""
    row: dict[str, Any] = {"timesteps": step, "elapsed_s": time.perf_counter() - t_start}
    ratios = []
    for case in cfg.cases:
        key = cfg.label(case)
        lat, placement, obj = rollout(model, cfg.case_kwargs(case), seed=cfg.seed)
        row[key] = lat
        row[f"objective[{key}]"] = obj
        ref = result.teacher_objective.get(key) or (result.evaluations[0][f"objective[{key}]"] if result.evaluations
                                                    else obj)
        ratios.append(obj / ref)
        if obj < result.best_objective.get(key, math.inf):
            result.best_objective[key] = obj
            result.best_latency_s[key] = lat
            result.best_placement[key] = placement
    score = float(np.mean(ratios)) if ratios else 0.0
    row["score"] = score
    if score < result.best_score:
        result.best_score = score
        result.best_state = {k: v.detach().clone() for k, v in model.policy.state_dict().items()}
    result.evaluations.append(row)


#: What a checkpoint was trained for; resuming with any of these changed is refused (budgets,
#: evaluation and checkpoint intervals may change).
_PROBLEM_FIELDS = ("workloads", "platform", "mode", "algo", "lam", "thresholds", "reference", "split_levels",
                   "dead_zone", "eval_cases")


def _problem(cfg: TrainConfig) -> dict[str, Any]:
    return json.loads(json.dumps({f: _jsonable(getattr(cfg, f)) for f in _PROBLEM_FIELDS}))


def _checkpoint(model: Any, result: TrainResult, ckpt_dir: Path) -> None:
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_dir / "latest.tmp.zip"
    model.save(tmp)
    os.replace(tmp, ckpt_dir / "latest.zip")
    if result.best_state is not None:
        torch.save(result.best_state, ckpt_dir / "best_policy.tmp.pt")
        os.replace(ckpt_dir / "best_policy.tmp.pt", ckpt_dir / "best_policy.pt")
    state = {"timesteps": int(model.num_timesteps), "best_latency_s": result.best_latency_s,
             "best_placement": result.best_placement, "evaluations": result.evaluations,
             "best_score": result.best_score if math.isfinite(result.best_score) else None,
             "teacher": {k: list(v) for k, v in result.teacher.items()},
             "teacher_schedule": {k: v.to_dict() for k, v in result.teacher_schedule.items()},
             "fallback": {k: list(v) for k, v in result.fallback.items()},
             "best_objective": result.best_objective, "teacher_objective": result.teacher_objective,
             "problem": _problem(result.config)}
    atomic_write_text(ckpt_dir / "state.json", json.dumps(state))


def train_scheduler(cfg: TrainConfig, out_dir: str | os.PathLike[str] | None = None, *, resume: bool = False,
                    progress: Callable[[int], None] | None = None, tensorboard: bool = True,
                    vec_env: Any = None) -> TrainResult:
    """Train per :class:`TrainConfig`; with ``out_dir``, checkpoint there and export at the end.
    ``vec_env``: an SB3 VecEnv of ``SparOA-v0(**cfg.env_kwargs())`` to collect experience from
    (e.g. :class:`~sparoa_sim.agents.learn.ray_vecenv.RayVecEnv`) instead of one local env; closed at the end."""
    if cfg.algo == "ils":  # no SB3 model, no env: the exact evaluator (agents/learn/placement_train.py)
        from sparoa_sim.agents.learn.placement_train import train_placement_policy

        return train_placement_policy(cfg, out_dir, progress=progress)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: threads only add overhead on 2 cores
    try:
        return _train(cfg, out_dir, resume, progress, tensorboard, vec_env)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: TrainConfig, out_dir: str | os.PathLike[str] | None, resume: bool,
           progress: Callable[[int], None] | None, tensorboard: bool, vec_env: Any) -> TrainResult:
    from stable_baselines3.common.monitor import Monitor

    t_start = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else None
    ckpt_dir = out / "checkpoints" if out is not None else None
    tb_dir = str(out / "tensorboard") if out is not None and tensorboard and _has_tensorboard() else None
    result = TrainResult(config=cfg)
    env = vec_env if vec_env is not None else Monitor(_make_env(cfg.env_kwargs()))
    try:  # the env's workers (Ray actors, processes) end with the run, a failed or interrupted one too
        return _train_on(env, cfg, out, ckpt_dir, tb_dir, result, resume, progress, t_start)
    finally:
        env.close()


def _train_on(env: Any, cfg: TrainConfig, out: Path | None, ckpt_dir: Path | None, tb_dir: str | None,
              result: TrainResult, resume: bool, progress: Callable[[int], None] | None,
              t_start: float) -> TrainResult:
    model = None
    if resume and ckpt_dir is not None and (ckpt_dir / "latest.zip").is_file():
        try:
            state = json.loads((ckpt_dir / "state.json").read_text())
            trained_for = state.get("problem") if isinstance(state, dict) else None
        except Exception as exc:  # noqa: BLE001 - unreadable or not JSON
            raise PolicyError(f"{ckpt_dir}: cannot resume from a corrupt checkpoint ({type(exc).__name__}: {exc}); "
                              "delete the folder to start afresh") from None
        if trained_for is not None and trained_for != _problem(cfg):
            now = _problem(cfg)
            diff = sorted(k for k in now if trained_for.get(k) != now[k])
            raise PolicyError(f"{ckpt_dir}: the checkpoint was trained for other settings ({', '.join(diff)} "
                              "differ); resume with the same ones, or use another output folder")
        try:
            model = _algo_class(cfg.algo).load(ckpt_dir / "latest.zip", env=env, device="cpu")
            result.best_latency_s = {k: float(v) for k, v in state["best_latency_s"].items()}
            result.best_placement = state["best_placement"]
            result.evaluations = state["evaluations"]
            result.teacher = {k: (v[0], float(v[1])) for k, v in state.get("teacher", {}).items()}
            result.teacher_schedule = {k: StaticSchedule.from_dict(v)
                                       for k, v in state.get("teacher_schedule", {}).items()}
            result.fallback = {k: (v[0], float(v[1]), float(v[2])) for k, v in state.get("fallback", {}).items()}
            result.best_objective = {k: float(v) for k, v in state.get("best_objective", {}).items()}
            result.teacher_objective = {k: float(v) for k, v in state.get("teacher_objective", {}).items()}
            if state.get("best_score") is not None and (ckpt_dir / "best_policy.pt").is_file():
                result.best_score = float(state["best_score"])
                result.best_state = torch.load(ckpt_dir / "best_policy.pt", weights_only=True)
        except Exception as exc:  # SB3/zipfile/json raise many kinds on a corrupt checkpoint
            raise PolicyError(f"{ckpt_dir}: cannot resume from a corrupt checkpoint ({type(exc).__name__}: {exc}); "
                              "delete the folder to start afresh") from None
    if model is None:
        model = _new_model(cfg, env, tb_dir)
        teachers = {}
        for case in cfg.cases:
            (name, obj, lat, sched), ship = _teacher(cfg, case)
            result.teacher[cfg.label(case)] = (name, lat)
            result.teacher_objective[cfg.label(case)] = obj
            result.fallback[cfg.label(case)] = (ship[0], ship[1], ship[2])
            result.teacher_schedule[cfg.label(case)] = ship[3]
            teachers[case] = np.asarray(sched.placement, dtype=np.float64)
        if teachers and cfg.bc_episodes > 0:
            obs, acts = _demonstrations(cfg, teachers, cfg.bc_episodes)
            result.bc_accuracy = _behaviour_clone(model, obs, acts, cfg.bc_steps, cfg.seed)
        _evaluate(model, cfg, result, 0, t_start)
    if tb_dir is None:  # SB3 would otherwise make an empty SB3-<date> folder in the temp dir on every learn()
        from stable_baselines3.common.logger import Logger

        model.set_logger(Logger(folder=None, output_formats=[]))
    remaining = cfg.timesteps if cfg.timesteps is not None else 10**9
    if resume:
        remaining = max(0, remaining - int(model.num_timesteps))
    if remaining > 0 and (cfg.time_budget_s is None or time.perf_counter() - t_start < cfg.time_budget_s):
        model.learn(total_timesteps=remaining, callback=_callback(cfg, result, t_start, ckpt_dir, progress),
                    reset_num_timesteps=not resume, tb_log_name=cfg.algo)
    _evaluate(model, cfg, result, int(model.num_timesteps), t_start)
    if result.best_state is not None:  # keep the best evaluated weights (SB3 EvalCallback's best model)
        model.policy.load_state_dict(result.best_state)
    result.timesteps = int(model.num_timesteps)
    result.train_s = time.perf_counter() - t_start
    result.model = model
    _finalise(cfg, result)
    if out is not None:
        if ckpt_dir is not None:
            _checkpoint(model, result, ckpt_dir)
        export(result, out)
    return result


def _has_tensorboard() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def export(result: TrainResult, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``schedule.json`` (first evaluated workload; one per workload when several),
    ``policy.zip`` and ``metadata.json`` atomically."""
    cfg = result.config
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for k, case in enumerate(cfg.cases):
        key = cfg.label(case)
        if key not in result.final:
            continue
        where = "" if key == case[0] else f"-{file_token(case[1])}-{file_token(case[2] or 'default')}"
        name = "schedule.json" if k == 0 else f"schedule-{file_token(case[0])}{where}.json"
        result.schedule(key).save(out / name)
        files[key] = name
    tmp = out / "policy.tmp.zip"
    result.model.save(tmp)
    os.replace(tmp, out / "policy.zip")
    meta = {
        "kind": METADATA_KIND, "obs_layout_version": OBS_LAYOUT_VERSION, "config": _jsonable(asdict(cfg)),
        "env_kwargs": cfg.env_kwargs(), "workloads": list(cfg.workloads), "platform": _jsonable(cfg.platform),
        "mode": cfg.mode, "cases": _jsonable(cfg.cases),
        "algo": cfg.algo, "timesteps": result.timesteps, "bc_accuracy": result.bc_accuracy, "train_s": result.train_s,
        "best_latency_s": result.best_latency_s,
        "shipped": {k: {"latency_s": v["latency_s"], "objective": v["objective"], "source": v["source"]}
                    for k, v in result.final.items()},
        "policy": {k: {"latency_s": v["latency_s"], "objective": v["objective"], "source": v["source"]}
                   for k, v in result.own.items()},
        "teacher": {w: {"policy": n, "latency_s": lat} for w, (n, lat) in result.teacher.items()},
        "schedules": files, "evaluations": result.evaluations,
    }
    atomic_write_text(out / "metadata.json", json.dumps(meta, indent=2, allow_nan=False))
    return out


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def load_scheduler(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """(model, metadata) from a training directory: the SB3 model (the zip is a pickle: trusted
    files only), or for ``algo == "ils"`` the first case's :class:`LoadAwarePolicy` (JSON)."""
    d = Path(path)
    meta = read_metadata(d, METADATA_KIND, "obs_layout_version", OBS_LAYOUT_VERSION)
    meta_path = d / "metadata.json"
    algo = meta.get("algo")
    if algo not in ALGOS:
        raise PolicyError(f"{meta_path}: 'algo' is {algo!r} (known: {', '.join(ALGOS)})")
    if algo == "ils":
        from sparoa_sim.agents.learn.placement_train import load_placement_policies

        policies, meta = load_placement_policies(d)
        return next(iter(policies.values())), meta
    try:
        model = _algo_class(algo).load(d / "policy.zip", device="cpu")
    except Exception as exc:  # SB3 raises many kinds on a corrupt zip
        raise PolicyError(f"{d / 'policy.zip'}: corrupt or unreadable policy: {exc}") from None
    return model, meta


def run_training(job: TrainJob) -> TrainSummary:
    """Train, export to ``job.output`` and summarise: ``sparoa train scheduler`` as a function."""
    thresholds = None
    if job.thresholds_dir:
        from sparoa_sim.agents.learn.predictor import load_predictor
        from sparoa_sim.agents.learn.threshold_data import HardwareContext

        pred = load_predictor(job.thresholds_dir)
        plat = load_platform(job.platform)
        thresholds = pred.predict(load_workload(job.workloads[0]), HardwareContext(plat.name, plat.mode(job.mode).name))
    cfg = TrainConfig(workloads=tuple(job.workloads), platform=job.platform, mode=job.mode, algo=job.algo,
                      timesteps=job.timesteps, time_budget_s=job.time_budget_s, seed=job.seed, lam=job.lam,
                      thresholds=thresholds, loads=tuple(job.loads), scenario=job.scenario)
    vec_env = None
    if job.ray is not None or job.workers > 1:
        from sparoa_sim.agents.learn.ray_vecenv import training_vec_env

        vec_env = training_vec_env(cfg, job.workers, job.ray)
    from tqdm import tqdm

    with tqdm(total=cfg.timesteps, desc=f"training {cfg.algo}", unit="step", disable=not job.show_progress,
              file=sys.stderr) as bar:
        res = train_scheduler(cfg, job.output, resume=job.resume, progress=bar.update, vec_env=vec_env)
    return TrainSummary(output=str(job.output), algo=cfg.algo, timesteps=res.timesteps, train_s=res.train_s,
                        # latency_s[w]: what schedule.json replays (the shipped schedule), as in 0.1
                        best_latency_s={**res.best_latency_s, **{k: v["latency_s"] for k, v in res.final.items()}},
                        teacher=dict(res.teacher),
                        policy_latency_s={k: v["latency_s"] for k, v in res.own.items()},
                        shipped={k: (v["source"], v["latency_s"]) for k, v in res.final.items()})
