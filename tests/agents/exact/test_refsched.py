"""The reference-setting evaluator reproduces the engine exactly (it is the oracle's model)."""

from __future__ import annotations

import pytest

from sparoa_sim.agents.exact.refsched import RefProblem, evaluate, incomparable_pairs, reference_schedule, schedule_from_trace
from sparoa_sim.sim.simulator import Simulator, simulate
from sparoa_sim.errors import SimulationError
from sparoa_sim.sim.policies import RandomPolicy, StaticSchedule
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.ir.synthetic import generate


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("p_gpu", [0.3, 0.7])
def test_evaluator_matches_engine_on_random_schedules(nano, seed, p_gpu):
    g = generate(seed, target_ops=30)
    p = RefProblem.build(g, nano)
    res, sched = reference_schedule(g, nano, RandomPolicy(p_gpu=p_gpu))
    assert 0 < sum(sched.placement) < len(g) or len(g) < 5
    t = evaluate(p, sched.placement, sched.order)
    assert t.makespan == pytest.approx(res.latency_mean_s, rel=1e-12)
    # the static replay of the extracted schedule runs the same way
    rep = simulate(g, nano, sched, reference=True)
    assert rep.latency_mean_s == pytest.approx(res.latency_mean_s, rel=1e-12)


def test_evaluator_matches_engine_with_a_non_natural_order(agx):
    """Swap two independent GPU operators in the order: the staged release still matches."""
    g = generate(7, target_ops=30)
    p = RefProblem.build(g, agx)
    movable = [(i, j) for i, j in incomparable_pairs(p) if all(q < i for q in p.deps[j])]
    assert movable
    i, j = movable[0]
    order = [k for k in range(len(g)) if k != j]
    order.insert(order.index(i), j)  # j launched (and run) before i, though i comes first in the graph
    sched = StaticSchedule([1.0] * len(g), order={"cpu": [], "gpu": order})
    t = evaluate(p, sched.placement, sched.order)
    assert t.makespan == pytest.approx(simulate(g, agx, sched, reference=True).latency_mean_s, rel=1e-12)


def test_single_device_makespans_are_sums(nano):
    g = generate(3, target_ops=12, kinds=("chain",))
    p = RefProblem.build(g, nano)
    n = len(g)
    cpu = evaluate(p, [0.0] * n, {"cpu": list(range(n)), "gpu": []})
    assert cpu.makespan == pytest.approx(sum(p.lat_cpu), rel=1e-12)
    gpu = evaluate(p, [1.0] * n, {"cpu": [], "gpu": list(range(n))})
    assert gpu.makespan >= sum(p.lat_gpu) + p.xfer[n] + p.xfer[n - 1]
    assert p.lower_bound_s() <= min(cpu.makespan, gpu.makespan)


def test_evaluator_rejects_bad_input(nano):
    g = generate(1, target_ops=6, kinds=("chain",))
    p = RefProblem.build(g, nano)
    with pytest.raises(SimulationError, match="placement"):
        evaluate(p, [0.5] * 6, {"cpu": list(range(6)), "gpu": list(range(6))})
    with pytest.raises(SimulationError, match="order.gpu"):
        evaluate(p, [1.0] * 6, {"cpu": [], "gpu": [0, 1, 2]})
    with pytest.raises(SimulationError, match="cycle"):
        evaluate(p, [1.0] * 6, {"cpu": [], "gpu": [1, 0, 2, 3, 4, 5]})
    with pytest.raises(SimulationError, match="batch"):
        RefProblem.build(g, nano, batch=0)


def test_schedule_from_trace_refuses_split_operators(nano):
    g = generate(2, target_ops=8, kinds=("chain",))
    share = [0.5 if op.split_axis else 1.0 for op in g.ops]
    assert any(s == 0.5 for s in share)
    sim = Simulator(g, nano, share, config=SimConfig(reference=True, record_trace=True))
    sim.run()
    with pytest.raises(SimulationError, match="split"):
        schedule_from_trace(sim.trace(), len(g))
