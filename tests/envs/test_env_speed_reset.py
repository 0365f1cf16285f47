"""Session 11's env speed paths (issue 21) give what the plain code gives, bit for bit.

- the CPU-only reference of the final info is computed at reset (``EpisodeFactory.prefetch_reference``,
  ``ReferenceCache.prefetch``: no lookup counted): the same figures as the engine's CPU-only run of the
  episode's seed;
- ``ObservationBuilder.build`` reads the run through ``OpView.bound`` (taken afresh when the view is
  bound to a new run) and equals ``OpView.decision_state`` packed field by field, for a builder made
  before the run starts and kept across runs (``real.run.policy_placer``'s pattern); loads passed as
  None are the ones in force (``OpView.load``);
- the single-device walk's per-platform σ equals ``noise_sigmas`` and cannot be changed by a caller.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from sparoa_sim.envs.observation import OBS_LAYOUT, ObservationBuilder, logt
from sparoa_sim.envs.reference import REFERENCES, Reference, ReferenceCache
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.hwmodels.noise import noise_sigmas
from sparoa_sim.sim.arrivals import ClosedLoop
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.sim.singledevice import _sigmas

from env_helpers import SMALL


@pytest.mark.parametrize("kwargs", [{"workloads": SMALL}, {"workloads": SMALL, "mode": "random", "lam": 0.5}])
def test_cpu_reference_computed_at_reset_equals_the_engine_run(kwargs):
    env = gym.make("SparOA-v0", **kwargs).unwrapped
    env.action_space.seed(2)
    env.reset(seed=4)
    for _ in range(3):  # three episodes
        ep = env._ep
        misses = REFERENCES.misses
        taken = env._factory.reference(ep, "cpu")  # computed at reset: a hit now
        assert REFERENCES.misses == misses
        sim = Simulator(ep.graph, ep.platform, "cpu", arrivals=ep.arrivals, batching=ep.batching,
                        config=ep.config.replace(record_trace=False), seed=ep.seed)
        res = sim.run(ep.seed)
        assert (taken.latency_mean_s, taken.energy_per_inference_j) == (res.latency_mean_s,
                                                                         res.energy_per_inference_j)
        terminated = False
        while not terminated:
            _, _, terminated, _, info = env.step(env.action_space.sample())
        assert info["cpu_latency_mean_s"] == res.latency_mean_s
        assert info["speedup_vs_cpu"] == res.latency_mean_s / info["latency_mean_s"]
        env.reset()


def test_prefetch_computes_once_and_counts_no_lookup():
    cache = ReferenceCache(maxsize=2)
    calls = []

    def compute(v):
        return lambda: calls.append(v) or Reference(v, 2 * v)

    cache.prefetch("a", compute(1.0))
    cache.prefetch("a", compute(9.0))  # present: not recomputed
    assert calls == [1.0] and (cache.hits, cache.misses) == (0, 0)
    assert cache.get("a", compute(9.0)) == Reference(1.0, 2.0) and (cache.hits, cache.misses) == (1, 0)
    cache.prefetch("b", compute(2.0))
    cache.prefetch("c", compute(3.0))  # bounded: the least recently used ("a") goes
    assert len(cache) == 2 and cache.get("a", compute(4.0)) == Reference(4.0, 8.0) and cache.misses == 1


def _by_decision_state(b: ObservationBuilder, sim: Simulator, view) -> np.ndarray:
    """The observation packed field by field from ``OpView.decision_state`` and the progress properties."""
    pc, pg, bc, bgl, hb, on_c, on_g, xc, xg, busy, cont, placed, n_ready = view.decision_state()
    total = view.input_total_bytes
    fc, fg = (on_c / total, on_g / total) if total > 0.0 else (1.0, 1.0)
    inv_t = b.inv_t
    lc, lg = view.load
    out = np.zeros(b.n, dtype=np.float32)
    n_static = len(OBS_LAYOUT) - 21
    out[:n_static] = b.static_table(view.batch)[view.op]
    out[n_static:len(OBS_LAYOUT)] = (
        logt(pc * inv_t), logt(pg * inv_t), logt(bc * inv_t), logt(bgl * inv_t), logt(hb * inv_t), fc, fg,
        logt(xc * inv_t), logt(xg * inv_t), lc, lg, 1.0 if busy else 0.0, min(cont, 1.0), b.mode_feat,
        min(view.batch / b.max_batch, 1.0), placed, sim.requests_done * b.inv_n,
        min(sim.n_in_system * b.inv_n, 1.0), min(n_ready / 16.0, 1.0), logt(sim.now * inv_t),
        logt(sim.energy_so_far * b.inv_e))
    return out


@pytest.mark.parametrize("config", [SimConfig(), SimConfig(reference=True)])
def test_a_builder_kept_across_runs_rebinds_to_each_run(config):
    sim = Simulator(SMALL, "jetson-agx-orin-64gb", "external", arrivals=ClosedLoop(3), config=config)
    b = ObservationBuilder(sim, 2e-3, 0.5, 0, 1, 1)  # made before any run, as policy_placer does
    bounds = []
    rng = np.random.default_rng(0)
    for seed in (1, 2):
        view = sim.start(seed)
        bounds.append(view.bound)
        steps = 0
        while view is not None:
            lc, lg = view.load
            obs = b.build(view, lc, lg)
            assert obs.tobytes() == _by_decision_state(b, sim, view).tobytes()
            assert b.build(view, None, None).tobytes() == obs.tobytes()  # the loads in force, read by the builder
            view = sim.submit(float(rng.integers(2)))
            steps += 1
        assert steps == 3 * len(sim.graph)
    assert bounds[0] is not bounds[1] and bounds[0][0] is not bounds[1][0]  # a new run: a new bound tuple


def test_builder_logt_of_backlogs_clamps_negative_values_as_decision_state():
    # a backlog a hair below 0 (float cancellation) is read as 0, as OpView.backlog says
    sim = Simulator(SMALL, "jetson-agx-orin-64gb", "external", arrivals=ClosedLoop(1), config=SimConfig(reference=True))
    view = sim.start(0)
    b = ObservationBuilder(sim, 1e-3, 1.0, 0, 1, 1)
    state = view.bound[0]
    state.backlog[0] = -1e-18
    state.backlog[1] = 5e-4
    obs = b.build(view, 0.0, 0.0)
    assert obs.tobytes() == _by_decision_state(b, sim, view).tobytes()
    i = OBS_LAYOUT.index("backlog_cpu")
    assert obs[i] == 0.0 and obs[i + 1] == np.float32(logt(5e-4 * 1e3))


def test_walk_sigmas_equal_noise_sigmas_and_are_read_only():
    plat = load_platform("jetson-agx-orin-64gb")
    sigma, on = _sigmas(plat)
    assert sigma.tolist() == noise_sigmas(plat).tolist() and on == bool(np.any(noise_sigmas(plat) > 0))
    assert _sigmas(plat)[0] is sigma  # computed once per platform object
    with pytest.raises(ValueError):
        sigma[0] = 1.0
