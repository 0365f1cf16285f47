"""Property-based: over random options and random action sequences SparOA-v0 never crashes,
keeps every observation inside its space, and always terminates within its bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.envs.scheduling import SparOAEnv
from sparoa_sim.errors import SimulationError
from sparoa_sim.envs.threshold import SparOAThresholdEnv

options = st.fixed_dictionaries({
    "workloads": st.sampled_from(["vgg16", "synthetic", ["synthetic", "vgg16"]]),
    "synthetic_ops": st.integers(3, 25),
    "mode": st.sampled_from([None, "random", "15W"]),
    "background": st.sampled_from(["off", "fixed", "random"]),
    "background_level": st.floats(0.0, 0.9),
    "noise": st.booleans(),
    "reference": st.booleans(),
    "obs_delay_s": st.sampled_from([0.0, 0.001, 0.05]),
    "obs_noise": st.sampled_from([0.0, 0.2]),
    "batch": st.sampled_from([1, 2, [1, 3]]),
    "requests": st.integers(1, 3),
    "arrival": st.sampled_from(["closed", "closed:1", "poisson:500"]),
    "lam": st.sampled_from([0.0, 0.5]),
    "action_mode": st.sampled_from(["discrete", "continuous"]),
    "thresholds": st.sampled_from([None, [0.5, 1.0]]),
    "precision": st.sampled_from(["fp32", "fp16"]),
})


@given(opts=options, seed=st.integers(0, 2**31 - 1), policy_seed=st.integers(0, 2**16))
def test_random_options_and_actions_never_crash_and_always_terminate(opts, seed, policy_seed):
    if opts["arrival"] == "closed:1" and opts["requests"] > 1 and opts["batch"] != 1:
        with pytest.raises(SimulationError, match="closed:1"):
            SparOAEnv(**opts)
        return
    env = SparOAEnv(**opts)
    obs, info = env.reset(seed=seed)
    env.action_space.seed(policy_seed)
    total, steps = 0.0, 0
    while True:
        assert env.observation_space.contains(obs), obs
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert math.isfinite(reward) and reward <= 0.0 and not truncated
        total += reward
        steps += 1
        assert steps <= env.max_decisions
        if terminated:
            break
    assert env.observation_space.contains(obs)
    expected = -(info["latency_mean_s"] / info["t_ref_s"]
                 + opts["lam"] * info["energy_per_inference_j"] / info["e_ref_j"])
    assert total == np.float64(expected) or abs(total - expected) <= 1e-9 * abs(expected)


@given(seed=st.integers(0, 2**31 - 1), action=st.lists(st.floats(-1.0, 1.0, width=32), min_size=2, max_size=2),
       intensity=st.sampled_from(["flop_per_byte", "flops"]), workloads=st.sampled_from(["vgg16", "synthetic"]))
def test_threshold_env_over_random_thresholds(seed, action, intensity, workloads):
    env = SparOAThresholdEnv(workloads=workloads, synthetic_ops=20, intensity=intensity)
    obs, _ = env.reset(seed=seed)
    assert env.observation_space.contains(obs)
    obs, reward, terminated, truncated, info = env.step(np.array(action, dtype=np.float32))
    assert terminated and not truncated and env.observation_space.contains(obs)
    assert reward == -info["latency_mean_s"] / info["t_ref_s"] and reward < 0
