"""The event-free single-device walk equals the engine's run under the cpu / gpu policy, exactly."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.sim.arrivals import ClosedLoop, Poisson
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.sim.hwstate import BackgroundLoad
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.singledevice import single_device_figures
from sparoa_sim.testing.strategies import small_graphs
from sparoa_sim.workloads import load_workload

PLATFORMS = ("jetson-agx-orin-64gb", "jetson-orin-nano-8gb")
_CONFIGS = {
    "default": SimConfig(),
    "reference": SimConfig(reference=True),
    "busy background": SimConfig(background=BackgroundLoad(mean_hold_s=2e-4)),
    "fixed background": SimConfig(background=BackgroundLoad(levels=(0.4,), initial=0), noise=False),
    "no host io": SimConfig(host_io=False, background=BackgroundLoad(mean_hold_s=1e-3)),
    "equal levels": SimConfig(background=BackgroundLoad(levels=(0.25, 0.25), mean_hold_s=1e-3)),  # once hung
    "gpu load only": SimConfig(background=BackgroundLoad(levels=(0.0, 0.95), devices=("gpu",), mean_hold_s=5e-4)),
}


def _both(sim: Simulator, device: str, seed: int) -> tuple[tuple[float, float], tuple[float, float]]:
    res = sim.run(seed)
    fast = single_device_figures(sim, device, seed)
    assert fast is not None
    return fast, (res.latency_mean_s, res.energy_per_inference_j)


@pytest.mark.parametrize("config", sorted(_CONFIGS))
@pytest.mark.parametrize("device", ["cpu", "gpu"])
@pytest.mark.parametrize("workload", ["resnet50", "swin_t"])
def test_shipped_workloads_match_the_engine_exactly(workload, device, config):
    sim = Simulator(load_workload(workload), load_platform("jetson-orin-nano-8gb"), device,
                    config=_CONFIGS[config])
    for seed in (0, 7, 2**31 - 2):
        fast, engine = _both(sim, device, seed)
        assert fast == engine  # same arithmetic, same order: bit for bit


@given(graph=small_graphs(max_ops=25, kernels=(0, 4)), device=st.sampled_from(["cpu", "gpu"]),
       platform=st.sampled_from(PLATFORMS), config=st.sampled_from(sorted(_CONFIGS)),
       seed=st.integers(0, 2**31 - 2), random_mode=st.integers(0, 10))
def test_random_graphs_modes_and_seeds_match_the_engine(graph, device, platform, config, seed, random_mode):
    plat = load_platform(platform)
    mode = plat.mode_names[random_mode % len(plat.mode_names)]
    cfg = dataclasses.replace(_CONFIGS[config], mode=mode)
    fast, engine = _both(Simulator(graph, plat, device, config=cfg), device, seed)
    assert fast == pytest.approx(engine, rel=1e-12, abs=0.0)


def test_the_walk_declines_what_it_does_not_model(tmp_path):
    g = load_workload("resnet18")
    plat = load_platform("jetson-orin-nano-8gb")
    stream = Simulator(g, plat, "gpu", arrivals=ClosedLoop(4))
    poisson = Simulator(g, plat, "gpu", arrivals=Poisson(rate=100.0, n_requests=1))
    assert single_device_figures(stream, "gpu", 0) is None
    assert single_device_figures(poisson, "gpu", 0) is None
    assert single_device_figures(Simulator(g, plat, "gpu"), "gpu", None) is None
    with pytest.raises(SimulationError, match="'cpu' or 'gpu'"):
        single_device_figures(Simulator(g, plat, "gpu"), "npu", 0)
    # CPU launches through the host thread (t_dispatch > 0) interfere with CPU kernels: engine only
    src = (Path(__file__).parents[1] / "fixtures" / "host.toml").read_text(encoding="utf-8")
    variant = tmp_path / "host-dispatch.toml"
    variant.write_text(src.replace('t_dispatch = { value = 0.0,', 't_dispatch = { value = 1e-05,', 1),
                       encoding="utf-8")
    slow_host = Simulator(g, load_platform(variant), "cpu")
    assert slow_host.tables(1).t_dispatch[0] == 1e-05
    assert single_device_figures(slow_host, "cpu", 0) is None
    assert single_device_figures(Simulator(g, load_platform(variant), "gpu"), "gpu", 0) is not None


def test_env_references_come_from_the_walk_and_equal_the_engine():
    import gymnasium as gym

    import sparoa_sim  # noqa: F401
    from sparoa_sim.envs.reference import REFERENCES

    REFERENCES.clear()
    env = gym.make("SparOA-v0", workloads="resnet18", platform="jetson-orin-nano-8gb")
    env.reset(seed=3)
    inner = env.unwrapped
    ep = inner._ep
    for device in ("cpu", "gpu"):
        ref = inner._factory.reference(ep, device)
        res = Simulator(ep.graph, ep.platform, device, config=ep.config.replace(record_trace=False)).run(ep.seed)
        assert (ref.latency_mean_s, ref.energy_per_inference_j) == (res.latency_mean_s,
                                                                     res.energy_per_inference_j)


@given(graph=small_graphs(max_ops=14, kernels=(0, 4)), device=st.sampled_from(["cpu", "gpu"]),
       platform=st.sampled_from(PLATFORMS), host_io=st.booleans())
def test_the_walk_is_the_reference_rules_on_one_device(graph, device, platform, host_io):
    """In the reference setting the walk's latency is the least solution of sim.reference's rules
    (docs/architecture.md §4.3) for the all-on-one-device placement in Kahn's FIFO order (random
    kernel counts: per-operator launch times)."""
    from sparoa_sim.sim import reference as rules

    sim = Simulator(graph, load_platform(platform), device, arrivals=ClosedLoop(1),
                    config=SimConfig(reference=True, host_io=host_io))
    fast = single_device_figures(sim, device, 0)
    assert fast is not None
    t = sim.tables(1)
    gt = sim.cache.graph(graph)
    order = list(gt.fifo_order)
    gpu = [device == "gpu"] * gt.n
    seqs = ([], order) if device == "gpu" else (order, [])
    want = rules.least_solution(gt.deps, gt.cons, gpu, seqs, (t.lat[0], t.lat[1], t.xfer_s, t.td[1]), host_io)
    assert fast[0] == want.makespan
