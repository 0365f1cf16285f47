"""The oracle's proofs (issue 21): the spine bound of a totally ordered graph keeps it exact
(optimum = brute force, bound never above it) and proves a shipped workload, and a caller's
``hint`` is a start the solver can only improve on."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.agents.exact.chain_dp import chain_optimum
from sparoa_sim.agents.exact.oracle import ROUNDING, Ticks, solve_oracle
from sparoa_sim.agents.exact.refsched import RefProblem, evaluate
from sparoa_sim.agents.exact.spine import is_totally_ordered, spine, spine_optimum
from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.ir.synthetic import generate
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.testing.strategies import graphs
from sparoa_sim.workloads import load_workload

PLATFORMS = ("jetson-agx-orin-64gb", "jetson-orin-nano-8gb")
LOADS = st.sampled_from([(0.0, 0.0), (0.0, 0.5), (0.0, 0.8), (0.3, 0.8)])


def _problem(deps: list[tuple[int, ...]]) -> RefProblem:
    n = len(deps)
    cons = tuple(tuple(c for c in range(n) if i in deps[c]) for i in range(n))
    one = tuple([1.0] * n)
    return RefProblem(name="t", n=n, deps=tuple(deps), cons=cons, lat_cpu=one, lat_gpu=one, xfer=tuple([0.0] * (n + 1)),
                      td_gpu=tuple([0.0] * n), td_cpu=tuple([0.0] * n), host_io=True, batch=1, mode="m",
                      precision="fp32")


def test_skip_chains_are_totally_ordered_and_their_spine_drops_the_skips():
    skip = _problem([(), (0,), (1,), (0, 2), (3,)])  # a residual add: 0 → 1 → 2 → 3 ← 0
    assert is_totally_ordered(skip)
    assert spine(skip).deps == ((), (0,), (1,), (2,), (3,)) and spine(skip).cons == ((1,), (2,), (3,), (4,), ())
    diamond = _problem([(), (0,), (0,), (1, 2), (3,)])  # 0 → {1, 2} → 3 → 4: 1 and 2 may run together
    assert not is_totally_ordered(diamond) and spine_optimum(diamond) is None


def _placements_brute_force(p: RefProblem, durations) -> int:
    """Least makespan of a totally ordered problem: every placement, orders by index (forced)."""
    best = math.inf
    for mask in range(1 << p.n):
        gpu = [mask >> i & 1 for i in range(p.n)]
        order = {"cpu": [i for i in range(p.n) if not gpu[i]], "gpu": [i for i in range(p.n) if gpu[i]]}
        best = min(best, evaluate(p, [float(x) for x in gpu], order, durations).makespan)
    return best


@given(graph=graphs(2, 10, kinds=("residual", "chain")), platform=st.sampled_from(PLATFORMS), load=LOADS)
def test_spine_bound_and_oracle_match_brute_force_on_skip_chains(graph, platform, load):
    plat = load_platform(platform)
    cache = PredictionCache()
    p = RefProblem.build(graph, plat, cache=cache, load=load)
    if not is_totally_ordered(p):  # a projection shortcut runs beside the block: not a skip chain
        assert spine_optimum(p) is None
        return
    r = solve_oracle(graph, plat, time_limit_s=20, cache=cache, load=load)
    assert r.optimal
    ticks = Ticks(p, r.tick_s).durations()
    best = _placements_brute_force(p, ticks)
    assert spine_optimum(p, ticks).latency <= best  # a lower bound, in the solver's units
    assert round(r.objective_s / r.tick_s) == best  # and the bounded model still finds the optimum
    assert spine_optimum(p).latency <= r.latency_s
    assert r.bound_s <= r.latency_s


def test_spine_of_a_chain_is_the_chain_optimum(chains, agx):
    for g in chains:
        p = RefProblem.build(g, agx)
        assert is_totally_ordered(p)
        assert spine_optimum(p) == chain_optimum(p)


def test_a_skip_chain_workload_is_proven_by_its_spine():
    """MobileNetV2 (151 operators, residual adds): the spine's optimum closes the bound at once."""
    plat = load_platform("jetson-agx-orin-64gb")
    g = load_workload("mobilenetv2")
    r = solve_oracle(g, plat, mode="MAXN", time_limit_s=60)
    assert r.optimal and r.gap == 0.0
    assert r.latency_s <= min(r.heuristics_s.values())
    p = RefProblem.build(g, plat, mode="MAXN")
    assert spine_optimum(p).latency <= r.latency_s <= spine_optimum(p).latency * (1 + ROUNDING)


@pytest.fixture(scope="module")
def branchy():
    """14 operators in parallel branches where the optimum beats every heuristic on both platforms."""
    return generate(5, target_ops=14, kinds=("branch",))


def test_a_given_hint_is_the_start_when_it_is_better(branchy, nano):
    first = solve_oracle(branchy, nano, time_limit_s=20)
    assert first.optimal
    again = solve_oracle(branchy, nano, time_limit_s=20, hint=first.schedule)
    assert first.latency_s < min(first.heuristics_s.values())  # the case the hint is for
    assert again.hint_policy == "given" and again.hint_latency_s == first.latency_s
    assert again.latency_s <= first.latency_s * (1 + ROUNDING) and again.optimal
    assert again.heuristics_s == first.heuristics_s


def test_a_hint_without_orders_takes_the_engines(branchy, agx):
    n = len(branchy)
    placement = [float(i % 2) for i in range(n)]
    r = solve_oracle(branchy, agx, time_limit_s=20, hint=StaticSchedule(placement))
    assert r.optimal
    assert r.latency_s <= min(r.heuristics_s.values()) * (1 + ROUNDING)


@pytest.mark.parametrize("hint, match", [
    ("gpu", r"oracle: hint must be a StaticSchedule, got str"),
    (StaticSchedule([1.0, 0.0]), r"oracle: hint: .*'placement' has 2 entries"),
    (StaticSchedule([0.5] + [1.0] * 13), r"oracle: hint: .*(split|placement\[0\])"),
])
def test_bad_hints_are_refused_naming_the_field(branchy, nano, hint, match):
    with pytest.raises(SimulationError, match=match):
        solve_oracle(branchy, nano, time_limit_s=5, hint=hint)


def test_the_default_mode_stays_reproducible_with_a_hint(branchy, agx):
    h = StaticSchedule([1.0] * len(branchy))
    a = solve_oracle(branchy, agx, time_limit_s=20, hint=h, random_seed=5)
    b = solve_oracle(branchy, agx, time_limit_s=20, hint=h, random_seed=5)
    assert a.schedule.to_dict() == b.schedule.to_dict() and a.latency_s == b.latency_s
