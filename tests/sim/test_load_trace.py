"""Deterministic background load (``LoadTrace``, issue 25): it steps at its times, stays on in the
reference setting (a stochastic ``BackgroundLoad`` does not), an idle trace is exactly no background,
the single-device walk follows it bit for bit, and bad traces are refused naming the field."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.hwmodels.kinds import OpKind
from sparoa_sim.ir.graph import Op, OpGraph
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.hwstate import MAX_LOAD, BackgroundLoad, LoadTrace, as_load_pair
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.sim.singledevice import single_device_figures
from sparoa_sim.testing.strategies import small_graphs
from sparoa_sim.workloads import load_workload

PLATFORMS = ("jetson-agx-orin-64gb", "jetson-orin-nano-8gb")


def _one_conv() -> OpGraph:
    conv = dict(kind=OpKind.CONV, macs=3e9, flops=6e9, bytes_in=2e5, bytes_out=2e5, bytes_w=5e5,
                out_shape=(1, 64, 28, 28))
    return OpGraph(name="one_conv", ops=(Op(name="conv", deps=(), **conv),))


def _figures(res) -> dict:
    return res.to_dict()


def test_trace_shape_and_properties():
    tr = LoadTrace(((0, 0.1, 0.5), (0.002, 0.1, 0.5), (0.004, 0.0, 0.9)))
    assert tr.points == ((0.0, 0.1, 0.5), (0.002, 0.1, 0.5), (0.004, 0.0, 0.9))
    assert not tr.constant and not tr.idle
    assert tr.changes(0) == [(0.0, 0.1), (0.004, 0.0)] and tr.changes(1) == [(0.0, 0.5), (0.004, 0.9)]
    fx = LoadTrace.fixed(gpu=0.8)
    assert fx.constant and fx.load == (0.0, 0.8) and fx.changes(0) == [] and fx.changes(1) == [(0.0, 0.8)]
    assert LoadTrace.fixed().idle and LoadTrace.fixed() == LoadTrace(((0.0, 0.0, 0.0),))
    assert LoadTrace(((0.0, 0.2, 0.2), (1.0, 0.2, 0.2))).constant
    with pytest.raises(SimulationError, match="varying trace"):
        _ = tr.load


def test_reference_setting_keeps_a_trace_and_drops_a_markov_load():
    fx = LoadTrace.fixed(0.2, 0.75)
    assert SimConfig(reference=True, background=fx).background_on is fx
    assert SimConfig(background=fx).background_on is fx
    assert SimConfig(reference=True, background=BackgroundLoad(levels=(0.5,), initial=0)).background_on is None
    assert SimConfig(background=LoadTrace.fixed()).background_on is None  # idle: exactly none
    g, plat = load_workload("resnet18"), load_platform("jetson-orin-nano-8gb")
    ref = Simulator(g, plat, "gpu", config=SimConfig(reference=True)).run().latency_mean_s
    one_level = SimConfig(reference=True, background=BackgroundLoad(levels=(0.5,), initial=0))
    assert Simulator(g, plat, "gpu", config=one_level).run().latency_mean_s == ref  # as before
    at = Simulator(g, plat, "gpu", config=SimConfig(reference=True, background=LoadTrace.fixed(gpu=0.5))).run()
    assert at.latency_mean_s > ref


@pytest.mark.parametrize("base", [SimConfig(reference=True), SimConfig(), SimConfig(host_io=False, noise=False)])
@pytest.mark.parametrize("policy", ["gpu", "cpu", "greedy", "coexec"])
def test_idle_trace_is_bit_identical_to_no_background(base, policy):
    g, plat = load_workload("resnet18"), load_platform("jetson-agx-orin-64gb")
    none = base.replace(background=None, record_trace=True)
    idle = base.replace(background=LoadTrace(((0.0, 0.0, 0.0), (0.001, 0.0, 0.0))), record_trace=True)
    for seed in (0, 5):
        a, b = Simulator(g, plat, policy, config=none), Simulator(g, plat, policy, config=idle)
        assert _figures(a.run(seed)) == _figures(b.run(seed))
        assert a.trace().events == b.trace().events and a.trace().loads == b.trace().loads == ()


def test_a_trace_steps_at_its_times():
    """One GPU kernel across two steps: re-timed at each (remaining fraction at the new rate)."""
    g, plat = _one_conv(), load_platform("jetson-orin-nano-8gb")
    cfg = SimConfig(reference=True, host_io=False, record_trace=True)
    sim0 = Simulator(g, plat, "gpu", config=cfg)
    r0 = sim0.run()
    t = sim0.tables(1)
    d0, d1 = t.lat[1][0], t.at_load(1, 0.5)[0]
    s = t.td[1][0]  # the kernel starts when its launch ends
    assert r0.latency_mean_s == pytest.approx(s + d0, rel=1e-12)
    t1, t2 = s + 0.25 * d0, s + 0.25 * d0 + 0.5 * d1  # a quarter at load 0, half at 0.5, the rest at 0
    sim = Simulator(g, plat, "gpu", config=cfg.replace(background=LoadTrace(((0, 0, 0), (t1, 0, 0.5), (t2, 0, 0))))
                    )
    res = sim.run()
    assert res.latency_mean_s == pytest.approx(t2 + 0.25 * d0, rel=1e-9)
    assert [(d, lv) for _t, d, lv in sim.trace().loads] == [(1, 0.5), (1, 0.0)]
    assert [tt for tt, _d, _lv in sim.trace().loads] == pytest.approx([t1, t2], rel=1e-12)
    # a step after the work is done changes nothing
    late = cfg.replace(background=LoadTrace(((0, 0, 0), (10 * (s + d0), 0.0, 0.9))))
    assert Simulator(g, plat, "gpu", config=late).run().latency_mean_s == r0.latency_mean_s


_TRACES = {
    "fixed gpu": LoadTrace.fixed(gpu=0.8),
    "fixed both": LoadTrace.fixed(0.3, 0.6),
    "steps": LoadTrace(((0.0, 0.0, 0.9), (2e-4, 0.5, 0.2), (7e-4, 0.1, 0.95), (3e-3, 0.0, 0.0))),
    "dense steps": LoadTrace(tuple((k * 5e-5, (k % 3) * 0.3, ((k + 1) % 4) * 0.3) for k in range(60))),
}


@pytest.mark.parametrize("trace", sorted(_TRACES))
@pytest.mark.parametrize("device", ["cpu", "gpu"])
@pytest.mark.parametrize("reference", [True, False])
def test_the_walk_follows_a_trace_bit_for_bit(trace, device, reference):
    sim = Simulator(load_workload("resnet50"), load_platform("jetson-orin-nano-8gb"), device,
                    config=SimConfig(reference=reference, background=_TRACES[trace]))
    for seed in (0, 11):
        res = sim.run(seed)
        assert single_device_figures(sim, device, seed) == (res.latency_mean_s, res.energy_per_inference_j)


@given(graph=small_graphs(max_ops=25, kernels=(0, 4)), device=st.sampled_from(["cpu", "gpu"]),
       platform=st.sampled_from(PLATFORMS), trace=st.sampled_from(sorted(_TRACES)), seed=st.integers(0, 2**31 - 2))
def test_random_graphs_under_traces_match_the_engine(graph, device, platform, trace, seed):
    sim = Simulator(graph, load_platform(platform), device, config=SimConfig(background=_TRACES[trace]))
    res = sim.run(seed)
    fast = single_device_figures(sim, device, seed)
    assert fast == pytest.approx((res.latency_mean_s, res.energy_per_inference_j), rel=1e-12, abs=0.0)


@pytest.mark.parametrize("points, field, shown", [
    ((), "points", None),
    ("0,0,0", "points", "'0,0,0'"),
    (((0.0, 0.1),), "points[0]", "(0.0, 0.1)"),
    (((0.1, 0.0, 0.0),), "points[0].time_s", "0.1"),
    (((0.0, 0.0, 0.0), (0.0, 0.1, 0.1)), "points[1].time_s", "0.0"),
    (((0.0, 0.0, 0.0), (-1.0, 0.1, 0.1)), "points[1].time_s", "-1.0"),
    (((0.0, 0.0, 0.0), (float("inf"), 0.1, 0.1)), "points[1].time_s", "inf"),
    (((0.0, 1.0, 0.0),), "points[0].cpu", "1.0"),
    (((0.0, 0.0, float("nan")),), "points[0].gpu", "nan"),
    (((0.0, 0.0, "0.5"),), "points[0].gpu", "'0.5'"),
    (((0.0, False, 0.0),), "points[0].cpu", "False"),
])
def test_bad_traces_are_refused_naming_the_field(points, field, shown):
    pattern = re.escape(f"load trace {field}") + (".*" + re.escape(f"got {shown}") if shown else "")
    with pytest.raises(SimulationError, match=pattern):
        LoadTrace(points)


def test_bad_fixed_loads_and_backgrounds_are_refused():
    with pytest.raises(SimulationError, match=r"load trace points\[0\]\.gpu must be .*got 0\.99"):
        LoadTrace.fixed(gpu=0.99)
    assert as_load_pair((0, MAX_LOAD)) == (0.0, MAX_LOAD)
    with pytest.raises(SimulationError, match=r"background\[gpu\] must be .*got -0\.5"):
        as_load_pair([0.1, -0.5], "background")
    with pytest.raises(SimulationError, match=r"background must be a BackgroundLoad, a LoadTrace or None, got 0\.5"):
        SimConfig(background=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        LoadTrace.fixed().points = ()  # type: ignore[misc]
