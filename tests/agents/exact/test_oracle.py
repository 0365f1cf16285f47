"""The CP-SAT oracle: its schedule replays to its objective, it beats every whole-op baseline,
it is reproducible, and bad parameters are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.agents.exact.oracle import ROUNDING, Oracle, Ticks, solve_oracle
from sparoa_sim.agents.exact.refsched import RefProblem, evaluate
from sparoa_sim.agents.heuristics.baselines import Greedy, Heft, ThresholdBest
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.testing.strategies import small_graphs
from sparoa_sim.sim.simulator import simulate
from sparoa_sim.errors import SimulationError
from sparoa_sim.workloads import load_workload


@pytest.fixture(scope="module")
def solved(small_graphs, forkjoin, nano, agx):
    out = []
    for plat in (nano, agx):
        for g in list(small_graphs) + [forkjoin]:
            out.append((g, plat, solve_oracle(g, plat, time_limit_s=20, num_workers=1, random_seed=0)))
    return out


def test_oracle_replays_to_its_objective(solved):
    for g, plat, r in solved:
        assert r.optimal and r.status == "OPTIMAL"
        rep = simulate(g, plat, r.schedule, reference=True)
        assert rep.latency_mean_s == pytest.approx(r.latency_s, rel=1e-12), (g.name, plat.name)
        assert rep.latency_mean_s == pytest.approx(r.objective_s, rel=ROUNDING / 2), (g.name, plat.name)
        assert r.latency_s * (1 - ROUNDING) <= r.bound_s <= r.latency_s
        assert rep.split_ops == 0


def test_oracle_never_worse_than_whole_op_baselines(solved):
    for g, plat, r in solved:
        for pol in ("cpu", "gpu", "threshold", Greedy(), Heft(), ThresholdBest(tau_s=0.3, tau_i=50.0)):
            lat = simulate(g, plat, pol, reference=True).latency_mean_s
            assert r.latency_s <= lat * (1 + ROUNDING), (g.name, plat.name, pol)
        assert r.latency_s <= r.hint_latency_s * (1 + ROUNDING)
        # the start: the best heuristic, or on a totally ordered graph the spine's optimum when it is better
        assert r.hint_latency_s == min(r.heuristics_s.values()) or (
            r.hint_policy == "chain-dp" and r.hint_latency_s <= min(r.heuristics_s.values()) * (1 + ROUNDING))


def test_oracle_uses_both_devices_where_it_pays(solved):
    assert any(0 < sum(r.schedule.placement) < r.n_ops for _g, _p, r in solved)
    # and strictly beats the best single device somewhere
    gains = [min(r.heuristics_s["cpu"], r.heuristics_s["gpu"]) / r.latency_s for _g, _p, r in solved]
    assert max(gains) > 1.01


def test_oracle_is_reproducible(small_graphs, agx):
    g = small_graphs[0]
    a = solve_oracle(g, agx, time_limit_s=20, num_workers=1, random_seed=3)
    b = solve_oracle(g, agx, time_limit_s=20, num_workers=1, random_seed=3)
    assert a.schedule.to_dict() == b.schedule.to_dict()
    assert a.latency_s == b.latency_s


def test_oracle_result_and_time_limit(nano):
    """A tiny time limit still returns a valid schedule (at worst the hint) with a bound below it."""
    g = load_workload("resnet18")
    r = solve_oracle(g, nano, time_limit_s=0.05)
    assert r.bound_s <= r.latency_s <= r.hint_latency_s * (1 + ROUNDING)
    assert 0.0 <= r.gap < 1.0
    doc = r.to_dict()
    for key in ("latency_s", "bound_s", "optimal", "status", "solve_time_s", "schedule"):
        assert key in doc
    rep = simulate(g, nano, r.schedule, reference=True).latency_mean_s
    assert rep <= r.latency_s * (1 + ROUNDING)


def test_oracle_at_batch_4(small_graphs, nano):
    g = small_graphs[1]
    r = solve_oracle(g, nano, batch=4, time_limit_s=20)
    rep = simulate(g, nano, r.schedule, batch=4, requests=4, reference=True)
    assert rep.latency_mean_s == pytest.approx(r.latency_s, rel=ROUNDING)


def test_oracle_policy_by_name(small_graphs, agx):
    g = small_graphs[2]
    res = simulate(g, agx, "oracle", reference=True, time_limit_s=20)
    r = solve_oracle(g, agx, time_limit_s=20)
    assert res.latency_mean_s == pytest.approx(r.latency_s, rel=ROUNDING)


@pytest.mark.parametrize("kw, match", [({"time_limit_s": 0}, "time limit"), ({"num_workers": 0}, "workers"),
                                       ({"random_seed": -1}, "seed"), ({"time_limit_s": float("nan")}, "time limit")])
def test_oracle_rejects_bad_parameters(nano, forkjoin, kw, match):
    g = forkjoin
    with pytest.raises(SimulationError, match=match):
        solve_oracle(g, nano, **kw)
    with pytest.raises(SimulationError, match=match):
        Oracle(**kw)


@given(graph=small_graphs(max_ops=8, kernels=(0, 4)), platform=st.sampled_from(["jetson-orin-nano-8gb", "jetson-agx-orin-64gb"]),
       batch=st.sampled_from([1, 2]))
def test_model_agrees_with_the_reference_rules_on_its_schedule(graph, platform, batch):
    """The solver's tick objective is the rules' least solution (in ticks) of the schedule it
    returns, and the engine replays that schedule to the rules' latency in seconds (random
    kernel counts: per-operator launch intervals)."""
    plat = load_platform(platform)
    r = solve_oracle(graph, plat, batch=batch, time_limit_s=20)
    p = RefProblem.build(graph, plat, batch=batch)
    sched = r.schedule
    if r.optimal:
        ticks = evaluate(p, sched.placement, sched.order, Ticks(p, r.tick_s).durations())
        assert ticks.makespan * r.tick_s == r.objective_s
    assert evaluate(p, sched.placement, sched.order).makespan == r.latency_s
    rep = simulate(graph, plat, sched, batch=batch, requests=batch, reference=True)
    assert rep.latency_mean_s == r.latency_s
