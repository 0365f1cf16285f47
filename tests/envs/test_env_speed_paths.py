"""Issue 21's second round of env fast paths give what the plain code gives, bit for bit.

- ``Simulator.progress()`` (one call per step) equals the properties it replaces, at every decision
  and before and after a run;
- the observation's static part packed from ``OperatorFeatures.prefix`` / ``ratio`` and the episode's
  idle latencies equals the builder's ``static_table`` row (covered field by field in
  ``test_env_fastpath``; here for synthetic graphs, several batch sizes and the threshold features);
- ``ObservationBuilder.build`` reads the progress itself when the caller does not pass it.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from sparoa_sim.envs.observation import OBS_LAYOUT, operator_features
from sparoa_sim.sim.arrivals import ClosedLoop
from sparoa_sim.sim.simulator import Simulator

from env_helpers import SMALL

_N_STATIC = len(OBS_LAYOUT) - 21


def _progress_by_properties(sim) -> tuple:
    return (sim.now, sim.time_in_system, sim.energy_so_far, sim.n_in_system, sim.requests_done)


@pytest.mark.parametrize("kwargs", [
    {"workloads": SMALL},
    {"workloads": "resnet18", "batch": [1, 2], "requests": 3, "arrival": "poisson:400", "lam": 0.3},
    {"workloads": SMALL, "scenario": ["detector-classifier"]},
])
def test_progress_equals_the_properties_at_every_decision(kwargs):
    env = gym.make("SparOA-v0", **kwargs).unwrapped
    env.action_space.seed(5)
    env.reset(seed=7)
    sim = env._sim
    for _ in range(400):  # a few episodes (a co-run scenario's first part)
        prog = sim.progress()
        assert prog == _progress_by_properties(sim)
        assert [type(v) for v in prog] == [float, float, float, int, int]
        _, _, terminated, _, _ = env.step(env.action_space.sample())
        if terminated:
            assert sim.progress() == _progress_by_properties(sim)
            env.reset()


def test_progress_before_a_run_is_zero():
    sim = Simulator(SMALL, "jetson-agx-orin-64gb", "external", arrivals=ClosedLoop(2))
    assert sim.progress() == (0.0, 0.0, 0.0, 0, 0) == _progress_by_properties(sim)


@pytest.mark.parametrize("kwargs", [
    {"workloads": "synthetic", "synthetic_ops": 30, "batch": [1, 4], "requests": 4},
    {"workloads": SMALL, "thresholds": [0.25, 30.0], "reference": True, "batch": [2]},
])
def test_packed_static_part_equals_the_static_table(kwargs):
    env = gym.make("SparOA-v0", **kwargs).unwrapped
    env.action_space.seed(2)
    obs, _ = env.reset(seed=3)
    b = env._builder
    for _ in range(80):
        view = env._view
        if view is None:
            obs, _ = env.reset()
            continue
        row = b.static_table(view.batch)[view.op]
        assert obs[:_N_STATIC].tobytes() == row.tobytes()
        assert obs[len(OBS_LAYOUT):].tobytes() == b.buf[len(OBS_LAYOUT):].tobytes()
        again = b.build(view, *view.load)  # reads Simulator.progress() itself
        if env._plain_loads:
            assert again.tobytes() == obs.tobytes() and not np.shares_memory(again, obs)
        obs, _, terminated, _, _ = env.step(env.action_space.sample())
        if terminated:
            obs, _ = env.reset()


def test_feature_prefix_and_ratio_are_the_table_columns():
    sim = Simulator(SMALL, "jetson-orin-nano-8gb", "gpu")
    f = operator_features(sim, 2)
    assert len(f.prefix) == len(f.ratio) == f.table.shape[0]
    for i, (pre, ratio) in enumerate(zip(f.prefix, f.ratio)):
        assert isinstance(pre, bytearray) and bytes(pre) == f.table[i, :20].tobytes()
        assert np.float32(ratio) == f.table[i, 22] and float(np.float32(ratio)) == ratio
    assert f.all_finite == bool(np.isfinite(f.lat).all())


def test_default_features_are_computed_once_per_batch(monkeypatch):
    """A builder made without the env's shared features (``real.run.policy_placer``) keeps its own."""
    from sparoa_sim.envs import observation

    calls = []
    real = observation.operator_features
    monkeypatch.setattr(observation, "operator_features", lambda sim, batch: calls.append(batch) or real(sim, batch))
    sim = Simulator(SMALL, "jetson-agx-orin-64gb", "external", arrivals=ClosedLoop(2))
    view = sim.start()
    b = observation.ObservationBuilder(sim, 1e-3, 1.0, 0, 1, 1)
    masks = [b.finite(1) for _ in range(3)]
    first = b.build(view, 0.0, 0.0)
    view = sim.submit(1.0)
    b.build(view, 0.0, 0.0)
    assert calls == [1] and masks[0] is masks[1] is masks[2]
    assert first.dtype == np.float32 and first.shape == (len(OBS_LAYOUT),)
