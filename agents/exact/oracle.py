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

Warm start: the best of the whole-operator heuristics (CPU-only, GPU-only, threshold rule,
greedy, HEFT), replayed exactly, is the solution hint and its makespan the horizon. The result's
``latency_s`` is the exact latency of the returned schedule (the engine replays it to the last
bit); the solver's tick objective ``objective_s`` is within 0.05 % of it (both tested).

At a fixed background load (``load=(cpu, gpu)``, issue 25) every rate is still constant, so the model
stays the same linear one over the latencies at that load (``RefProblem.build(..., load=)``); the engine
replays it under ``SimConfig(reference=True, background=LoadTrace.fixed(cpu, gpu))``.
"""

from __future__ import annotations

import math
import sys
import time
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
from sparoa_sim.agents.exact.refsched import RefProblem, RefTimes, evaluate, incomparable_pairs, reference_schedule

__all__ = ["Oracle", "OracleResult", "solve_oracle", "whole_op_heuristics"]

#: Relative rounding budget of the integer ticks (< 0.1 % of the makespan, docs/architecture.md §6).
ROUNDING = 1e-3


@dataclass(frozen=True)
class OracleResult:
    """What the oracle found: the schedule, its exact reference-setting latency (what the engine
    replays), the solver's objective and proven lower bound in rounded ticks (each within 0.05 %
    of its exact value), and the status; ``load``: the fixed (cpu, gpu) background share solved at."""

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
                "gpu_ops": int(sum(self.schedule.placement)), "schedule": self.schedule.to_dict()}


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


class _Model:
    """The CP-SAT model of one problem (see the module docstring); variables kept by name."""

    def __init__(self, p: RefProblem, t: Ticks, horizon: int) -> None:
        from ortools.sat.python import cp_model

        self.cp_model = cp_model
        m = cp_model.CpModel()
        self.m = m
        n, H = p.n, horizon
        self.H = H
        td = t.td
        self.g = [m.new_bool_var(f"g{i}") for i in range(n)]
        self.st = [m.new_int_var(0, H, f"st{i}") for i in range(n)]
        self.en = [m.new_int_var(0, H, f"en{i}") for i in range(n)]
        self.launch = [m.new_int_var(0, H, f"L{i}") for i in range(n)]
        self.iss = [m.new_int_var(0, H, f"iss{i}") for i in range(n)]
        self.ready = [m.new_int_var(0, H, f"ready{i}") for i in range(n)]
        g, st, en, L, iss, ready = self.g, self.st, self.en, self.launch, self.iss, self.ready
        cpu_iv, gpu_iv, host_iv = [], [], []
        for i in range(n):
            gi, ci = g[i], ~g[i]
            cpu_iv.append(m.new_optional_fixed_size_interval_var(st[i], t.lc[i], ci, f"cpu{i}"))
            gpu_iv.append(m.new_optional_fixed_size_interval_var(st[i], t.lg[i], gi, f"gpu{i}"))
            host_iv.append(m.new_optional_fixed_size_interval_var(L[i], td[i], gi, f"host{i}"))
            m.add(en[i] == rules.end_time(st[i], t.lc[i])).only_enforce_if(ci)
            m.add(en[i] == rules.end_time(st[i], t.lg[i])).only_enforce_if(gi)
            m.add(iss[i] >= rules.issue_time(False, launch=L[i], td=td[i], end=en[i])).only_enforce_if(ci)
            m.add(iss[i] >= rules.issue_time(True, launch=L[i], td=td[i], end=en[i])).only_enforce_if(gi)
            m.add(L[i] == 0).only_enforce_if(ci)  # unused on the CPU: pinned
            for term in rules.launch_terms(ready=ready[i]):
                m.add(L[i] >= term).only_enforce_if(gi)
            for term in rules.gpu_start_terms(launch=L[i], td=td[i]):
                m.add(st[i] >= term).only_enforce_if(gi)
            for q in p.deps[i]:
                for term in rules.release_terms([iss[q]]):
                    m.add(ready[i] >= term)
                m.add(st[i] >= en[q])  # implied by the rules (copies follow ends; stream order): tightens
            arrival = rules.input_copy(p.host_io, not p.deps[i], t.x[n])
            for term in rules.gpu_start_terms(input_arrival=arrival):
                m.add(st[i] >= term).only_enforce_if(gi)
        m.add_no_overlap(cpu_iv)
        m.add_no_overlap(gpu_iv)
        if any(v > 0 for v in td):
            m.add_no_overlap(host_iv)
        # release times as seen by each device (H where the consumer is on the other device)
        self.r_gpu = [None] * n
        self.r_cpu = [None] * n
        for c in range(n):
            if not p.deps[c]:
                continue
            rg = m.new_int_var(0, H, f"rg{c}")
            rc = m.new_int_var(0, H, f"rc{c}")
            m.add(rg >= ready[c]).only_enforce_if(g[c])
            m.add(rg == H).only_enforce_if(~g[c])
            m.add(rc >= ready[c]).only_enforce_if(~g[c])
            m.add(rc == H).only_enforce_if(g[c])
            self.r_gpu[c], self.r_cpu[c] = rg, rc
        # copy starts (first_need as a min equality over the consumers' device-wise releases)
        self.xs_gpu = [None] * n
        self.xs_cpu = [None] * n
        self.min_gpu = [None] * n
        self.min_cpu = [None] * n
        for q in range(n):
            cons = p.cons[q]
            if not cons:
                continue
            for dev, rs, mins, xss in (("g", self.r_gpu, self.min_gpu, self.xs_gpu),
                                       ("c", self.r_cpu, self.min_cpu, self.xs_cpu)):
                mn = m.new_int_var(0, H, f"min{dev}{q}")
                m.add_min_equality(mn, [rs[c] for c in cons])
                xs = m.new_int_var(0, H, f"xs{dev}{q}")
                for term in rules.copy_start_terms(en[q], mn):
                    m.add(xs >= term)
                mins[q], xss[q] = mn, xs
            for c in cons:
                for term in rules.gpu_start_terms(copies_in=[rules.copy_arrival(self.xs_gpu[q], t.x[q])]):
                    m.add(st[c] >= term).only_enforce_if([g[c], ~g[q]])
                for term in rules.cpu_start_terms(inputs=[rules.copy_arrival(self.xs_cpu[q], t.x[q])]):
                    m.add(st[c] >= term).only_enforce_if([~g[c], g[q]])
        # launch order = kernel order, for GPU pairs whose order is not forced by the graph
        self.pairs = incomparable_pairs(p)
        self.before = []
        for i, j in self.pairs:
            b = m.new_bool_var(f"b{i}_{j}")
            self.before.append(b)
            for first, then, lits in ((i, j, [g[i], g[j], b]), (j, i, [g[i], g[j], ~b])):
                for term in rules.launch_terms(prev_launch=L[first], td=td[first]):
                    m.add(L[then] >= term).only_enforce_if(lits)
                for term in rules.gpu_start_terms(prev_end=en[first]):
                    m.add(st[then] >= term).only_enforce_if(lits)
        self.makespan = m.new_int_var(0, H, "makespan")
        for i in range(n):
            for term in rules.completion_terms(en[i]):  # either device
                m.add(self.makespan >= term)
            out = rules.output_copy(p.host_io, True, not p.cons[i], t.x[i])
            if out is not None:  # the copy home, if it is on the GPU
                m.add(self.makespan >= rules.completion_terms(en[i], out)[-1]).only_enforce_if(g[i])
        m.minimize(self.makespan)

    def hint(self, p: RefProblem, times: RefTimes) -> None:
        """Hint every variable with the exact (tick) timing of a schedule."""
        m, H = self.m, self.H
        n = p.n
        for i in range(n):
            gi = times.gpu[i]
            m.add_hint(self.g[i], gi)
            m.add_hint(self.st[i], times.start[i])
            m.add_hint(self.en[i], times.end[i])
            m.add_hint(self.launch[i], times.launch[i] if gi else 0)
            m.add_hint(self.iss[i], times.issue[i])
            m.add_hint(self.ready[i], times.ready[i])
            if self.r_gpu[i] is not None:
                m.add_hint(self.r_gpu[i], times.ready[i] if gi else H)
                m.add_hint(self.r_cpu[i], H if gi else times.ready[i])
        for q in range(n):
            if self.xs_gpu[q] is None:
                continue
            for d, mins, xss in ((True, self.min_gpu, self.xs_gpu), (False, self.min_cpu, self.xs_cpu)):
                mn = min((times.ready[c] if times.gpu[c] == d else H for c in p.cons[q]), default=H)
                m.add_hint(mins[q], mn)
                m.add_hint(xss[q], max(times.end[q], mn))
        for (i, j), b in zip(self.pairs, self.before):
            if times.gpu[i] and times.gpu[j]:
                m.add_hint(b, times.launch[i] < times.launch[j])
            else:
                m.add_hint(b, i < j)
        m.add_hint(self.makespan, times.makespan)


def _schedule_from_solution(solver, mod: _Model, n: int, workload: str) -> StaticSchedule:
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


def solve_oracle(graph: OpGraph, platform: Platform, *, mode: str | None = None, batch: int = 1,
                 precision: str = "fp32", time_limit_s: float = 10.0, num_workers: int = 1, random_seed: int = 0,
                 cache: PredictionCache | None = None, log: Callable[[str], None] | None = None,
                 load: tuple[float, float] = (0.0, 0.0)) -> OracleResult:
    """Solve the oracle for one inference of ``graph`` at ``batch`` and a fixed (cpu, gpu)
    background ``load`` (see the module docstring).

    ``num_workers=1`` with a fixed ``random_seed`` is reproducible (same input → same schedule).
    ``log`` receives progress lines (e.g. ``print`` to stderr). Status ``OPTIMAL`` → ``optimal``;
    ``FEASIBLE`` → the best schedule within the time limit and the proven bound.
    """
    _check_params(time_limit_s, num_workers, random_seed)
    load = as_load_pair(load)
    say = log or (lambda _s: None)
    cache = PredictionCache() if cache is None else cache
    p = RefProblem.build(graph, platform, mode=mode, batch=batch, precision=precision, cache=cache, load=load)
    if p.cpu_dispatch:
        raise SimulationError(f"oracle: platform {platform.name!r} charges host dispatch time to CPU operators "
                              f"(t_dispatch = {max(p.td_cpu)} s per operator at most); the oracle models GPU "
                              "launches only")
    t0 = time.perf_counter()
    heur = whole_op_heuristics(graph, platform, mode=mode, batch=batch, precision=precision, cache=cache, load=load)
    tick = tick_for(p)
    ticks = Ticks(p, tick)
    best_name, best_times = None, None
    for name, (_lat, sched) in heur.items():
        tt = evaluate(p, sched.placement, sched.order, ticks.durations())
        if best_times is None or tt.makespan < best_times.makespan:
            best_name, best_times = name, tt
    assert best_times is not None and best_name is not None
    hint_sched = heur[best_name][1]
    at = f", load cpu {load[0]:g} gpu {load[1]:g}" if load != (0.0, 0.0) else ""
    say(f"oracle: {graph.name} ({p.n} ops, batch {batch}, {p.mode}{at}): best heuristic {best_name} "
        f"{heur[best_name][0] * 1e3:.4g} ms; tick {tick * 1e9:.3g} ns, horizon {best_times.makespan} ticks")
    mod = _Model(p, ticks, int(best_times.makespan))
    mod.hint(p, best_times)
    solver = mod.cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(num_workers)
    solver.parameters.random_seed = int(random_seed)
    status = solver.solve(mod.m)
    name = solver.status_name(status)
    elapsed = time.perf_counter() - t0
    lb_s = p.lower_bound_s()
    if status in (mod.cp_model.OPTIMAL, mod.cp_model.FEASIBLE):
        sched = _schedule_from_solution(solver, mod, p.n, graph.name)
        objective = solver.objective_value * tick
        bound = max(solver.best_objective_bound * tick, lb_s)
    elif status == mod.cp_model.INFEASIBLE:  # pragma: no cover - the hint is a feasible solution
        raise SimulationError(f"oracle: CP-SAT found the model of {graph.name!r} infeasible (model error)")
    else:  # no solution within the limit: keep the heuristic
        sched = hint_sched
        objective = best_times.makespan * tick
        bound = max(solver.best_objective_bound * tick, lb_s)
    latency = evaluate(p, sched.placement, sched.order).makespan
    optimal = status == mod.cp_model.OPTIMAL
    say(f"oracle: {name} latency {latency * 1e3:.4g} ms, bound {bound * 1e3:.4g} ms, {elapsed:.2f} s")
    return OracleResult(schedule=sched, latency_s=float(latency), bound_s=float(min(bound, latency)),
                        objective_s=float(objective),
                        optimal=optimal, status=name, solve_time_s=elapsed, tick_s=tick,
                        hint_latency_s=float(heur[best_name][0]), hint_policy=best_name, n_ops=p.n,
                        workload=graph.name, batch=int(batch), mode=p.mode, precision=precision,
                        num_workers=int(num_workers), random_seed=int(random_seed), time_limit_s=float(time_limit_s),
                        heuristics_s={k: float(v[0]) for k, v in heur.items()}, load=load)


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
