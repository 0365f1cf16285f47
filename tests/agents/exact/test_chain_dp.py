"""The chain dynamic program agrees with CP-SAT exactly (in ticks) and with the engine (in seconds)."""

from __future__ import annotations

import pytest

from sparoa_sim.agents.exact.chain_dp import chain_optimum, is_chain
from sparoa_sim.agents.exact.oracle import ROUNDING, Ticks, solve_oracle, tick_for
from sparoa_sim.agents.exact.refsched import RefProblem
from sparoa_sim.sim.simulator import simulate
from sparoa_sim.errors import SimulationError
from sparoa_sim.ir.graph import Op, chain_graph
from sparoa_sim.hwmodels.kinds import OpKind




def test_dp_agrees_with_cp_sat_exactly(chains, nano, agx):
    for plat in (nano, agx):
        for g in chains:
            p = RefProblem.build(g, plat)
            assert is_chain(p)
            r = solve_oracle(g, plat, time_limit_s=20)
            assert r.optimal
            ticks = Ticks(p, tick_for(p))
            dp = chain_optimum(p, ticks.durations())
            assert dp.latency * ticks.tick == pytest.approx(r.objective_s, rel=1e-12)  # same integer optimum
            assert chain_optimum(p).latency <= r.latency_s <= chain_optimum(p).latency * (1 + ROUNDING)
            sec = chain_optimum(p)
            rep = simulate(g, plat, list(sec.placement), reference=True).latency_mean_s
            assert sec.latency == pytest.approx(rep, rel=1e-12)


def test_dp_finds_a_mixed_optimum():
    """A chain of light element-wise operators, then heavy convolutions: the optimum keeps the light
    head on the CPU (no GPU launch to pay) and the convolutions on the GPU — strictly faster than
    either device alone."""
    from sparoa_sim.hwmodels import load_platform

    plat = load_platform("jetson-agx-orin-64gb")
    heavy = dict(kind=OpKind.CONV, macs=4e8, flops=8e8, bytes_in=2e5, bytes_out=2e5, bytes_w=1e6, out_shape=(1, 64, 28, 28))
    light = dict(kind=OpKind.ACT, macs=0.0, flops=1e3, bytes_in=1e3, bytes_out=1e3, bytes_w=0.0, out_shape=(1, 256))
    ops = [Op(name=f"o{i}", **(light if i < 8 else heavy)) for i in range(12)]
    g = chain_graph("mixed", ops)
    p = RefProblem.build(g, plat)
    dp = chain_optimum(p)
    best_single = min(simulate(g, plat, pol, reference=True).latency_mean_s for pol in ("cpu", "gpu"))
    on_cpu = sum(1 for x in dp.placement if x == 0.0)
    assert 0 < on_cpu < len(ops)
    assert dp.latency < best_single * 0.95
    assert simulate(g, plat, list(dp.placement), reference=True).latency_mean_s == pytest.approx(dp.latency, rel=1e-12)


def test_dp_refuses_a_dag(nano, forkjoin):
    p = RefProblem.build(forkjoin, nano)
    assert not is_chain(p)
    with pytest.raises(SimulationError, match="not a chain"):
        chain_optimum(p)


def test_dp_with_kernel_counts_agrees_with_cp_sat_and_the_engine(chains, nano):
    """Per-operator launch times (``t_dispatch · max(1, kernels)``, kernels 0..4) enter the DP,
    the CP-SAT model and the engine alike."""
    import dataclasses

    for s, g in enumerate(chains[:2]):
        ks = [(3 * i + s) % 5 for i in range(len(g))]
        g = dataclasses.replace(g, ops=tuple(dataclasses.replace(op, kernels=k) for op, k in zip(g.ops, ks)))
        p = RefProblem.build(g, nano)
        assert len(set(p.td_gpu)) > 1
        r = solve_oracle(g, nano, time_limit_s=20)
        assert r.optimal
        ticks = Ticks(p, tick_for(p))
        assert chain_optimum(p, ticks.durations()).latency * ticks.tick == pytest.approx(r.objective_s, rel=1e-12)
        sec = chain_optimum(p)
        assert simulate(g, nano, list(sec.placement), reference=True).latency_mean_s == pytest.approx(sec.latency,
                                                                                                     rel=1e-12)
        assert simulate(g, nano, r.schedule, reference=True).latency_mean_s == r.latency_s
