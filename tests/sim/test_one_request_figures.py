"""``Simulator.one_request_figures()``: the figures an environment reads at each episode end, equal bit for bit
to the :class:`Results` fields they stand for, without building the Results (and None where that shortcut
does not apply)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparoa_sim.errors import SimulationError
from sparoa_sim.sim.arrivals import Batching, ClosedLoop, Poisson
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.hwstate import BackgroundLoad
from sparoa_sim.sim.simulator import Simulator

_CONFIGS = {
    "noise+random background": SimConfig(background=BackgroundLoad(mean_hold_s=1e-3)),
    "reference": SimConfig(reference=True),
    "no noise, fixed load": SimConfig(noise=False, background=BackgroundLoad(levels=(0.4,), initial=0)),
}


def _as_results(res):
    return (res.latency_mean_s, res.latency_p95_s, res.energy_per_inference_j, res.decisions, res.placement)


@pytest.mark.parametrize("config", list(_CONFIGS.values()), ids=list(_CONFIGS))
@settings(max_examples=12)
@given(seed=st.integers(0, 2**40), policy=st.sampled_from(["cpu", "gpu", "threshold", "random"]))
def test_one_request_figures_equal_the_results_fields(config, seed, policy):
    sim = Simulator("mobilenetv3_small", "jetson-agx-orin-64gb", policy, config=config)
    res = sim.run(seed)
    figures = sim.one_request_figures()
    assert figures == _as_results(res)
    assert [type(v) for v in figures] == [float, float, float, int, tuple]


def test_externally_stepped_run_gives_the_same_figures_as_its_results():
    sim = Simulator("resnet50", "jetson-orin-nano-8gb", "external", config=_CONFIGS["noise+random background"])
    view = sim.start(7)
    k = 0
    while view is not None:
        view = sim.submit(k % 2)
        k += 1
    assert sim.one_request_figures() == _as_results(sim.results())


@pytest.mark.parametrize("arrivals, batching", [
    (ClosedLoop(3), None),
    (Poisson(rate=200.0, n_requests=4), Batching(max_batch=2, timeout_s=1e-3)),
])
def test_runs_of_several_requests_are_left_to_results(arrivals, batching):
    sim = Simulator("mobilenetv3_small", "jetson-agx-orin-64gb", "gpu", arrivals=arrivals, batching=batching)
    sim.run(1)
    assert sim.one_request_figures() is None
    assert sim.results().n_requests == arrivals.n_requests


def test_an_unfinished_run_is_refused():
    sim = Simulator("mobilenetv3_small", "jetson-agx-orin-64gb", "external")
    with pytest.raises(SimulationError, match="not finished"):
        sim.one_request_figures()
    sim.start(0)
    with pytest.raises(SimulationError, match="not finished"):
        sim.one_request_figures()
