"""Host dispatch is charged per operator: issuing operator ``i`` to device ``d`` takes
``t_dispatch[d] · max(1, kernels[i])`` of host time (docs/architecture.md §4.1), in the tables,
the host launch thread, the view and the reference rules alike."""

from __future__ import annotations

import dataclasses

import pytest

from sparoa_sim.ir.synthetic import generate
from sparoa_sim.sim.arrivals import ClosedLoop
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.predtables import PredictionCache, dispatch_seconds
from sparoa_sim.sim.simulator import Simulator

KERNELS = (0, 1, 2, 3, 4, 7)


def _with_kernels(graph, counts):
    ks = [counts[i % len(counts)] for i in range(len(graph))]
    return dataclasses.replace(graph, ops=tuple(dataclasses.replace(op, kernels=k) for op, k in zip(graph.ops, ks)))


@pytest.fixture(scope="module")
def graph():
    return _with_kernels(generate(1, target_ops=18), KERNELS)


def test_dispatch_seconds_counts_kernels_with_one_call_at_least():
    assert dispatch_seconds(0.25, 0) == 0.25  # a pure view still costs one framework call
    assert dispatch_seconds(0.25, 1) == 0.25
    assert dispatch_seconds(0.25, 3) == 0.75
    assert dispatch_seconds(0.0, 5) == 0.0


def test_tables_hold_per_operator_dispatch(graph, platform):
    t = PredictionCache().tables(graph, platform, 2, platform.mode(None).name, "fp32")
    for d in (0, 1):
        f = platform.device(d).latency  # per-kind factor on t_dispatch (1 where the profile has none)
        assert t.td[d] == [t.t_dispatch[d] * f.dispatch_factor_of(op.kind) * max(1, op.kernels) for op in graph.ops]
    assert t.t_dispatch[1] > 0.0  # the shipped profiles charge GPU launches


def test_one_kernel_operators_cost_the_per_kernel_time(resnet18, platform):
    """A graph of one-kernel operators pays exactly ``t_dispatch`` × its kind's factor per operator."""
    one = _with_kernels(resnet18, (1,))
    t = Simulator(one, platform, "gpu").tables(1)
    assert t.td[1] == [t.t_dispatch[1] * platform.gpu.latency.dispatch_factor_of(op.kind) for op in one.ops]


@pytest.mark.parametrize("requests", [1, 3])
def test_host_thread_launches_each_operator_for_its_dispatch_time(graph, platform, requests):
    sim = Simulator(graph, platform, "gpu", arrivals=ClosedLoop(requests),
                    config=SimConfig(reference=True, record_trace=True))
    res = sim.run()
    t = sim.tables(1)
    launches = {ev[2]: ev[5] - ev[4] for ev in sim.trace().events if ev[0] == 2 and ev[3] == 0}
    assert sorted(launches) == list(range(len(graph)))
    for i, dur in launches.items():
        assert dur == pytest.approx(t.td[1][i], rel=1e-9)
    assert res.host_busy_s == pytest.approx(requests * sum(t.td[1]), rel=1e-9)  # every request's launches


def test_view_reports_the_operators_dispatch_time(graph, platform):
    sim = Simulator(graph, platform, "external", config=SimConfig(reference=True))
    t = sim.tables(1)
    v = sim.start()
    seen = 0
    while v is not None:
        assert v.t_dispatch == (t.td[0][v.op], t.td[1][v.op])
        assert v.snapshot()["t_dispatch"] == [t.td[0][v.op], t.td[1][v.op]]
        v = sim.submit(1.0)
        seen += 1
    assert seen == len(graph)


def test_host_backlog_sums_the_queued_operators(graph, platform):
    """With every operator released at once (no dependencies) the host queue holds all their launches."""
    flat = dataclasses.replace(graph, ops=tuple(dataclasses.replace(op, deps=()) for op in graph.ops))
    sim = Simulator(flat, platform, "external", config=SimConfig(reference=True))
    t = sim.tables(1)
    v = sim.start()
    placed = []
    while v is not None:
        # the host is launching the first operator placed; the rest queue behind it
        want = sum(t.td[1][i] for i in placed)
        assert v.host_backlog == pytest.approx(want, rel=1e-12, abs=0.0)
        placed.append(v.op)
        v = sim.submit(1.0)
