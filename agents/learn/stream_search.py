"""The load-aware policy tuned on a scenario's stream: an engine-evaluated objective and a local search.

A single inference's exact latency (what :mod:`~sparoa_sim.agents.learn.placement_search` optimises)
misses what a stream adds: batches, several jobs in flight sharing the devices, a load that changes
while requests run. :class:`StreamObjective` scores a policy by simulating a short version of the
scenario (``requests`` of the primary stream, the scenario's batching, co-runs and background load;
the reference setting at a fixed load, else noise-free runs on common random numbers) — the primary
stream's mean latency. :func:`refine_in_stream` searches the policy's *own parameters* (a move flips
one operator's placement at one load level, refitting that operator's logit linear in the load, or
shifts one operator's priority; a policy that co-executes also toggles one operator's split) and keeps a move
only when the stream score does not get worse, so the result is always the policy's own decision rule, never a
baseline's. :func:`sweep_in_stream` is the planner's descent over a whole stream: each move of its
neighbourhood tried once per sweep (screened on a shorter stream, confirmed on the whole), until a local
optimum. :func:`coexec_copy` is the policy written as the ``coexec`` baseline's rule, exactly — a start
the search can reach co-execution's per-job balance from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sparoa_sim.agents.exact.refsched import RefProblem
from sparoa_sim.agents.learn.budget_clock import now
from sparoa_sim.agents.learn.placement_policy import LoadAwarePlanner, LoadAwarePolicy
from sparoa_sim.errors import PolicyError

__all__ = ["FOLLOW", "LevelObjective", "StreamObjective", "StreamRefinement", "coexec_copy", "engine_policy",
           "greedy_copy", "jobs_in_flight", "needs_stream", "placement_copy", "refine_in_stream", "schedule_copy",
           "sweep_in_stream"]

_LOGIT = 4.0  # |logit| a flipped placement is refitted to
FOLLOW = 100.0  # w_finish of an operator that follows the live finish times (per ms: outweighs |logit| 4)


def coexec_copy(policy: LoadAwarePolicy) -> LoadAwarePolicy:
    """``policy`` rewritten so that, as a :class:`LoadAwarePlanner`, it decides exactly as the ``coexec``
    baseline (:class:`~sparoa_sim.agents.heuristics.baselines.CoExec` at its defaults): every operator
    co-executed in proportion to the live device speeds where heavy and splittable, else placed where it
    finishes first (logit 0 plus the live finish-time advantage; a tie to the GPU). Priorities are kept."""
    n = policy.n
    return replace(policy, bias=np.zeros(n), w_load=np.zeros((n, 2)), w_finish=np.full(n, FOLLOW),
                   split=np.ones(n), gpu_on_tie=True)


def greedy_copy(policy: LoadAwarePolicy) -> LoadAwarePolicy:
    """``policy`` written as the ``greedy`` baseline's rule exactly (as a :class:`LoadAwarePlanner`): every
    operator where it finishes first from the live backlogs, a tie to the GPU, nothing split."""
    n = policy.n
    return replace(policy, bias=np.zeros(n), w_load=np.zeros((n, 2)), w_finish=np.full(n, FOLLOW),
                   split=np.zeros(n), gpu_on_tie=True)


def placement_copy(policy: LoadAwarePolicy, placement: Any) -> LoadAwarePolicy:
    """``policy`` written as a fixed whole-operator ``placement`` (1 = GPU): as a :class:`LoadAwarePlanner`
    it decides exactly as an engine policy that places each operator so (``cpu``, ``gpu``, the threshold
    rule), in the engine's dispatch order."""
    n = policy.n
    bias = np.where(np.asarray(placement, dtype=np.float64) >= 1.0, _LOGIT, -_LOGIT)
    return replace(policy, bias=bias, w_load=np.zeros((n, 2)), w_finish=np.zeros(n), split=np.zeros(n),
                   gpu_on_tie=False)


def schedule_copy(policy: LoadAwarePolicy, problem: RefProblem, schedule: Any) -> LoadAwarePolicy:
    """``policy`` written as a whole-operator static ``schedule`` with per-device orders (e.g. HEFT's): its
    argmax schedule on ``problem`` (:meth:`LoadAwarePolicy.schedule`) is exactly ``schedule``."""
    from sparoa_sim.agents.learn.placement_policy import global_order
    from sparoa_sim.agents.learn.placement_search import explicit_priorities

    if schedule.order is None or any(0.0 < s < 1.0 for s in schedule.placement):
        raise PolicyError("schedule_copy: the schedule must place whole operators and give per-device orders")
    n = policy.n
    topo = global_order(problem.deps, schedule.order["cpu"], schedule.order["gpu"])
    return replace(placement_copy(policy, schedule.placement), prio=explicit_priorities(topo),
                   prio_load=np.zeros((n, 2)))


def needs_stream(scenario: Any) -> bool:
    """Whether a scenario differs from one inference at a time at a fixed load (batches, jobs in
    flight, co-running streams or a changing load) — where the stream objective can pay."""
    p = scenario.primary
    return p.max_batch > 1 or p.max_inflight > 1 or bool(scenario.coruns) or scenario.fixed_load is None


def jobs_in_flight(scenario: Any) -> bool:
    """Whether a fixed-load scenario runs several jobs at once (primary jobs in flight or co-running
    streams), where a static schedule cannot balance them and the backlog-aware planner may."""
    return scenario.fixed_load is not None and (scenario.primary.max_inflight > 1 or bool(scenario.coruns))


def engine_policy(policy: LoadAwarePolicy, problems: dict[tuple[float, float], RefProblem], fixed: bool) -> Any:
    """The policy as the engine's policy: at a fixed load its argmax schedule there (placement and
    per-device order), under a changing load the :class:`LoadAwarePlanner` (placement re-planned from
    the live load; the engine's static order cannot change with the load)."""
    if fixed:
        (p,) = problems.values()
        return policy.schedule(p)
    return LoadAwarePlanner(policy)


@dataclass(frozen=True)
class StreamObjective:
    """A short version of a scenario for one workload/platform/mode: mean primary latency of a policy."""

    scenario: Any
    graph: Any
    platform: Any
    mode: str
    requests: int = 16
    seeds: tuple[int, ...] = (0,)
    cache: Any = None

    def __post_init__(self) -> None:
        if isinstance(self.requests, bool) or not isinstance(self.requests, int) or self.requests < 1:
            raise PolicyError(f"stream objective: requests must be a positive integer, got {self.requests!r}")
        if not self.seeds:
            raise PolicyError("stream objective: seeds must name at least one seed")

    def _setup(self) -> tuple[Any, dict[str, Any]]:
        from sparoa_sim.scenarios import StreamSpec
        from sparoa_sim.scenarios.engine import engine_inputs
        from sparoa_sim.sim.config import SimConfig

        sc = self.scenario
        inp = engine_inputs(sc, self.requests if sc.primary != StreamSpec() else None)
        if sc.stochastic:
            base = SimConfig(mode=self.mode, noise=False, contention=False, dispatch_interference=False,
                             record_trace=False)
        else:
            base = SimConfig(mode=self.mode, reference=True, record_trace=False)
        return inp.config(base), inp.simulator_kwargs()

    def score(self, policy: Any) -> float:
        """Mean latency (s) of the primary stream under engine policy ``policy``, averaged over the seeds."""
        from sparoa_sim.sim.simulator import Simulator

        config, kwargs = self._setup()
        seeds = self.seeds if self.scenario.stochastic else (0,)
        sim = Simulator(self.graph, self.platform, policy, config=config, cache=self.cache, **kwargs)
        return float(np.mean([sim.run(seed=s).latency_mean_s for s in seeds]))


@dataclass(frozen=True)
class LevelObjective:
    """A cheaper proxy under a changing load: one inference at each load level (reference setting, the
    engine's own dispatch of the policy), mean latency over the levels."""

    graph: Any
    platform: Any
    mode: str
    levels: tuple[tuple[float, float], ...]
    batch: int = 1
    cache: Any = None

    def score(self, policy: Any) -> float:
        """Mean over the levels of the reference-setting latency of one inference under ``policy``."""
        from sparoa_sim.agents.exact.refsched import reference_schedule

        return float(np.mean([reference_schedule(self.graph, self.platform, policy, mode=self.mode, batch=self.batch,
                                                 cache=self.cache, load=lv)[0].latency_mean_s for lv in self.levels]))


@dataclass(frozen=True)
class StreamRefinement:
    """What the stream search produced: the policy, its stream score before and after, evaluations (and, with
    a confirming objective, its score there before and after and how many candidates it scored)."""

    policy: LoadAwarePolicy
    start_score: float
    score: float
    evaluations: int
    accepted: int
    train_s: float
    confirm_start: float | None = None
    confirm_score: float | None = None
    confirmations: int = 0


def _features(problems: dict[tuple[float, float], RefProblem]) -> np.ndarray:
    return np.array([[1.0, lc, lg] for lc, lg in problems], dtype=np.float64)


def _flip(policy: LoadAwarePolicy, i: int, level: int, x: np.ndarray, ridge: float) -> LoadAwarePolicy:
    """Operator ``i``'s placement flipped at load level ``level``, its logit refitted (ridge least squares on
    ``[1, load_cpu, load_gpu]``) to ±_LOGIT at every level with the others kept."""
    cur = x @ np.concatenate(([policy.bias[i]], policy.w_load[i]))
    target = np.where(cur > 0.0, _LOGIT, -_LOGIT)
    target[level] = -target[level]
    a = x.T @ x + ridge * np.diag([0.0, 1.0, 1.0])
    coef = np.linalg.lstsq(a, x.T @ target, rcond=None)[0]
    bias, w = policy.bias.copy(), policy.w_load.copy()
    bias[i], w[i] = coef[0], coef[1:]
    return replace(policy, bias=bias, w_load=w)


def _toggle_split(policy: LoadAwarePolicy, i: int) -> LoadAwarePolicy:
    split = policy.split.copy()
    split[i] = 0.0 if split[i] else 1.0
    return replace(policy, split=split)


def _shift(policy: LoadAwarePolicy, i: int, delta: float) -> LoadAwarePolicy:
    prio = policy.prio.copy()
    prio[i] += delta
    return replace(policy, prio=prio)


def refine_in_stream(policy: LoadAwarePolicy, problems: dict[tuple[float, float], RefProblem],
                     objective: Any, *, fixed: bool, time_budget_s: float | None = None,
                     max_evaluations: int | None = None, seed: int = 0, ridge: float = 1e-3,
                     confirm: Any = None) -> StreamRefinement:
    """Local search on the policy's parameters scored by ``objective`` (the stream's mean latency).

    ``objective``: a :class:`StreamObjective` or :class:`LevelObjective` (anything with ``score(engine
    policy)``); ``problems``: the reference problem at each load level the policy is used at (the
    scenario's levels, at its batch); ``fixed``: the policy runs as its schedule at the one load. Moves: flip
    one operator's placement at one level (refitting its logit), or, at a fixed load, shift one operator's
    priority (the per-device order); as the planner, a policy that splits some operator (e.g. from
    :func:`coexec_copy`) also toggles one operator's split (a policy with no split draws exactly as before).
    A move is kept when the score does not get worse; the result is never worse than ``policy`` on the
    objective. ``confirm``: a second, dearer objective (e.g. the whole stream where ``objective`` is a short
    one): a move is then kept only when it improves ``objective`` and does not get worse on ``confirm`` — a
    descent on ``confirm`` screened by ``objective``; the result is never worse than ``policy`` on both.
    """
    if time_budget_s is None and max_evaluations is None:
        raise PolicyError("stream search: give time_budget_s or max_evaluations")
    t0 = now()
    if fixed and len(problems) != 1:
        raise PolicyError(f"stream search: a fixed load has one problem, got {len(problems)}")
    x = _features(problems)
    rng = np.random.default_rng(seed)
    splits = not fixed and bool(policy.split.any())
    best = policy
    start = cur = objective.score(engine_policy(best, problems, fixed))
    evals, accepted = 1, 0
    c_start = c_cur = None if confirm is None else confirm.score(engine_policy(best, problems, fixed))
    confirmations = 0

    def out() -> bool:
        if max_evaluations is not None and evals >= max_evaluations:
            return True
        return time_budget_s is not None and now() - t0 >= time_budget_s

    while not out():
        i = int(rng.integers(policy.n))
        if splits and rng.random() < 0.25:  # co-execute (or stop co-executing) one operator
            cand = _toggle_split(best, i)
        elif fixed and rng.random() < 0.3:
            cand = _shift(best, i, float(rng.normal(0.0, 1.0)))
        elif not fixed and rng.random() < 0.3:  # the operator follows (or stops following) the live backlogs
            cand = _apply(best, ("follow", i, 0), x, ridge)
        else:
            cand = _flip(best, i, int(rng.integers(len(problems))), x, ridge)
        s = objective.score(engine_policy(cand, problems, fixed))
        evals += 1
        if confirm is not None and s < cur:  # with a confirming objective only strict gains are kept
            c = confirm.score(engine_policy(cand, problems, fixed))
            confirmations += 1
            if c > c_cur:
                continue
            c_cur = c
        elif confirm is not None:
            continue
        if s <= cur:
            accepted += s < cur
            best, cur = cand, s
    return StreamRefinement(best, start, cur, evals, accepted, now() - t0, c_start, c_cur,
                            confirmations)


def _planner_moves(policy: LoadAwarePolicy, levels: int) -> list[tuple[str, int, int]]:
    """Every move of the planner's neighbourhood once: (kind, operator, level) — flip the placement at each
    level, follow (or stop following) the live finish times, and, where the policy splits some operator,
    co-execute (or stop co-executing) it."""
    moves = [("flip", i, lv) for i in range(policy.n) for lv in range(levels)]
    moves += [("follow", i, 0) for i in range(policy.n)]
    if policy.split.any():
        moves += [("split", i, 0) for i in range(policy.n)]
    return moves


def _apply(policy: LoadAwarePolicy, move: tuple[str, int, int], x: np.ndarray, ridge: float) -> LoadAwarePolicy:
    """``policy`` after one move of :func:`_planner_moves`."""
    kind, i, lv = move
    if kind == "flip":
        return _flip(policy, i, lv, x, ridge)
    if kind == "split":
        return _toggle_split(policy, i)
    wf = policy.w_finish.copy()
    wf[i] = 0.0 if wf[i] else FOLLOW
    return replace(policy, w_finish=wf)


def sweep_in_stream(policy: LoadAwarePolicy, problems: dict[tuple[float, float], RefProblem], screen: Any,
                    confirm: Any, *, time_budget_s: float | None = None, max_evaluations: int | None = None,
                    seed: int = 0, ridge: float = 1e-3) -> StreamRefinement:
    """The planner's descent on ``confirm`` (the whole stream) by sweeps of its whole neighbourhood.

    Each sweep tries every move of :func:`_planner_moves` once, in an order drawn from ``seed``; a move that
    strictly improves the cheap ``screen`` is scored on ``confirm`` and kept when it is not worse there (the
    screen falls with every kept move, so the search cannot cycle). Sweeps repeat until one keeps nothing — a
    local optimum of the neighbourhood, where the search stops early, so a seed or a slower host changes the
    order moves are met in more than where the search stops — or the budget ends. Unlike
    :func:`refine_in_stream`'s draws with replacement, no neighbour is scored twice before all were scored once.
    The result is never worse than ``policy`` on ``confirm``; ``evaluations`` counts screen scores
    (``confirm`` given as ``screen`` itself — a stream short enough to screen whole — is not scored again)."""
    if time_budget_s is None and max_evaluations is None:
        raise PolicyError("stream sweep: give time_budget_s or max_evaluations")
    t0 = now()
    x = _features(problems)
    rng = np.random.default_rng(seed)
    best = policy
    start = cur = screen.score(engine_policy(best, problems, False))
    c_start = c_cur = start if confirm is screen else confirm.score(engine_policy(best, problems, False))
    evals, accepted, confirmations = 1, 0, 0

    def out() -> bool:
        if max_evaluations is not None and evals >= max_evaluations:
            return True
        return time_budget_s is not None and now() - t0 >= time_budget_s

    improved = True
    while improved and not out():
        improved = False
        moves = _planner_moves(best, len(problems))
        for k in rng.permutation(len(moves)):
            if out():
                break
            cand = _apply(best, moves[int(k)], x, ridge)
            s = screen.score(engine_policy(cand, problems, False))
            evals += 1
            if s >= cur:
                continue
            c = s if confirm is screen else confirm.score(engine_policy(cand, problems, False))
            confirmations += 1
            if c > c_cur:
                continue
            accepted += 1
            improved = True
            best, cur, c_cur = cand, s, c
    return StreamRefinement(best, start, cur, evals, accepted, now() - t0, c_start, c_cur,
                            confirmations)
