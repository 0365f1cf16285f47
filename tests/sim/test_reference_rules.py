"""The engine in the reference setting follows the timing rules of ``sparoa_sim.sim.reference``
exactly: on random small graphs, whole-operator placements and per-device orders, its latency
is the rules' least solution, to the last bit."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.sim.arrivals import Batching, ClosedLoop
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.sim import reference as rules
from sparoa_sim.sim.config import SimConfig
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


@given(graph=small_graphs(max_ops=14), platform=st.sampled_from(PLATFORMS), data=st.data(),
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
    want = rules.least_solution(gt.deps, gt.cons, gpu, (order["cpu"], order["gpu"]),
                                (t.lat[0], t.lat[1], t.xfer_s, t.t_dispatch[1]), host_io)
    assert res.latency_mean_s == want.makespan


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
