"""The oracle's opt-in levers (issue 21): the local-search start (exact, never worse than where it
starts, reproducible for a seed, never below the oracle's proven bound) and CP-SAT's subsolvers
(unknown names refused; a chosen portfolio still proves the optimum and replays to it)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.agents.exact.localsearch import improve_schedule
from sparoa_sim.agents.exact.oracle import ROUNDING, solve_oracle, whole_op_heuristics
from sparoa_sim.agents.exact.refsched import RefProblem, evaluate
from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.sim.simulator import simulate
from sparoa_sim.testing.strategies import graphs

PLATFORMS = ("jetson-agx-orin-64gb", "jetson-orin-nano-8gb")


def _start(g, plat, cache, load=(0.0, 0.0)):
    p = RefProblem.build(g, plat, cache=cache, load=load)
    heur = whole_op_heuristics(g, plat, cache=cache, load=load)
    worst = max(heur, key=lambda k: heur[k][0])  # room to improve
    return p, heur[worst]


def _valid(p: RefProblem, s: StaticSchedule) -> None:
    for dev, flag in (("cpu", 0.0), ("gpu", 1.0)):
        assert sorted(s.order[dev]) == [i for i in range(p.n) if s.placement[i] == flag]
        pos = {o: k for k, o in enumerate(s.order[dev])}
        for i in s.order[dev]:  # each device's order respects the dependencies between its operators
            assert all(pos[q] < pos[i] for q in p.deps[i] if q in pos)


@given(graph=graphs(2, 14), platform=st.sampled_from(PLATFORMS), seed=st.integers(0, 3),
       load=st.sampled_from([(0.0, 0.0), (0.0, 0.8)]))
def test_local_search_is_exact_never_worse_and_never_below_the_optimum(graph, platform, seed, load):
    plat = load_platform(platform)
    cache = PredictionCache()
    p, (start_lat, start) = _start(graph, plat, cache, load)
    out = improve_schedule(p, start, evaluations=300, seed=seed)
    _valid(p, out.schedule)
    assert out.start_latency_s == start_lat
    assert out.latency_s == evaluate(p, out.schedule.placement, out.schedule.order).makespan  # bit for bit
    assert out.latency_s <= start_lat
    assert out.evaluations <= 300
    r = solve_oracle(graph, plat, time_limit_s=20, cache=cache, load=load)
    assert r.optimal
    assert out.latency_s >= r.latency_s * (1 - ROUNDING)  # a schedule: never below the proven optimum


def test_local_search_improves_a_bad_start_and_is_reproducible(small_graphs, nano):
    cache = PredictionCache()
    p, (start_lat, start) = _start(small_graphs[1], nano, cache)
    a = improve_schedule(p, start, evaluations=2000, seed=5)
    b = improve_schedule(p, start, evaluations=2000, seed=5)
    assert a.latency_s < start_lat * 0.95
    assert (a.latency_s, a.schedule.placement, a.schedule.order) == (b.latency_s, b.schedule.placement,
                                                                     b.schedule.order)
    stopped = improve_schedule(p, start, evaluations=2000, seed=5, stop=lambda: True)
    assert stopped.evaluations <= 64 and stopped.latency_s <= start_lat
    assert improve_schedule(p, start, evaluations=0).latency_s == start_lat


def test_local_search_refuses_bad_input(small_graphs, agx):
    cache = PredictionCache()
    p, (_lat, start) = _start(small_graphs[0], agx, cache)
    with pytest.raises(SimulationError, match="evaluations must be a non-negative integer, got -1"):
        improve_schedule(p, start, evaluations=-1)
    with pytest.raises(SimulationError, match="per-device orders"):
        improve_schedule(p, StaticSchedule(start.placement), evaluations=10)


def test_oracle_with_search_and_subsolvers_proves_the_same_optimum_and_replays(small_graphs, forkjoin, nano):
    for g in (small_graphs[2], forkjoin):
        cache = PredictionCache()
        plain = solve_oracle(g, nano, time_limit_s=20, cache=cache)
        lever = solve_oracle(g, nano, time_limit_s=20, cache=cache, num_workers=2, search_evals=500,
                             subsolvers=("probing",))
        assert plain.optimal and lever.optimal
        assert lever.objective_s == pytest.approx(plain.objective_s, abs=lever.tick_s / 2)
        assert lever.hint_latency_s <= min(lever.heuristics_s.values())
        rep = simulate(g, nano, lever.schedule, reference=True)
        assert rep.latency_mean_s == pytest.approx(lever.latency_s, rel=1e-12)


def test_oracle_refuses_bad_levers(small_graphs, agx):
    g = small_graphs[0]
    with pytest.raises(SimulationError, match="no subsolver 'nonsense'"):
        solve_oracle(g, agx, time_limit_s=5, subsolvers=("nonsense",))
    with pytest.raises(SimulationError, match="subsolvers must be a sequence"):
        solve_oracle(g, agx, time_limit_s=5, subsolvers="probing")
    with pytest.raises(SimulationError, match="search_evals must be a non-negative integer, got 1.5"):
        solve_oracle(g, agx, time_limit_s=5, search_evals=1.5)
