"""The exact oracle (docs/architecture.md §6): minimum-latency whole-operator placement and
per-device order of one inference in the engine's reference setting, from OR-Tools CP-SAT.

The model adds the timing rules of :mod:`sparoa_sim.sim.reference` (the one definition the
evaluator :mod:`sparoa_sim.agents.exact.refsched` and the engine's tests use) as constraints
``lhs >= term``, each under the literals of its placement case, in integer ticks (tick ≤ 0.1 %
of a lower bound on the makespan divided by the number of rounded terms on any path, so
rounding moves the makespan by < 0.05 %):

- per operator ``i``: a Boolean ``g[i]`` (GPU), start/end, one optional fixed-size interval per
  device (present iff placed there), AddNoOverlap per device;
- host dispatch: a GPU operator also has a launch interval on the host (AddNoOverlap) of its
  own length ``td[i] = t_dispatch · max(1, kernels[i])`` (one call per kernel), starting no
  earlier than its release ``ready[i]`` (every producer issued: CPU producers finished, GPU
  producers launched); its kernel starts after its launch ends. The
  host launches in GPU order, so for every pair of GPU operators whose order is free one
  Boolean orders both their launches and their kernels the same way;
- transfers: a copy of ``p``'s output to the other device starts at ``max(end[p], min(ready[c]
  over consumers c there))`` and takes ``transfer_time``; the consumer starts after it arrives;
- host I/O: a GPU source waits for the request's input copy, a GPU sink's output is copied back.

The model itself is :mod:`sparoa_sim.agents.exact.cpmodel`; on a totally ordered graph (a chain with skip edges) the exact optimum of its spine
(:mod:`sparoa_sim.agents.exact.spine`) is a proven lower bound and a start (issue 21).

Opt-in levers (issue 21, ``solve_oracle``'s ``search_evals``, ``subsolvers``, ``chain_bound``,
``work_bound_s``): an iterated local search from the best start
(:mod:`sparoa_sim.agents.exact.localsearch`), CP-SAT's full-problem workers, for graphs that are
chains apart from side branches the optimum of the chain left after dropping them
(:mod:`sparoa_sim.agents.exact.relax`), and a MIP relaxation of placement, work per device between
cut operators and paths with copy costs (:mod:`sparoa_sim.agents.exact.workbound`): both proven
lower bounds fed as the makespan's floor.

Warm start: the best of the whole-operator heuristics (CPU-only, GPU-only, threshold rule,
greedy, HEFT), the spine's optimum and a caller's ``hint`` (e.g. a learned schedule), replayed
exactly, is the solution hint and its makespan the horizon. The result's
``latency_s`` is the exact latency of the returned schedule (the engine replays it to the last
bit); the solver's tick objective ``objective_s`` is within 0.05 % of it (both tested).

At a fixed background load (``load=(cpu, gpu)``, issue 25) every rate is still constant, so the model
stays the same linear one over the latencies at that load (``RefProblem.build(..., load=)``); the engine
replays it under ``SimConfig(reference=True, background=LoadTrace.fixed(cpu, gpu))``.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sparoa_sim.errors import SimulationError
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.hwmodels import Platform
from sparoa_sim.sim.policies import CpuOnly, GpuOnly, PolicyContext, StaticSchedule, ThresholdPolicy
from sparoa_sim.sim.hwstate import as_load_pair
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.sim import reference as rules
from sparoa_sim.sim.view import OpView

from sparoa_sim.agents.heuristics.baselines import Greedy, heft_schedule
from sparoa_sim.agents.exact.budget import (Budget, BudgetSpent, OracleInterrupted, check_oracle_size,
                                            solve_interruptibly)
from sparoa_sim.agents.exact.cpmodel import OracleModel
from sparoa_sim.agents.exact.localsearch import improve_schedule
from sparoa_sim.agents.exact.relax import relaxed_optimum
from sparoa_sim.agents.exact.refsched import RefProblem, evaluate, reference_schedule
from sparoa_sim.agents.exact.spine import spine_optimum
from sparoa_sim.agents.exact.workbound import work_bound

__all__ = ["Oracle", "OracleInterrupted", "OracleResult", "solve_oracle", "whole_op_heuristics"]

#: Relative rounding budget of the integer ticks (< 0.1 % of the makespan, docs/architecture.md §6).
ROUNDING = 1e-3


@dataclass(frozen=True)
class OracleResult:
    """What the oracle found: the schedule, its exact reference-setting latency (what the engine
    replays), the solver's objective and proven lower bound in rounded ticks (each within 0.05 %
    of its exact value), and the status; ``load``: the fixed (cpu, gpu) background share solved at;
    ``interrupted``: Ctrl-C stopped the solver (the best schedule so far, never the answer)."""

    schedule: StaticSchedule
    latency_s: float
    bound_s: float
    objective_s: float
    optimal: bool
    status: str
    solve_time_s: float
    tick_s: float
    hint_latency_s: float
    hint_policy: str
    n_ops: int
    workload: str
    batch: int
    mode: str
    precision: str
    num_workers: int
    random_seed: int
    time_limit_s: float
    heuristics_s: dict[str, float] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)
    interrupted: bool = False

    @property
    def gap(self) -> float:
        """Relative distance between the schedule and the bound (0 when optimal)."""
        return (self.latency_s - self.bound_s) / self.latency_s if self.latency_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (the schedule as its document under ``schedule``)."""
        return {"workload": self.workload, "n_ops": self.n_ops, "batch": self.batch, "mode": self.mode,
                "precision": self.precision, "latency_s": self.latency_s, "bound_s": self.bound_s, "objective_s": self.objective_s,
                "optimal": self.optimal, "status": self.status, "gap": self.gap, "solve_time_s": self.solve_time_s,
                "tick_s": self.tick_s, "hint_latency_s": self.hint_latency_s, "hint_policy": self.hint_policy,
                "num_workers": self.num_workers, "random_seed": self.random_seed,
                "time_limit_s": self.time_limit_s, "heuristics_s": dict(self.heuristics_s), "load": list(self.load),
                "interrupted": self.interrupted, "gpu_ops": int(sum(self.schedule.placement)),
                "schedule": self.schedule.to_dict()}


def whole_op_heuristics(graph: OpGraph, platform: Platform, *, mode: str | None = None, batch: int = 1,
                        precision: str = "fp32", cache: PredictionCache | None = None,
                        load: tuple[float, float] = (0.0, 0.0)) -> dict[str, tuple[float, StaticSchedule]]:
    """Reference-setting latency and the static schedule of each whole-operator heuristic at a
    fixed (cpu, gpu) background ``load``."""
    load = as_load_pair(load)
    cache = PredictionCache() if cache is None else cache
    out: dict[str, tuple[float, StaticSchedule]] = {}
    for name, pol in (("cpu", CpuOnly()), ("gpu", GpuOnly()), ("threshold", ThresholdPolicy()), ("greedy", Greedy())):
        res, sched = reference_schedule(graph, platform, pol, mode=mode, batch=batch, precision=precision, cache=cache,
                                        load=load)
        out[name] = (res.latency_mean_s, sched)
    p = RefProblem.build(graph, platform, mode=mode, batch=batch, precision=precision, cache=cache, load=load)
    h = heft_schedule(p, workload=graph.name)
    out["heft"] = (evaluate(p, h.placement, h.order).makespan, h)
    return out


class Ticks:
    """A problem's durations in integer ticks (every positive one at least 1): the model's units."""

    def __init__(self, p: RefProblem, tick: float) -> None:
        self.tick = tick
        r = lambda v: max(1, int(round(v / tick)))  # noqa: E731 - every positive duration ≥ 1 tick
        self.lc = [r(v) for v in p.lat_cpu]
        self.lg = [r(v) for v in p.lat_gpu]
        self.x = [r(v) for v in p.xfer]
        self.td = [int(round(v / tick)) for v in p.td_gpu]  # per operator; may round to 0 ticks

    def durations(self) -> tuple[list[int], list[int], list[int], list[int]]:
        """(CPU latencies, GPU latencies, copy times, launch times) as :func:`evaluate` takes them."""
        return self.lc, self.lg, self.x, self.td


def tick_for(p: RefProblem) -> float:
    """Tick size: worst-case rounding (½ tick per term, ≤ 3n + 2 terms on a path) ≤ ROUNDING/2 of a
    lower bound on the makespan."""
    lb = p.lower_bound_s()
    if not lb > 0:
        raise SimulationError(f"oracle: workload {p.name!r} has no positive latency to schedule")
    return ROUNDING * lb / (3 * p.n + 2)


def _schedule_from_solution(solver, mod: OracleModel, n: int, workload: str) -> StaticSchedule:
    gpu = [bool(solver.boolean_value(mod.g[i])) for i in range(n)]
    st = [solver.value(mod.st[i]) for i in range(n)]
    cpu_order = sorted((i for i in range(n) if not gpu[i]), key=lambda i: (st[i], i))
    gpu_order = sorted((i for i in range(n) if gpu[i]), key=lambda i: (st[i], i))
    return StaticSchedule([1.0 if x else 0.0 for x in gpu], order={"cpu": cpu_order, "gpu": gpu_order},
                          workload=workload)


def _check_params(time_limit_s: float, num_workers: int, random_seed: int) -> None:
    if isinstance(time_limit_s, bool) or not isinstance(time_limit_s, (int, float)) or not (
            math.isfinite(time_limit_s) and time_limit_s > 0):
        raise SimulationError(f"oracle: time limit must be a positive number of seconds, got {time_limit_s!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or not 1 <= num_workers <= 1024:
        raise SimulationError(f"oracle: workers must be an integer in [1, 1024], got {num_workers!r}")
    if isinstance(random_seed, bool) or not isinstance(random_seed, int) or not 0 <= random_seed <= 2**31 - 1:
        raise SimulationError(f"oracle: seed must be an integer in [0, 2**31 - 1] (CP-SAT's), got {random_seed!r}")


def _hint_candidates(graph: OpGraph, platform: Platform, p: RefProblem, hint: StaticSchedule | None, *,
                     mode: str | None, batch: int, precision: str, cache: PredictionCache,
                     load: tuple[float, float]) -> tuple[dict[str, tuple[float, StaticSchedule]], dict[str, tuple[float, StaticSchedule]]]:
    """The whole-operator heuristics and the caller's ``hint`` (as ``"given"``), each as (exact
    latency, schedule with per-device orders: a hint without orders takes the engine's)."""
    heur = whole_op_heuristics(graph, platform, mode=mode, batch=batch, precision=precision, cache=cache, load=load)
    cands = dict(heur)
    if hint is not None:
        if not isinstance(hint, StaticSchedule):
            raise SimulationError(f"oracle: hint must be a StaticSchedule, got {type(hint).__name__}")
        try:
            if hint.order is None:  # the order the engine runs it in, at the load
                _res, hint = reference_schedule(graph, platform, hint, mode=mode, batch=batch, precision=precision,
                                                cache=cache, load=load)
            cands["given"] = (evaluate(p, hint.placement, hint.order).makespan, hint)
        except SimulationError as e:
            raise SimulationError(f"oracle: hint: {e}") from None
    return heur, cands


def _spine_candidate(p: RefProblem, placement: tuple[float, ...], workload: str) -> tuple[float, StaticSchedule]:
    """The spine optimum's placement on the whole (totally ordered) graph: orders by index."""
    order = {"cpu": [i for i in range(p.n) if placement[i] == 0.0], "gpu": [i for i in range(p.n) if placement[i] == 1.0]}
    sched = StaticSchedule(list(placement), order=order, workload=workload)
    return evaluate(p, sched.placement, sched.order).makespan, sched


@functools.lru_cache(maxsize=None)
def _known_subsolver(name: str) -> bool:
    """Whether CP-SAT accepts ``name`` as a subsolver (a trivial model is invalid otherwise)."""
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    m.minimize(m.new_int_var(0, 1, "x"))
    solver = cp_model.CpSolver()
    solver.parameters.catch_sigint_signal = False  # CP-SAT's handler would outlive the solve: Ctrl-C then kills
    solver.parameters.num_workers = 2
    solver.parameters.subsolvers.append(name)
    return solver.solve(m) != cp_model.MODEL_INVALID


def _check_subsolvers(subsolvers: Any) -> tuple[str, ...]:
    if isinstance(subsolvers, str) or not all(isinstance(s, str) for s in subsolvers):
        raise SimulationError(f"oracle: subsolvers must be a sequence of CP-SAT subsolver names, got {subsolvers!r}")
    for s in subsolvers:
        if not _known_subsolver(s):
            raise SimulationError(f"oracle: subsolvers: CP-SAT has no subsolver {s!r} (e.g. default_lp, probing, "
                                  "objective_lb_search)")
    return tuple(subsolvers)


def _configure(solver, time_limit_s: float, num_workers: int, random_seed: int,
               subsolvers: tuple[str, ...] = ()) -> None:
    """Solver parameters: the time limit, workers, seed and, where given, the full-problem
    subsolvers of CP-SAT's portfolio (CP-SAT's defaults otherwise; see
    :mod:`~sparoa_sim.agents.exact.cpmodel` for what was measured)."""
    prm = solver.parameters
    prm.max_time_in_seconds = float(time_limit_s)
    prm.num_workers = int(num_workers)
    prm.random_seed = int(random_seed)
    if subsolvers:
        prm.subsolvers.extend(subsolvers)


def solve_oracle(graph: OpGraph, platform: Platform, *, mode: str | None = None, batch: int = 1,
                 precision: str = "fp32", time_limit_s: float = 10.0, num_workers: int = 1, random_seed: int = 0,
                 cache: PredictionCache | None = None, log: Callable[[str], None] | None = None,
                 load: tuple[float, float] = (0.0, 0.0), hint: StaticSchedule | None = None,
                 search_evals: int = 0, subsolvers: tuple[str, ...] = (), chain_bound: bool = False,
                 work_bound_s: float = 0.0) -> OracleResult:
    """Solve the oracle for one inference of ``graph`` at ``batch`` and a fixed (cpu, gpu)
    background ``load`` (see the module docstring).

    ``num_workers=1`` with a fixed ``random_seed`` is reproducible (same input → same schedule).
    ``log`` receives progress lines (e.g. ``print`` to stderr). Status ``OPTIMAL`` → ``optimal``;
    ``FEASIBLE`` → the best schedule within the time limit and the proven bound. ``hint``: a
    whole-operator schedule to start from (e.g. a learned policy's; orders optional) — the solver
    starts from the best of it and the heuristics (``hint_policy`` ``"given"`` when it is).

    ``time_limit_s`` covers the whole call: after the whole-operator heuristics (always computed:
    they are the fallback), each phase runs only while time is left, and the solver gets what
    remains (status ``UNKNOWN`` and the best start when nothing does). Graphs above
    :data:`~sparoa_sim.agents.exact.budget.MAX_ORACLE_OPS` operators are refused up front. Ctrl-C
    during the solve raises :class:`OracleInterrupted` carrying the best schedule found, marked
    ``interrupted`` (CP-SAT alone would return it as ``FEASIBLE``).

    Opt-in (issue 21): ``search_evals`` > 0 runs an iterated local search of that many exact
    evaluations from the best start (:mod:`~sparoa_sim.agents.exact.localsearch`, seeded by
    ``random_seed``; at most half the time left) and adds its schedule as the start
    ``"local-search"``; ``subsolvers`` names CP-SAT's full-problem workers (e.g. ``("probing",)``,
    used with 2 or more workers); ``chain_bound`` adds the optimum of the chain left after dropping
    side branches as a proven lower bound (:mod:`~sparoa_sim.agents.exact.relax`); ``work_bound_s`` > 0
    gives that many seconds (at most a third of the time left) to the placement/work/path MIP
    relaxation (:mod:`~sparoa_sim.agents.exact.workbound`), whose dual bound is another proven floor.
    """
    _check_params(time_limit_s, num_workers, random_seed)
    subsolvers = _check_subsolvers(subsolvers)
    if isinstance(search_evals, bool) or not isinstance(search_evals, int) or search_evals < 0:
        raise SimulationError(f"oracle: search_evals must be a non-negative integer, got {search_evals!r}")
    if isinstance(work_bound_s, bool) or not isinstance(work_bound_s, (int, float)) or not 0 <= work_bound_s < math.inf:
        raise SimulationError(f"oracle: work_bound_s must be a non-negative number of seconds, got {work_bound_s!r}")
    budget = Budget(time_limit_s)
    from ortools.sat.python import cp_model  # noqa: F401 - loaded now, not when Ctrl-C may land mid-import
    check_oracle_size(len(graph.ops), graph.name)
    load = as_load_pair(load)
    say = log or (lambda _s: None)
    cache = PredictionCache() if cache is None else cache
    p = RefProblem.build(graph, platform, mode=mode, batch=batch, precision=precision, cache=cache, load=load)
    if p.cpu_dispatch:
        raise SimulationError(f"oracle: platform {platform.name!r} charges host dispatch time to CPU operators "
                              f"(t_dispatch = {max(p.td_cpu)} s per operator at most); the oracle models GPU "
                              "launches only")
    heur, cands = _hint_candidates(graph, platform, p, hint, mode=mode, batch=batch, precision=precision,
                                   cache=cache, load=load)
    tick = tick_for(p)
    ticks = Ticks(p, tick)
    # totally ordered graphs: a bound and a start
    spine_ticks = None if budget.spent() else spine_optimum(p, ticks.durations())
    if spine_ticks is not None:
        cands["chain-dp"] = _spine_candidate(p, spine_ticks.placement, graph.name)
    # almost-chains, opt-in: the optimum of the chain left after dropping side branches (a bound)
    relaxed_ticks = relaxed_optimum(p, ticks.durations()) if chain_bound and spine_ticks is None else None
    lower_ticks = max((int(o.latency) for o in (spine_ticks, relaxed_ticks) if o is not None), default=0)
    if search_evals and not budget.spent():
        first = min(cands, key=lambda k: cands[k][0])
        half = budget.elapsed() + budget.left() / 2
        found = improve_schedule(p, cands[first][1], evaluations=search_evals, seed=random_seed,
                                 stop=lambda: budget.elapsed() >= half)
        cands["local-search"] = (evaluate(p, found.schedule.placement, found.schedule.order).makespan, found.schedule)
        say(f"oracle: local search from {first} {found.start_latency_s * 1e3:.4g} ms: "
            f"{found.latency_s * 1e3:.4g} ms in {found.evaluations} evaluations")
    best_name, best_times = _best_start(p, cands, ticks, budget)
    hint_sched = cands[best_name][1]
    work_ticks = _work_bound(p, ticks, best_times.makespan, work_bound_s, budget, say)
    lower_ticks = max(lower_ticks, work_ticks)
    at = f", load cpu {load[0]:g} gpu {load[1]:g}" if load != (0.0, 0.0) else ""
    say(f"oracle: {graph.name} ({p.n} ops, batch {batch}, {p.mode}{at}): best start {best_name} "
        f"{cands[best_name][0] * 1e3:.4g} ms; tick {tick * 1e9:.3g} ns, horizon {best_times.makespan} ticks")
    solver, mod, status, interrupted = _run_solver(p, ticks, best_times, lower_ticks, budget, num_workers,
                                                   random_seed, say, subsolvers)
    name = "UNKNOWN" if solver is None else solver.status_name(status)
    lb_s = p.lower_bound_s()
    if spine_ticks is not None:
        lb_s = max(lb_s, spine_optimum(p).latency)
    if relaxed_ticks is not None:
        lb_s = max(lb_s, relaxed_optimum(p).latency)
    lb_s = max(lb_s, work_ticks * tick)  # in rounded ticks, like the solver's own bound
    if solver is None:  # the budget ran out before the solver started: the best start, the known bound
        sched = cands[best_name][1]
        objective = best_times.makespan * tick
        bound = lb_s
    elif status in (mod.cp_model.OPTIMAL, mod.cp_model.FEASIBLE):
        sched = _schedule_from_solution(solver, mod, p.n, graph.name)
        objective = solver.objective_value * tick
        bound = max(solver.best_objective_bound * tick, lb_s)
    elif status == mod.cp_model.INFEASIBLE:  # pragma: no cover - the hint is a feasible solution
        raise SimulationError(f"oracle: CP-SAT found the model of {graph.name!r} infeasible (model error)")
    else:  # no solution within the limit: keep the best start
        sched = hint_sched
        objective = best_times.makespan * tick
        bound = max(solver.best_objective_bound * tick, lb_s)
    latency = evaluate(p, sched.placement, sched.order).makespan
    optimal = solver is not None and status == mod.cp_model.OPTIMAL
    interrupted = interrupted and not optimal  # a proof that came first stands
    elapsed = budget.elapsed()
    say(f"oracle: {name}{' (interrupted)' if interrupted else ''} latency {latency * 1e3:.4g} ms, "
        f"bound {bound * 1e3:.4g} ms, {elapsed:.2f} s")
    result = OracleResult(schedule=sched, latency_s=float(latency), bound_s=float(min(bound, latency)),
                          objective_s=float(objective),
                          optimal=optimal, status=name, solve_time_s=elapsed, tick_s=tick,
                          hint_latency_s=float(cands[best_name][0]), hint_policy=best_name, n_ops=p.n,
                          workload=graph.name, batch=int(batch), mode=p.mode, precision=precision,
                          num_workers=int(num_workers), random_seed=int(random_seed),
                          time_limit_s=float(time_limit_s), heuristics_s={k: float(v[0]) for k, v in heur.items()},
                          load=load, interrupted=interrupted)
    if interrupted:
        raise OracleInterrupted(result)
    return result


def _best_start(p: RefProblem, cands: dict[str, tuple[float, StaticSchedule]], ticks: Ticks,
                budget: Budget) -> tuple[str, Any]:
    """The candidate with the shortest makespan in ticks (the first in ``cands`` on ties). The best
    in seconds is evaluated first; once the budget is spent, no further candidate is."""
    names = list(cands)
    first = min(names, key=lambda k: cands[k][0])
    best: tuple[int, int, str, Any] | None = None  # (makespan, position, name, times)
    for name in [first] + [k for k in names if k != first]:
        if best is not None and budget.spent():
            break
        sched = cands[name][1]
        tt = evaluate(p, sched.placement, sched.order, ticks.durations())
        key = (tt.makespan, names.index(name), name, tt)
        if best is None or key[:2] < best[:2]:
            best = key
    assert best is not None
    return best[2], best[3]


def _work_bound(p: RefProblem, ticks: Ticks, horizon: int, seconds: float, budget: Budget,
                say: Callable[[str], None]) -> int:
    """The work relaxation's proven bound in ticks (0 when off or out of time): its MIP gets
    ``seconds``, at most a third of what is left."""
    if seconds <= 0 or budget.spent():
        return 0
    limit = min(float(seconds), budget.left() / 3)
    bound, solved = work_bound(p, ticks.durations(), horizon=horizon, time_limit_s=limit)
    say(f"oracle: work relaxation bound {bound:.0f} ticks ({'optimal' if solved else 'dual bound'}, {limit:.1f} s)")
    return int(math.floor(bound))


def _run_solver(p: RefProblem, ticks: Ticks, best_times: Any, lower_ticks: int, budget: Budget, num_workers: int,
                random_seed: int, say: Callable[[str], None], subsolvers: tuple[str, ...] = ()
                ) -> tuple[Any, Any, Any, bool]:
    """Build the model and solve it within what is left of ``budget``: (solver, model, status,
    interrupted); (None, None, None, False) when the budget ran out first."""
    try:
        budget.check()
        mod = OracleModel(p, ticks.durations(), int(best_times.makespan),
                          lower_bound=lower_ticks, check=budget.check)
        mod.hint(p, best_times)
        budget.check()
    except BudgetSpent:
        say(f"oracle: time limit of {budget.limit_s:g} s reached after {budget.elapsed():.2f} s, before the "
            "solver started: keeping the best start")
        return None, None, None, False
    solver = mod.cp_model.CpSolver()
    _configure(solver, budget.left(), num_workers, random_seed, subsolvers)
    status, interrupted = solve_interruptibly(solver, mod.m)
    return solver, mod, status, interrupted


def stderr_log(line: str) -> None:
    """Progress to stderr (for the CLI and benchmarks)."""
    print(line, file=sys.stderr, flush=True)


class Oracle:
    """The oracle as a policy: solves at ``reset`` (per graph, platform, mode, batch) and replays
    the schedule — ``sparoa simulate --policy oracle``; ``load``: the fixed (cpu, gpu) background
    share it plans for (the run's ``LoadTrace.fixed``)."""

    name = "oracle"

    def __init__(self, time_limit_s: float = 10.0, num_workers: int = 1, random_seed: int = 0,
                 load: tuple[float, float] = (0.0, 0.0)) -> None:
        _check_params(time_limit_s, num_workers, random_seed)
        self.load = as_load_pair(load)
        self.time_limit_s = time_limit_s
        self.num_workers = num_workers
        self.random_seed = random_seed
        self.result: OracleResult | None = None
        self.order: dict[str, tuple[int, ...]] | None = None
        self._key: tuple | None = None

    def reset(self, ctx: PolicyContext) -> None:
        key = (id(ctx.graph), id(ctx.platform), ctx.mode, ctx.precision, ctx.max_batch)
        if key != self._key:
            self.result = solve_oracle(ctx.graph, ctx.platform, mode=ctx.mode, batch=ctx.max_batch,
                                       precision=ctx.precision, time_limit_s=self.time_limit_s,
                                       num_workers=self.num_workers, random_seed=self.random_seed, load=self.load)
            self.order = self.result.schedule.order
            self._key = key
        self.result.schedule.reset(ctx)

    def decide(self, view: OpView) -> float:
        if self.result is None:
            raise SimulationError("oracle: decide() before reset(); run it through the simulator")
        return self.result.schedule.decide(view)

    def __repr__(self) -> str:
        at = "" if self.load == (0.0, 0.0) else f", load={self.load}"
        return f"Oracle(time_limit_s={self.time_limit_s}, num_workers={self.num_workers}, seed={self.random_seed}{at})"
