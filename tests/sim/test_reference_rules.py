"""The engine in the reference setting follows the timing rules of ``sparoa_sim.sim.reference``
exactly: on random small graphs (random kernel counts 0..4: each operator's launch takes
``t_dispatch · max(1, kernels)``), whole-operator placements and per-device orders, its latency
is the rules' least solution, to the last bit."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.sim.arrivals import Batching, ClosedLoop
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.sim import reference as rules
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.errors import SimulationError
from sparoa_sim.testing.strategies import small_graphs

PLATFORMS = ("jetson-agx-orin-64gb", "jetson-orin-nano-8gb")


def _random_topological_order(deps, cons, rng: random.Random) -> list[int]:
    """Kahn's algorithm taking a random ready operator each time: any topological order can come out."""
    indeg = [len(d) for d in deps]
    ready = [i for i in range(len(deps)) if not indeg[i]]
    out = []
    while ready:
        i = ready.pop(rng.randrange(len(ready)))
        out.append(i)
        for c in cons[i]:
            indeg[c] -= 1
            if not indeg[c]:
                ready.append(c)
    return out


@given(graph=small_graphs(max_ops=14, kernels=(0, 4)), platform=st.sampled_from(PLATFORMS), data=st.data(),
       batch=st.sampled_from([1, 4]), host_io=st.booleans(), order_seed=st.integers(0, 2**32 - 1))
def test_engine_latency_is_the_rules_least_solution(graph, platform, data, batch, host_io, order_seed):
    plat = load_platform(platform)
    n = len(graph)
    gpu = data.draw(st.lists(st.booleans(), min_size=n, max_size=n), label="gpu")
    topo = _random_topological_order([op.deps for op in graph.ops], _consumers(graph), random.Random(order_seed))
    order = {"cpu": [i for i in topo if not gpu[i]], "gpu": [i for i in topo if gpu[i]]}
    sched = StaticSchedule([1.0 if g else 0.0 for g in gpu], order=order)
    sim = Simulator(graph, plat, sched, arrivals=ClosedLoop(batch), batching=Batching(max_batch=batch),
                    config=SimConfig(reference=True, host_io=host_io))
    res = sim.run()
    t = sim.tables(batch)
    gt = sim.cache.graph(graph)
    assert t.t_dispatch[0] == 0.0  # the rules launch GPU operators only (as the shipped profiles do)
    assert t.td[1] == [t.t_dispatch[1] * plat.gpu.latency.dispatch_factor_of(op.kind) * max(1, op.kernels)
                       for op in graph.ops]
    want = rules.least_solution(gt.deps, gt.cons, gpu, (order["cpu"], order["gpu"]),
                                (t.lat[0], t.lat[1], t.xfer_s, t.td[1]), host_io)
    assert res.latency_mean_s == want.makespan
    # the host thread was busy for exactly the GPU operators' launch times
    assert res.host_busy_s == pytest.approx(sum(t.td[1][i] for i in order["gpu"]), rel=1e-9, abs=1e-15)


def _consumers(graph) -> list[list[int]]:
    cons: list[list[int]] = [[] for _ in range(len(graph))]
    for i, op in enumerate(graph.ops):
        for q in op.deps:
            cons[q].append(i)
    return cons


def test_term_functions_take_the_latest_term():
    assert rules.latest(rules.launch_terms(ready=3.0, prev_launch=1.0, td=1.5), 0.0) == 3.0
    assert rules.latest(rules.gpu_start_terms(launch=1.0, td=0.5, prev_end=2.0, copies_in=[2.5],
                                              input_arrival=rules.input_copy(True, True, 0.1)), 0.0) == 2.5
    assert rules.latest(rules.cpu_start_terms(), 0.0) == 0.0
    assert rules.input_copy(False, True, 0.1) is None and rules.output_copy(True, False, True, 0.1) is None
    assert rules.latest(rules.copy_start_terms(1.0, rules.first_need([])), 0.0) == float("inf")
    assert rules.completion_terms(2.0, rules.output_copy(True, True, True, 0.5)) == [2.0, 2.5]


def test_launch_times_are_per_operator():
    """A GPU chain a -> b: b's launch waits for a's (td[a]), its kernel for its own (td[b])."""
    deps, cons = [(), (0,)], [(1,), ()]
    lat = [1.0, 1.0]
    x = [0.5, 0.5, 0.0]
    got = rules.least_solution(deps, cons, [True, True], ([], [0, 1]), (lat, [0.25, 0.5], x, [2.0, 3.0]), False)
    assert got.launch == (0.0, 2.0)  # L[b] = max(ready[b] = iss[a] = 2, L[a] + td[a] = 2)
    assert got.issue == (2.0, 5.0)  # iss = L + own td
    assert got.start == (2.0, 5.0) and got.end == (2.25, 5.5)
    assert got.makespan == 5.5
    with pytest.raises(SimulationError, match="launch times"):
        rules.least_solution(deps, cons, [True, True], ([], [0, 1]), (lat, lat, x, [1.0]), False)
