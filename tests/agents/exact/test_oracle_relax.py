"""The chain relaxation (issue 21): dropping side branches between cut operators only makes every
schedule earlier, so the chain's optimum is a proven lower bound; drops that could move a copy's
first need, or make a kept operator a source or a sink, are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.agents.exact.cpmodel import OracleModel
from sparoa_sim.agents.exact.oracle import solve_oracle
from sparoa_sim.agents.exact.refsched import RefProblem, evaluate
from sparoa_sim.agents.exact.relax import chain_relaxation, cut_operators, relaxed_optimum
from sparoa_sim.agents.exact.spine import is_totally_ordered, spine_optimum
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.workloads import load_workload


def _problem(deps, lc, lg, x, td, host_io=True) -> RefProblem:
    n = len(deps)
    cons = tuple(tuple(c for c in range(n) if i in deps[c]) for i in range(n))
    return RefProblem(name="t", n=n, deps=tuple(tuple(d) for d in deps), cons=cons, lat_cpu=tuple(lc),
                      lat_gpu=tuple(lg), xfer=tuple(x), td_gpu=tuple(td), td_cpu=tuple(0 for _ in range(n)),
                      host_io=host_io, batch=1, mode="m", precision="fp32")


@st.composite
def problems(draw):
    """Random DAGs (indices topological) with integer durations: branches, skips, several sources/sinks."""
    n = draw(st.integers(3, 9))
    deps = [()]
    for i in range(1, n):
        deps.append(tuple(sorted(draw(st.sets(st.integers(0, i - 1), min_size=0 if i < 3 else 1, max_size=3)))))
    d = lambda k: draw(st.lists(st.integers(*k), min_size=n, max_size=n))  # noqa: E731
    return _problem(deps, d((1, 30)), d((1, 30)), d((0, 12)) + [draw(st.integers(0, 12))], d((0, 6)),
                    draw(st.booleans()))


def _durations(p: RefProblem):
    return list(p.lat_cpu), list(p.lat_gpu), list(p.xfer), list(p.td_gpu)


def _optimum(p: RefProblem) -> int:
    """The model's proven optimum in the problem's integer units (CP-SAT, as the oracle runs it)."""
    from ortools.sat.python import cp_model

    durs = _durations(p)
    mod = OracleModel(p, durs, sum(map(sum, durs)) + 1)
    solver = cp_model.CpSolver()
    solver.parameters.catch_sigint_signal = False  # else CP-SAT's handler outlives the solve and Ctrl-C kills pytest
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 20.0
    assert solver.solve(mod.m) == cp_model.OPTIMAL
    return int(solver.objective_value)


@given(p=problems(), data=st.data())
def test_relaxation_is_earlier_for_every_schedule_and_its_optimum_a_bound(p, data):
    # whichever paths are kept (any weights): a valid relaxation or None
    weights = data.draw(st.one_of(st.none(), st.lists(st.floats(0, 10), min_size=p.n, max_size=p.n)))
    rel = chain_relaxation(p, weights)
    if rel is None:
        return
    sub, keep = rel
    assert is_totally_ordered(sub) and keep == sorted(keep) and len(keep) < p.n
    # pointwise: a random placement and topological order, restricted to the kept operators
    gpu = data.draw(st.lists(st.booleans(), min_size=p.n, max_size=p.n))
    topo, left = [], set(range(p.n))
    while left:
        free = sorted(i for i in left if all(q not in left for q in p.deps[i]))
        topo.append(data.draw(st.sampled_from(free)))
        left.discard(topo[-1])
    order = {"cpu": [i for i in topo if not gpu[i]], "gpu": [i for i in topo if gpu[i]]}
    full = evaluate(p, [float(g) for g in gpu], order, _durations(p))
    kk = set(keep)
    sub_order = {d: [keep.index(i) for i in seq if i in kk] for d, seq in order.items()}
    part = evaluate(sub, [float(gpu[i]) for i in keep], sub_order, _durations(sub))
    assert part.makespan <= full.makespan
    assert all(part.end[k] <= full.end[o] for k, o in enumerate(keep))
    opt = _optimum(p)
    assert spine_optimum(sub, _durations(sub)).latency <= opt  # this relaxation's optimum: a bound
    best = relaxed_optimum(p, _durations(p))  # the best of the default weightings (None: no valid one)
    assert best is None or best.latency <= opt


def test_a_drop_that_moves_a_first_need_is_refused():
    # 0 → 1 → 2 → 4 and 0 → 3 → 4, 2 also reads 0: dropping 3 (the light branch) would leave 0's copy
    # to be first needed by 2, which may be released after 3 was
    light = _problem([(), (0,), (0, 1), (0,), (2, 3)], [5, 5, 5, 1, 5], [5, 5, 5, 1, 5], [1] * 6, [1] * 5)
    assert cut_operators(light) == [0, 4]
    assert chain_relaxation(light) is None
    # without the skip 0 → 2 the drop is valid
    ok = _problem([(), (0,), (1,), (0,), (2, 3)], [5, 5, 5, 1, 5], [5, 5, 5, 1, 5], [1] * 6, [1] * 5)
    sub, keep = chain_relaxation(ok)
    assert keep == [0, 1, 2, 4] and sub.deps == ((), (0,), (1,), (2,))


def test_totally_ordered_graphs_have_no_relaxation():
    chain = _problem([(), (0,), (1,), (0, 2)], [1] * 4, [1] * 4, [0] * 5, [0] * 4)
    assert chain_relaxation(chain) is None and relaxed_optimum(chain) is None


def test_resnet50_drops_its_four_shortcuts_and_the_bound_proves_it():
    agx = load_platform("jetson-agx-orin-64gb")
    g = load_workload("resnet50")
    # both devices loaded: proven in ~2 s (with the conv size term, GPU alone at 0.8 is 2.4 % off after 30 s)
    p = RefProblem.build(g, agx, mode="MAXN", load=(0.5, 0.8))
    _sub, keep = chain_relaxation(p)
    assert p.n - len(keep) == 8  # 4 downsampling shortcuts of 2 operators (conv, bn)
    lb = relaxed_optimum(p).latency
    assert p.lower_bound_s() < lb
    r = solve_oracle(g, agx, mode="MAXN", load=(0.5, 0.8), time_limit_s=30, chain_bound=True)
    assert r.bound_s >= lb * (1 - 1e-12) and r.bound_s <= r.latency_s
    assert r.optimal and r.gap <= 1e-4
    plain = solve_oracle(g, agx, mode="MAXN", load=(0.5, 0.8), time_limit_s=1)
    assert plain.bound_s < lb  # the plain model's bound is the weaker one
    assert r.latency_s == pytest.approx(evaluate(p, r.schedule.placement, r.schedule.order).makespan, rel=0)
