"""Baselines: registered by name (lazily), each behaves as its rule says."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from sparoa_sim.agents.heuristics.baselines import (
    BASELINE_NAMES,
    CoExec,
    Greedy,
    Heft,
    TENSORRT_PRECISION,
    ThresholdBest,
    fit_threshold_best,
    heft_schedule,
    tensorrt_results,
)
from sparoa_sim.agents.exact.refsched import RefProblem, evaluate
from sparoa_sim.sim.simulator import Simulator, simulate
from sparoa_sim.errors import SimulationError
from sparoa_sim.ir.graph import Op, OpGraph, chain_graph
from sparoa_sim.hwmodels.kinds import OpKind
from sparoa_sim.sim.policies import make_policy, policy_names
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.workloads import load_workload


def test_names_are_registered_without_importing_agents():
    code = ("import sys\nimport sparoa_sim.sim.policies as P\n"
            "print(sorted(n for n in P.policy_names()))\n"
            "print(any(m.startswith('sparoa_sim.agents') for m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    for name in BASELINE_NAMES + ("oracle",):
        assert repr(name) in out[0]
    assert out[1] == "False"
    assert isinstance(make_policy("heft"), Heft)
    assert isinstance(make_policy("greedy"), Greedy)
    assert isinstance(make_policy("coexec", min_share=0.1), CoExec)
    assert set(BASELINE_NAMES) <= set(policy_names())


def _single(kind=OpKind.CONV, flops=8e8):
    return OpGraph(name="one", ops=(Op(name="x", kind=kind, macs=flops / 2, flops=flops, bytes_in=1e5, bytes_out=1e5,
                                       bytes_w=1e5, out_shape=(1, 64, 8, 8), split_axis="channel"),))


def test_greedy_picks_the_earlier_finish(nano):
    heavy = _single()
    res = simulate(heavy, nano, "greedy", reference=True)
    assert res.placement == (1.0,)  # the GPU is far faster on a big conv
    tiny = _single(kind=OpKind.ADD, flops=10.0)
    t = Simulator(tiny, nano).tables(1)
    want = 1.0 if max(t.t_dispatch[1], t.xfer_s[1]) + t.lat[1][0] <= t.lat[0][0] else 0.0
    assert simulate(tiny, nano, "greedy", reference=True).placement == (want,)


def test_heft_is_a_valid_static_schedule_and_replays_exactly(small_graphs, agx):
    for g in small_graphs:
        p = RefProblem.build(g, agx)
        s = heft_schedule(p, workload=g.name)
        s.check(g)
        res = simulate(g, agx, "heft", reference=True)
        assert res.latency_mean_s == pytest.approx(evaluate(p, s.placement, s.order).makespan, rel=1e-12)
        assert res.placement == s.placement
        # no worse than both single devices on these graphs would be a claim; HEFT is a heuristic
        assert res.latency_mean_s <= simulate(g, agx, "cpu", reference=True).latency_mean_s


def test_heft_and_greedy_charge_each_operators_launch_time(small_graphs, nano):
    """With kernel counts 0..4 HEFT still replays exactly, and Greedy sees the operator's own dispatch time."""
    g = small_graphs[0]
    g = replace(g, ops=tuple(replace(op, kernels=i % 5) for i, op in enumerate(g.ops)))
    p = RefProblem.build(g, nano)
    f = nano.gpu.latency.dispatch_factor_of  # per-kind factor on the per-kernel dispatch
    base = p.td_gpu[1] / f(g.ops[1].kind)  # op 1 has one kernel
    assert p.td_gpu == pytest.approx(tuple(base * f(op.kind) * max(1, i % 5) for i, op in enumerate(g.ops)),
                                     rel=1e-12)
    s = heft_schedule(p, workload=g.name)
    res = simulate(g, nano, "heft", reference=True)
    assert res.latency_mean_s == evaluate(p, s.placement, s.order).makespan
    assert res.placement == s.placement
    one = _single(kind=OpKind.ADD, flops=10.0)
    for k in (0, 1, 4):
        gk = replace(one, ops=(replace(one.ops[0], kernels=k),))
        t = Simulator(gk, nano).tables(1)
        want = 1.0 if max(t.t_dispatch[1] * max(1, k), t.xfer_s[1]) + t.lat[1][0] <= t.lat[0][0] else 0.0
        assert simulate(gk, nano, "greedy", reference=True).placement == (want,)


def test_heft_decide_before_reset_is_an_error():
    with pytest.raises(SimulationError, match="reset"):
        Heft().decide(None)


def test_coexec_splits_heavy_operators_by_speed(nano):
    op = _single().ops[0]
    g = chain_graph("two", [replace(op, name="a"), replace(op, name="b")])
    sim = Simulator(g, nano, CoExec(min_latency_s=0.0, min_share=0.0), config=SimConfig(reference=True))
    res = sim.run()
    t = sim.tables(1)
    for i in range(2):
        tc, tg = t.lat[0][i], t.lat[1][i]
        assert res.placement[i] == pytest.approx(tc / (tc + tg))
    assert res.split_ops == 2
    # with a high bar nothing is split
    assert simulate(g, nano, "coexec", reference=True, min_latency_s=10.0).split_ops == 0
    with pytest.raises(SimulationError, match="min_share"):
        CoExec(min_share=0.5)


def test_threshold_best_is_the_grid_minimum(small_graphs, nano):
    fit = fit_threshold_best(small_graphs, nano, max_cuts=5)
    assert fit.score <= 1.0  # "nothing on the CPU" (GPU-only) is on the grid
    assert fit.placements_simulated <= fit.pairs_evaluated * len(small_graphs)

    def score(ts, ti):
        tot = 0.0
        for g in small_graphs:
            ref = simulate(g, nano, "gpu", reference=True).latency_mean_s
            tot += simulate(g, nano, "threshold", reference=True, tau_s=ts, tau_i=ti).latency_mean_s / ref
        return tot / len(small_graphs)

    assert score(fit.tau_s, fit.tau_i) == pytest.approx(fit.score, rel=1e-12)
    # every other pair of the grid scores no better (checked at the grid's corners)
    assert fit.score <= score(0.0, 1e12) + 1e-12  # all to the CPU
    assert fit.score <= score(2.0, 0.0) + 1e-12  # all to the GPU


def test_threshold_best_policy_fits_at_reset(small_graphs, nano):
    pol = ThresholdBest(train=[], max_cuts=3)
    with pytest.raises(SimulationError, match="empty"):
        simulate(small_graphs[0], nano, pol, reference=True)
    with pytest.raises(SimulationError, match="both"):
        ThresholdBest(tau_s=0.5)
    fixed = simulate(small_graphs[0], nano, "threshold-best", tau_s=0.4, tau_i=30.0, reference=True)
    same = simulate(small_graphs[0], nano, "threshold", tau_s=0.4, tau_i=30.0, reference=True)
    assert fixed.latency_mean_s == same.latency_mean_s


def test_tensorrt_runs_the_fused_graph_in_fp16_tc(nano):
    g = load_workload("resnet18")
    r = tensorrt_results(g, nano)
    assert r.precision == TENSORRT_PRECISION
    assert r.n_ops < len(g)
    assert r.placement == (1.0,) * r.n_ops
    assert r.latency_mean_s < simulate(g, nano, "gpu", reference=True).latency_mean_s
