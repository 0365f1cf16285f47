"""Power-mode switches during a run (sim.powerswitch): a batch formed after the switch runs on the new mode's
figures, one finished before it is untouched; idle power integrates over the modes; bad lists are refused."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.errors import SimulationError
from sparoa_sim.sim.arrivals import Periodic
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.powerswitch import check_power_switches, mean_over
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.sim.streams import CoRun
from sparoa_sim.hwmodels import load_platform

NANO = "jetson-orin-nano-8gb"
CACHE = PredictionCache()


def _run(policy="greedy", power=(), mode="15W", frames=8, fps=10.0, workload="resnet18", **kw):
    sim = Simulator(workload, NANO, policy, arrivals=Periodic(fps, frames), config=SimConfig(mode=mode, reference=True),
                    cache=CACHE, power=power, **kw)
    r = sim.run()
    return sim, r


@pytest.mark.parametrize("policy", [pytest.param("gpu", id="gpu-only"), "greedy", "coexec"])
def test_a_switch_changes_the_requests_after_it_and_not_before(policy):
    # a 10 fps camera: each frame is done well before the next, so frame k's latency is that of its mode alone
    _, base = _run(policy)
    _, low = _run(policy, mode="7W")
    sim, r = _run(policy, power=((0.35, "7W"),))
    lat, lat15, lat7 = r.latencies_s, base.latencies_s, low.latencies_s
    assert list(lat[:4]) == list(lat15[:4])  # frames at 0, .1, .2, .3 s: done before the switch, untouched
    assert list(lat[4:]) == list(lat7[4:])  # frames from 0.4 s: wholly the 7W figures
    assert lat7[0] > lat15[0] * 1.2  # and 7W is slower, so the switch shows
    assert sim.mode_history() == [(0.0, "15W"), (0.35, "7W")] and r.mode == "15W"
    assert sim.hardware_state().mode == "7W"


def test_a_batch_formed_before_the_switch_finishes_on_the_old_figures():
    _, base = _run("gpu")
    t_mid = base.latencies_s[0] / 2  # the first frame is half done when the board switches
    sim, r = _run("gpu", power=((t_mid, "7W"),))
    assert r.latencies_s[0] == base.latencies_s[0]


def test_a_switch_at_zero_is_running_in_that_mode_and_to_the_same_mode_changes_nothing():
    _, low = _run("greedy", mode="7W")
    _, sw0 = _run("greedy", power=((0.0, "7W"),))
    assert list(sw0.latencies_s) == list(low.latencies_s)
    assert sw0.energy_j == pytest.approx(low.energy_j, rel=1e-12)
    _, base = _run("greedy")
    _, same = _run("greedy", power=((0.25, "15W"),))
    assert list(same.latencies_s) == list(base.latencies_s) and same.energy_j == base.energy_j


def test_idle_power_is_integrated_over_the_modes():
    plat = load_platform(NANO)
    idle = {m: CACHE.tables(Simulator("resnet18", NANO, cache=CACHE).graph, plat, 1, m, "fp32").board_idle_w
            for m in ("15W", "7W")}
    assert idle["15W"] != idle["7W"]
    sim, r = _run("gpu", power=((0.35, "7W"),))
    start, end = 0.0, 0.7 + r.latencies_s[-1]
    want = idle["15W"] * (0.35 - start) + idle["7W"] * (end - 0.35)
    assert r.idle_energy_j == pytest.approx(want, rel=1e-9)


def test_co_running_streams_switch_too():
    corun = CoRun(workload="mobilenetv2", policy="gpu", arrivals=Periodic(10.0, 8), name="side")
    _, base = _run("gpu", coruns=[corun])
    _, sw = _run("gpu", coruns=[corun], power=((0.35, "7W"),))
    _, low = _run("gpu", coruns=[corun], mode="7W")
    b, s, lo = (next(x for x in res.streams if x.name == "side") for res in (base, sw, low))
    assert s.latency_p95_s == pytest.approx(lo.latency_p95_s, rel=1e-12) and s.latency_mean_s > b.latency_mean_s


def test_with_noise_and_contention_the_run_is_deterministic_and_slower_after_the_drop():
    cfg = SimConfig(mode="15W")
    runs = [Simulator("resnet18", NANO, "coexec", arrivals=Periodic(30.0, 30), config=cfg, cache=CACHE,
                      power=((0.5, "7W"),)).run(seed=3) for _ in range(2)]
    assert list(runs[0].latencies_s) == list(runs[1].latencies_s)
    lat = np.asarray(runs[0].latencies_s)
    assert lat[-10:].mean() > lat[:10].mean() * 1.2


@pytest.mark.parametrize(("power", "field"), [
    (((0.1, "9W"),), "power[0].mode"), (((0.2, "7W"), (0.1, "15W")), "power[1].time_s"),
    (((-1.0, "7W"),), "power[0].time_s"), (((0.1,),), "power[0]"), ("7W", "power"),
    (((float("nan"), "7W"),), "power[0].time_s"), (((0.1, 7),), "power[0].mode")])
def test_bad_switch_lists_are_refused_naming_the_field(power, field):
    with pytest.raises(SimulationError, match="^" + re.escape(field)):
        Simulator("resnet18", NANO, "gpu", cache=CACHE, power=power)


def test_aliases_resolve_to_the_mode_name():
    plat = load_platform(NANO)
    assert check_power_switches([(0, "7W")], plat) == ((0.0, "7W"),)


@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 10)), min_size=1, max_size=6),
       st.floats(0, 10), st.floats(0, 10))
def test_mean_over_is_a_time_average(steps, a, b):
    log = sorted({t: v for t, v in [(0.0, steps[0][1]), *steps]}.items())
    start, end = min(a, b), max(a, b)
    m = mean_over(log, start, end)
    vals = [v for _t, v in log]
    assert min(vals) - 1e-9 <= m <= max(vals) + 1e-9
    if len(set(vals)) == 1:
        assert m == pytest.approx(vals[0])
