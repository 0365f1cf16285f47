"""The environments in a scenario: Gymnasium's checker, seeded rollouts, pickling, spec round trip, mixes."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sparoa_sim  # noqa: F401
from sparoa_sim.errors import SimulationError


def _rollout(env, seed, actions=1):
    obs, info = env.reset(seed=seed)
    total, steps, done = 0.0, 0, False
    while not done:
        obs, r, term, trunc, info = env.step(actions)
        total += r
        steps += 1
        done = term or trunc
    return total, steps, info


def test_checker_passes_in_a_scenario():
    env = gym.make("SparOA-v0", workloads="resnet18", platform="jetson-orin-nano-8gb", mode="15W",
                   scenario="gpu-shared-heavy")
    check_env(env.unwrapped, skip_render_check=True)


def test_a_fixed_gpu_load_slows_gpu_only_episodes():
    def latency(scenario):
        env = gym.make("SparOA-v0", workloads="squeezenet1_1", platform="jetson-orin-nano-8gb", mode="15W",
                       reference=True, scenario=scenario)
        return _rollout(env, 0, actions=1)[2]["latency_mean_s"]

    from sparoa_sim.sim.config import SimConfig
    from sparoa_sim.sim.hwstate import LoadTrace
    from sparoa_sim.sim.simulator import Simulator

    busy = latency("gpu-shared-heavy")
    assert busy > 1.2 * latency("idle")
    cfg = SimConfig(mode="15W", reference=True, background=LoadTrace.fixed(gpu=0.8))
    assert busy == Simulator("squeezenet1_1", "jetson-orin-nano-8gb", "gpu", config=cfg).run().latency_mean_s


def test_seeded_rollouts_repeat_and_pickle_in_a_stochastic_scenario():
    kw = dict(workloads="squeezenet1_1", platform="jetson-orin-nano-8gb", mode="15W", scenario="gpu-shared-varying")
    a, b = gym.make("SparOA-v0", **kw), gym.make("SparOA-v0", **kw)
    ra, rb = _rollout(a, 5, 0), _rollout(b, 5, 0)
    assert ra[0] == rb[0] and ra[1] == rb[1] and ra[1] >= 64  # one decision per operator of every request
    c = pickle.loads(pickle.dumps(a))
    assert _rollout(c, 5, 0)[0] == ra[0]


def test_spec_round_trips_with_a_scenario_mix():
    env = gym.make("SparOA-v0", workloads="resnet18", scenario=["idle", "gpu-shared-moderate"])
    again = gym.make(gym.envs.registration.EnvSpec.from_json(env.spec.to_json()))
    assert again.unwrapped.options.scenario == ("idle", "gpu-shared-moderate")
    seen = {again.reset(seed=seed)[1]["scenario"] for seed in range(12)}
    assert seen == {"idle", "gpu-shared-moderate"}


def test_a_corun_scenario_runs_in_the_env():
    env = gym.make("SparOA-v0", workloads="squeezenet1_1", platform="jetson-agx-orin-64gb",
                   scenario="detector-classifier")
    total, steps, info = _rollout(env, 1, 1)
    assert np.isfinite(total) and steps == 64 * 150


@pytest.mark.parametrize("kw, needle", [
    ({"scenario": "nope"}, "unknown scenario 'nope'"),
    ({"scenario": "camera-30fps", "arrival": "poisson:10"}, "sets the arrivals"),
    ({"scenario": "gpu-shared-heavy", "background": "fixed"}, "sets the background load"),
    ({"scenario": 3}, "expected a name"),
])
def test_bad_scenario_options(kw, needle):
    with pytest.raises(SimulationError, match=needle):
        gym.make("SparOA-v0", workloads="resnet18", **kw)
