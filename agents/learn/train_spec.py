"""What the RL scheduler trains on and what training produces: its value types, light to import.

:class:`TrainConfig` is the training problem and its knobs (workloads, platform, mode,
algorithm, budget); :class:`TrainResult` what a run produced (best rollouts, the teacher, the
shipped schedules); :class:`TrainJob` / :class:`TrainSummary` are the request and the answer of
one ``sparoa train scheduler`` run (:func:`sparoa_sim.agents.learn.scheduler.run_training`).
Kept apart from :mod:`sparoa_sim.agents.learn.scheduler` so that importing them needs neither
torch nor SB3 (docs/architecture.md §6).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from sparoa_sim.errors import PolicyError
from sparoa_sim.sim.policies import StaticSchedule

__all__ = ["ALGOS", "METADATA_KIND", "SB3_ALGOS", "TrainConfig", "TrainJob", "TrainResult", "TrainSummary"]

ALGOS = ("maskable-ppo", "ppo", "sac", "ils")
#: Algorithms trained with Stable-Baselines3 on ``SparOA-v0``; ``"ils"`` trains the load-aware
#: placement policy by iterated local search on the exact reference evaluator, distilled into the
#: policy (:mod:`sparoa_sim.agents.learn.placement_train`).
SB3_ALGOS = ("maskable-ppo", "ppo", "sac")
METADATA_KIND = "sparoa-scheduler"


@dataclass(frozen=True)
class TrainConfig:
    """What to train: workloads (names, paths or "synthetic"), platform, mode, algorithm, budget."""

    workloads: tuple[str, ...]
    platform: str | tuple[str, ...] = "jetson-orin-nano-8gb"
    mode: str | None = None  # a power mode, None (default) or "random" (drawn per episode)
    algo: str = "maskable-ppo"
    timesteps: int | None = None
    time_budget_s: float | None = None
    seed: int = 0
    lam: float = 0.0
    thresholds: tuple[float, float] | None = None
    reference: bool = True
    bc_episodes: int = 3
    bc_steps: int = 600
    eval_every: int = 1024
    checkpoint_every: int = 10_000
    n_steps: int = 512
    split_levels: int = 256  # continuous mode: GPU shares of split operators in steps of 1/split_levels
    dead_zone: float = 0.1
    learning_rate: float = 3e-4
    eval_cases: tuple[tuple[str, str, str | None], ...] = ()
    # "ils" only: the fixed background loads (cpu, gpu) it trains on — several make a mix whose
    # policy follows the load; the first is the load its cases are evaluated and shipped at
    loads: tuple[tuple[float, float], ...] = ((0.0, 0.0),)
    # "ils" only: the batch size it trains at (the reference problem of one batch)
    batch: int = 1
    # "ils" only: a scenario (name or .toml path) to train for — its load levels, its primary stream's
    # batch, and its stream (a short run of it) as the objective; overrides loads and batch
    scenario: str | None = None

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise PolicyError(f"scheduler: unknown algorithm {self.algo!r} (known: {', '.join(ALGOS)})")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise PolicyError(f"scheduler: batch must be a positive integer, got {self.batch!r}")
        if self.algo != "ils" and (self.batch != 1 or self.scenario is not None):
            raise PolicyError(f"scheduler: batch/scenario need algo 'ils', got algo {self.algo!r}")
        if self.scenario is not None and not (isinstance(self.scenario, str) and self.scenario):
            raise PolicyError(f"scheduler: scenario must be a scenario name or .toml path, got {self.scenario!r}")
        loads = _check_loads(self.loads)
        object.__setattr__(self, "loads", loads)
        if self.algo != "ils" and loads != ((0.0, 0.0),):
            raise PolicyError(f"scheduler: loads={list(loads)} needs algo 'ils' ({self.algo!r} trains on SparOA-v0's "
                              "own background load)")
        if not self.workloads:
            raise PolicyError("scheduler: give at least one workload")
        if not isinstance(self.platform, str):
            object.__setattr__(self, "platform", tuple(self.platform))
        object.__setattr__(self, "eval_cases", tuple((w, p, m) for w, p, m in self.eval_cases))
        if self.timesteps is None and self.time_budget_s is None:
            object.__setattr__(self, "timesteps", 20_000)
        if self.timesteps is not None and self.timesteps < 1:
            raise PolicyError(f"scheduler: timesteps must be positive, got {self.timesteps}")
        if self.time_budget_s is not None and not (math.isfinite(self.time_budget_s) and self.time_budget_s > 0):
            raise PolicyError(f"scheduler: time budget must be a positive number of seconds, got {self.time_budget_s}")

    @property
    def action_mode(self) -> str:
        return "continuous" if self.algo == "sac" else "discrete"

    @property
    def platforms(self) -> tuple[str, ...]:
        return (self.platform,) if isinstance(self.platform, str) else tuple(self.platform)

    def env_kwargs(self) -> dict[str, Any]:
        """``gym.make("SparOA-v0", **kwargs)`` of the training distribution."""
        plats = self.platforms
        return self._kwargs(list(self.workloads), plats[0] if len(plats) == 1 else list(plats), self.mode)

    def case_kwargs(self, case: tuple[str, str, str | None]) -> dict[str, Any]:
        """Env kwargs of one evaluation case (workload, platform, mode)."""
        return self._kwargs([case[0]], case[1], case[2])

    def _kwargs(self, workloads: list[str], platform: Any, mode: str | None) -> dict[str, Any]:
        kw: dict[str, Any] = {"workloads": workloads, "platform": platform, "mode": mode,
                              "action_mode": self.action_mode, "lam": self.lam, "reference": self.reference}
        if self.action_mode == "continuous":
            kw.update(split_levels=self.split_levels, dead_zone=self.dead_zone)
        if not self.reference:
            kw["background"] = "random"
        if self.thresholds is not None:  # as features; τ_s above 1 ("no operator qualifies") reads as 1
            kw["thresholds"] = [min(float(self.thresholds[0]), 1.0), float(self.thresholds[1])]
        return kw

    @property
    def cases(self) -> tuple[tuple[str, str, str | None], ...]:
        """Evaluation cases: ``eval_cases``, else every named workload on every platform (fixed mode)."""
        if self.eval_cases:
            return self.eval_cases
        mode = None if self.mode == "random" else self.mode
        return tuple((w, p, mode) for p in self.platforms for w in self.workloads if w != "synthetic")

    def label(self, case: tuple[str, str, str | None]) -> str:
        """Result key of a case: the workload alone when it is the only case of that workload."""
        if sum(c[0] == case[0] for c in self.cases) == 1:
            return case[0]
        return f"{case[0]}@{case[1]}:{case[2] or 'default'}"


def _check_loads(loads: object) -> tuple[tuple[float, float], ...]:
    """``loads`` as a non-empty tuple of (cpu, gpu) shares in [0, 0.95]; PolicyError naming the entry otherwise."""
    try:
        items = tuple(loads)  # type: ignore[arg-type]
    except TypeError:
        raise PolicyError(f"scheduler: loads must be a list of (cpu, gpu) pairs, got {loads!r}") from None
    if not items:
        raise PolicyError("scheduler: loads must name at least one (cpu, gpu) background load")
    out = []
    for k, pair in enumerate(items):
        try:
            c, g = (float(v) for v in pair if not isinstance(v, bool))
        except (TypeError, ValueError):
            raise PolicyError(f"scheduler: loads[{k}] must be a (cpu, gpu) pair of shares, got {pair!r}") from None
        if not all(math.isfinite(v) and 0.0 <= v <= 0.95 for v in (c, g)):
            raise PolicyError(f"scheduler: loads[{k}] = {pair!r}: shares must be in [0, 0.95]")
        out.append((c, g))
    return tuple(out)


@dataclass
class TrainResult:
    """What training produced: best rollout per evaluated workload and bookkeeping."""

    config: TrainConfig
    best_latency_s: dict[str, float] = field(default_factory=dict)
    best_placement: dict[str, list[float]] = field(default_factory=dict)
    teacher: dict[str, tuple[str, float]] = field(default_factory=dict)
    best_score: float = math.inf
    best_state: dict[str, Any] | None = None
    teacher_schedule: dict[str, StaticSchedule] = field(default_factory=dict)  # the fallback shipped if faster
    fallback: dict[str, tuple[str, float, float]] = field(default_factory=dict)  # name, objective, latency
    best_objective: dict[str, float] = field(default_factory=dict)
    teacher_objective: dict[str, float] = field(default_factory=dict)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the policy's own result per case, apart from what is shipped: {"latency_s", "objective", "source"}
    own: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, Any] = field(default_factory=dict)  # "ils": the trained LoadAwarePolicy per case
    # "ils": per case the engine policy that IS the trained policy's decision rule in its setting (the
    # argmax schedule at a fixed load, a LoadAwarePlanner under a changing one): Simulator(policy=...)
    engine_policy: dict[str, Any] = field(default_factory=dict)

    def schedule(self, key: str) -> StaticSchedule:
        """The shipped schedule of one case (see :func:`_finalise`)."""
        return StaticSchedule.from_dict(self.final[key]["schedule"])
    bc_accuracy: float | None = None
    timesteps: int = 0
    train_s: float = 0.0
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    model: Any = None


@dataclass(frozen=True)
class TrainJob:
    """One ``sparoa train scheduler`` run: the training problem, where to write, how to collect.

    ``thresholds_dir`` is a trained predictor's directory (its thresholds for the first workload
    become features); ``workers`` > 1 collects with local processes, ``ray`` (an address, ``""``
    for a local cluster) with Ray actors; ``show_progress`` draws a progress bar on stderr.
    """

    workloads: tuple[str, ...]
    output: str | os.PathLike[str]
    platform: str = "jetson-orin-nano-8gb"
    mode: str | None = None
    algo: str = "maskable-ppo"
    timesteps: int | None = None
    time_budget_s: float | None = None
    seed: int = 0
    lam: float = 0.0
    thresholds_dir: str | os.PathLike[str] | None = None
    resume: bool = False
    workers: int = 1
    ray: str | None = None
    show_progress: bool = True
    loads: tuple[tuple[float, float], ...] = ((0.0, 0.0),)  # "ils": fixed background loads to train on
    scenario: str | None = None  # "ils": a scenario name or .toml path to train for (overrides loads)


@dataclass(frozen=True)
class TrainSummary:
    """What one run reports: output directory, algorithm, steps, wall time, and per workload the
    best latency and the teacher (heuristic name, its latency); ``policy_latency_s`` the policy's own
    latency and ``shipped`` (source, latency) what was shipped — the teacher when it was better."""

    output: str
    algo: str
    timesteps: int
    train_s: float
    best_latency_s: dict[str, float]
    teacher: dict[str, tuple[str, float]]
    policy_latency_s: dict[str, float] = field(default_factory=dict)
    shipped: dict[str, tuple[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The flat document ``sparoa train scheduler`` prints (0.1's keys, plus ``policy_latency_s[w]``
        and ``shipped[w]`` = "source latency" where recorded)."""
        doc: dict[str, Any] = {"output": self.output, "algo": self.algo, "timesteps": self.timesteps,
                               "train_s": self.train_s}
        for w, lat in self.best_latency_s.items():
            doc[f"latency_s[{w}]"] = lat
            if w in self.teacher:
                doc[f"teacher[{w}]"] = f"{self.teacher[w][0]} {self.teacher[w][1]:.6g}"
            if w in self.policy_latency_s:
                doc[f"policy_latency_s[{w}]"] = self.policy_latency_s[w]
            if w in self.shipped:
                doc[f"shipped[{w}]"] = f"{self.shipped[w][0]} {self.shipped[w][1]:.6g}"
        return doc
