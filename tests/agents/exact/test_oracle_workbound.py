"""The work relaxation (issue 21): a MIP of placement, work per device between cut operators and
paths with copy costs; its proven optimum never exceeds the true optimum (brute force) and counts
the work of parallel branches that the chain relaxation drops."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_oracle_load import brute_force
from test_oracle_relax import _problem, problems

from sparoa_sim.agents.exact.oracle import solve_oracle
from sparoa_sim.agents.exact.relax import relaxed_optimum
from sparoa_sim.agents.exact.workbound import WorkBound, work_bound
from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.testing.strategies import small_graphs
from sparoa_sim.workloads import load_workload


@given(p=problems().filter(lambda p: p.n <= 6), pairs=st.booleans())
def test_work_bound_never_exceeds_the_brute_force_optimum(p, pairs):
    sol = WorkBound(p, pairs=pairs).solve(5.0)
    assert sol.optimal
    assert sol.bound <= brute_force(p) + 1e-9


@given(graph=small_graphs(max_ops=6), platform=st.sampled_from(("jetson-agx-orin-64gb", "jetson-orin-nano-8gb")),
       load=st.sampled_from([0.0, 0.5, 0.9]))
def test_work_bound_below_the_optimum_of_real_profiles(graph, platform, load):
    from sparoa_sim.agents.exact.refsched import RefProblem

    p = RefProblem.build(graph, load_platform(platform), load=(0.0, load))
    bound, solved = work_bound(p, time_limit_s=5.0)
    assert solved
    assert bound <= brute_force(p) * (1 + 1e-9)


def test_parallel_branches_count_their_work():
    """A fork of three 10-unit branches between two 1-unit cuts, free copies and launches: two devices
    run three branches in at least 20, so the optimum is 22; the chain keeps one branch (12)."""
    deps = [(), (0,), (0,), (0,), (1, 2, 3)]
    p = _problem(deps, [1, 10, 10, 10, 1], [1, 10, 10, 10, 1], [0] * 6, [0] * 5, host_io=False)
    bound, solved = work_bound(p)
    assert solved and bound == pytest.approx(22, rel=1e-5) and bound <= 22
    assert brute_force(p) == 22
    assert relaxed_optimum(p).latency == 12


def test_launch_work_between_cuts_counts_on_the_host():
    """GPU kernels are free but each launch takes 5 on the one host thread, the CPU takes 40: the
    three branches cost at least 15 of launches after the first cut's issue."""
    deps = [(), (0,), (0,), (0,), (1, 2, 3)]
    p = _problem(deps, [40] * 5, [0] * 5, [0] * 6, [5] * 5, host_io=False)
    bound, solved = work_bound(p)
    assert solved and bound == pytest.approx(25, rel=1e-5)
    assert brute_force(p) == 25


def test_rows_are_linear_in_the_placement_and_the_horizon_caps_every_time():
    p = _problem([(), (0,), (0,), (1, 2)], [3, 4, 5, 6], [1, 2, 3, 4], [1, 1, 1, 1, 2], [1, 1, 1, 1])
    wb = WorkBound(p, horizon=18)
    assert wb.nv == 4 * p.n + 1 and all(set(c) <= set(range(wb.nv)) for c, _lo, _hi in wb.rows)
    sol = wb.solve()
    assert sol.optimal and sol.bound <= brute_force(p) and sol.relaxed_makespan <= 18 and len(sol.placement) == p.n


@pytest.mark.slow
def test_oracle_work_bound_is_opt_in_and_never_above_the_latency():
    g = load_workload("squeezenet1_1")  # fire modules: two parallel branches each
    nano = load_platform("jetson-orin-nano-8gb")
    plain = solve_oracle(g, nano, time_limit_s=4.0)
    lifted = solve_oracle(g, nano, time_limit_s=4.0, work_bound_s=1.0)
    for r in (plain, lifted):
        assert r.bound_s <= r.latency_s
    assert lifted.latency_s <= plain.hint_latency_s


@pytest.mark.parametrize("bad", [-1.0, True, "2", float("inf"), float("nan")])
def test_bad_work_bound_seconds_are_refused_naming_the_field(bad):
    g = load_workload("squeezenet1_1")
    with pytest.raises(SimulationError, match="work_bound_s"):
        solve_oracle(g, load_platform("jetson-orin-nano-8gb"), time_limit_s=1.0, work_bound_s=bad)


@given(p=problems(), seed=st.integers(0, 2**16))
def test_shared_descent_reaches_a_local_optimum_and_keeps_a_linear_extension(p, seed):
    """The descent the oracle's start shares with the placement policy's training: moves that are not
    worse are kept, slides respect the dependencies, and with the GPU count as the score repeated
    descents end with every operator on the CPU."""
    import numpy as np

    from sparoa_sim.agents.learn.placement_search import descend

    calls = []

    def score(bits, topo):
        pos = {o: k for k, o in enumerate(topo)}
        assert sorted(topo) == list(range(p.n)) and all(pos[q] < pos[i] for i in range(p.n) for q in p.deps[i])
        calls.append(sum(bits))
        return float(sum(bits))

    rng = np.random.default_rng(seed)
    bits, topo, val = [True] * p.n, list(range(p.n)), None
    for _ in range(200):  # each descent stops after 2n moves in a row that do not improve
        before = val
        bits, topo, val = descend(score, bits, topo, rng, deps=p.deps, cons=p.cons, out=lambda: False, val=val)
        assert val == sum(bits) and (before is None or val <= before)
        if val == 0.0:
            break
    assert val == 0.0 and not any(bits) and calls[0] == p.n
    score(bits, topo)
