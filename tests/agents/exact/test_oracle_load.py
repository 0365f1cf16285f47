"""The oracle, the evaluator and the heuristics at a fixed background load (issue 25): the oracle
matches brute force on small random DAGs, the engine replays every schedule to its latency, and
the load enters as ``PredTables.at_load``."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.agents.exact.oracle import ROUNDING, Oracle, Ticks, solve_oracle, tick_for, whole_op_heuristics
from sparoa_sim.agents.exact.refsched import RefProblem, evaluate, reference_config, reference_schedule
from sparoa_sim.agents.heuristics.baselines import Heft
from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.sim.arrivals import ClosedLoop
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.hwstate import LoadTrace
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.testing.strategies import small_graphs
from sparoa_sim.workloads import load_workload

LOADS = st.tuples(st.sampled_from([0.0, 0.3, 0.6]), st.sampled_from([0.0, 0.5, 0.8, 0.9, 0.95]))
PLATFORMS = ("jetson-agx-orin-64gb", "jetson-orin-nano-8gb")


def _linear_extensions(ops: list[int], anc: list[int]):
    """Every order of ``ops`` in which no operator precedes one of its ancestors."""
    if not ops:
        yield []
        return
    members = 0
    for i in ops:
        members |= 1 << i
    for k, i in enumerate(ops):
        if anc[i] & members:  # an ancestor of i is still unplaced
            continue
        rest = ops[:k] + ops[k + 1:]
        for tail in _linear_extensions(rest, anc):
            yield [i] + tail


def brute_force(p: RefProblem, durations=None) -> float:
    """Least makespan over every placement and every pair of per-device orders consistent with the
    graph (pairs that deadlock through cross-device edges are refused by the evaluator: skipped)."""
    anc = [0] * p.n
    for i in range(p.n):
        for q in p.deps[i]:
            anc[i] |= anc[q] | (1 << q)
    best = math.inf
    for mask in range(1 << p.n):
        gpu = [bool(mask >> i & 1) for i in range(p.n)]
        cpu_ops = [i for i in range(p.n) if not gpu[i]]
        gpu_ops = [i for i in range(p.n) if gpu[i]]
        gpu_orders = list(_linear_extensions(gpu_ops, anc))
        for co in _linear_extensions(cpu_ops, anc):
            for go in gpu_orders:
                try:
                    t = evaluate(p, [float(g) for g in gpu], {"cpu": co, "gpu": go}, durations).makespan
                except SimulationError:
                    continue  # the orders and the graph form a cycle
                best = min(best, t)
    return best


@given(graph=small_graphs(max_ops=7), platform=st.sampled_from(PLATFORMS), load=LOADS)
def test_oracle_at_load_matches_brute_force(graph, platform, load):
    plat = load_platform(platform)
    cache = PredictionCache()
    r = solve_oracle(graph, plat, time_limit_s=20, cache=cache, load=load)
    assert r.optimal and r.load == load
    p = RefProblem.build(graph, plat, cache=cache, load=load)
    ticks = Ticks(p, r.tick_s)
    # exact in the solver's units: the optimum over every placement and order, in ticks
    assert round(r.objective_s / r.tick_s) == brute_force(p, ticks.durations())
    best_s = brute_force(p)
    assert best_s <= r.latency_s <= best_s * (1 + ROUNDING)
    assert r.latency_s == evaluate(p, r.schedule.placement, r.schedule.order).makespan


@pytest.fixture(scope="module")
def solved_at_load(small_graphs, forkjoin, nano, agx):
    out = []
    for plat, load in ((nano, (0.0, 0.8)), (agx, (0.3, 0.9))):
        for g in [small_graphs[0], forkjoin]:
            out.append((g, plat, load, solve_oracle(g, plat, time_limit_s=20, load=load)))
    return out


def test_engine_replays_the_oracle_at_load_exactly(solved_at_load):
    for g, plat, load, r in solved_at_load:
        assert r.optimal
        sim = Simulator(g, plat, r.schedule, arrivals=ClosedLoop(1), config=reference_config(load=load), seed=0)
        assert sim.run().latency_mean_s == r.latency_s, (g.name, plat.name, load)
        # the oracle's policy form plans at the load it is given
        pol = Oracle(time_limit_s=20, load=load)
        sim = Simulator(g, plat, pol, arrivals=ClosedLoop(1), config=reference_config(load=load), seed=0)
        assert sim.run().latency_mean_s == r.latency_s
        assert pol.result.load == load and r.to_dict()["load"] == list(load)


def test_oracle_at_load_beats_every_heuristic_at_that_load(solved_at_load):
    for g, plat, load, r in solved_at_load:
        # the start: the best heuristic, or on a totally ordered graph the spine's optimum when it is better
        assert r.hint_latency_s == min(r.heuristics_s.values()) or (
            r.hint_policy == "chain-dp" and r.hint_latency_s <= min(r.heuristics_s.values()) * (1 + ROUNDING))
        assert r.latency_s <= r.hint_latency_s * (1 + ROUNDING)
        # the load changes the problem: the GPU-only figure is the one at that load
        assert r.heuristics_s["gpu"] > solve_oracle(g, plat, time_limit_s=0.05).heuristics_s["gpu"]


def test_heuristics_at_load_replay_to_the_evaluator(small_graphs, nano):
    g = small_graphs[1]
    load = (0.5, 0.85)
    cache = PredictionCache()
    p = RefProblem.build(g, nano, cache=cache, load=load)
    heur = whole_op_heuristics(g, nano, cache=cache, load=load)
    for name, (lat, sched) in heur.items():
        assert evaluate(p, sched.placement, sched.order).makespan == pytest.approx(lat, rel=1e-12), name
        res = Simulator(g, nano, sched, arrivals=ClosedLoop(1), config=reference_config(load=load), seed=0).run()
        assert res.latency_mean_s == pytest.approx(lat, rel=1e-12), name
    # Heft as an engine policy plans at the load it is given
    res, _ = reference_schedule(g, nano, Heft(load=load), cache=cache, load=load)
    assert res.latency_mean_s == pytest.approx(heur["heft"][0], rel=1e-12)


def test_problem_latencies_are_the_tables_at_load(nano):
    g = load_workload("resnet18")
    cache = PredictionCache()
    t = cache.tables(g, nano, 1, nano.mode(None).name, "fp32")
    zero = RefProblem.build(g, nano, cache=cache)
    assert zero.load == (0.0, 0.0) and RefProblem.build(g, nano, cache=cache, load=(0, 0)) == zero
    p = RefProblem.build(g, nano, cache=cache, load=(0.0, 0.75))
    assert p.lat_cpu == zero.lat_cpu and p.xfer == zero.xfer and p.td_gpu == zero.td_gpu
    assert p.lat_gpu == tuple(t.at_load(1, 0.75))
    for i in range(p.n):  # compute part at 1/(1 − L): slower wherever compute then dominates the roofline
        assert p.lat_gpu[i] >= zero.lat_gpu[i]
        if t.tc[1][i] / 0.25 > t.tm[1][i]:
            assert p.lat_gpu[i] > zero.lat_gpu[i]
    assert p.lower_bound_s() >= zero.lower_bound_s() and tick_for(p) >= tick_for(zero)


def test_load_zero_is_todays_oracle_bit_for_bit(forkjoin, agx):
    a = solve_oracle(forkjoin, agx, time_limit_s=20)
    b = solve_oracle(forkjoin, agx, time_limit_s=20, load=(0, 0))
    assert a.load == b.load == (0.0, 0.0)
    assert (a.latency_s, a.objective_s, a.tick_s) == (b.latency_s, b.objective_s, b.tick_s)
    assert a.heuristics_s == b.heuristics_s
    assert a.schedule.to_dict() == b.schedule.to_dict()
    assert reference_config(load=(0.0, 0.0)) == SimConfig(reference=True, record_trace=True)


def test_gpu_only_latency_at_load_is_the_formula(agx):
    """GPU-only, one request, reference setting at gpu load L: launches back to back, each kernel
    after its launch, the previous kernel and the input copy; latency ``tl + (tc/(1−L) ⊕ tm)`` with
    the roofline's p-norm (written out here, not through ``duration_at``)."""
    g = load_workload("mobilenetv3_small")
    cache = PredictionCache()
    t = cache.tables(g, agx, 1, agx.mode(None).name, "fp32")
    gt = cache.graph(g)
    for L in (0.5, 0.8):
        def lat(i: int) -> float:
            a, m, s = t.tc[1][i] / (1.0 - L), t.tm[1][i], t.sharp[1]
            return t.tl[1][i] + (max(a, m) if s <= 1e-6 else (a ** (1 / s) + m ** (1 / s)) ** s)
        launch = prev_end = done = 0.0
        for i in gt.fifo_order:
            launch += t.td[1][i]
            start = max(launch, prev_end, t.xfer_s[gt.n] if not gt.deps[i] else 0.0)
            prev_end = start + lat(i)
            done = max(done, prev_end + (t.xfer_s[i] if gt.is_sink[i] else 0.0))
        res = Simulator(g, agx, "gpu", config=SimConfig(reference=True, background=LoadTrace.fixed(gpu=L)),
                        cache=cache).run()
        assert res.latency_mean_s == pytest.approx(done, rel=1e-9)
        heur = whole_op_heuristics(g, agx, cache=cache, load=(0.0, L))
        assert heur["gpu"][0] == res.latency_mean_s


@pytest.mark.parametrize("load, field, shown", [((0.0, 1.0), "load[gpu]", "1.0"), ((float("nan"), 0.0), "load[cpu]", "nan"),
                                                ((-0.1, 0.0), "load[cpu]", "-0.1"), ((0.5,), "load", "(0.5,)"),
                                                ("0.5", "load", "'0.5'"), ((True, 0.0), "load[cpu]", "True")])
def test_bad_loads_are_refused_naming_the_field(forkjoin, nano, load, field, shown):
    for call in (lambda: RefProblem.build(forkjoin, nano, load=load),
                 lambda: solve_oracle(forkjoin, nano, time_limit_s=1, load=load),
                 lambda: whole_op_heuristics(forkjoin, nano, load=load),
                 lambda: reference_schedule(forkjoin, nano, "gpu", load=load),
                 lambda: Oracle(load=load), lambda: Heft(load=load)):
        with pytest.raises(SimulationError, match=re.escape(f"{field} must be") + ".*" + re.escape(f"got {shown}")):
            call()


def test_chain_dp_agrees_with_the_oracle_at_load(chains, agx):
    """On chains the DP's optimum at a load (the problem's latencies) equals CP-SAT's, in ticks."""
    from sparoa_sim.agents.exact.chain_dp import chain_optimum

    load = (0.2, 0.85)
    for g in chains[:2]:
        p = RefProblem.build(g, agx, load=load)
        r = solve_oracle(g, agx, time_limit_s=20, load=load)
        assert r.optimal
        ticks = Ticks(p, tick_for(p))
        assert chain_optimum(p, ticks.durations()).latency * ticks.tick == pytest.approx(r.objective_s, rel=1e-12)
        sec = chain_optimum(p)
        res = Simulator(g, agx, list(sec.placement), arrivals=ClosedLoop(1),
                        config=reference_config(load=load), seed=0).run()
        assert res.latency_mean_s == pytest.approx(sec.latency, rel=1e-12)
