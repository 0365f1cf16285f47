"""Episodes of SparOA-v0: the return formula, determinism, pickling by replay, references."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from env_helpers import SMALL, rollout

from sparoa_sim.sim.simulator import simulate
from sparoa_sim.envs.reference import REFERENCES
from sparoa_sim.envs.scheduling import SparOAEnv


@pytest.mark.parametrize("options", [
    {"workloads": SMALL},  # one request: return = -latency / T_ref
    {"workloads": SMALL, "requests": 4, "batch": 2, "lam": 0.7},  # a stream of batches, energy term
    {"workloads": SMALL, "requests": 3, "arrival": "poisson:300", "lam": 1.5, "action_mode": "continuous"},
])
def test_sum_of_rewards_equals_the_return_formula(options):
    env = SparOAEnv(**options)
    for seed in (0, 1):
        _, rewards, info = rollout(env, seed=seed, policy_seed=seed)
        lam = options.get("lam", 0.0)
        expected = -(info["latency_mean_s"] / info["t_ref_s"] + lam * info["energy_per_inference_j"] / info["e_ref_j"])
        assert math.fsum(rewards) == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert -info["objective"] == pytest.approx(expected, rel=1e-12)
        assert all(r <= 0.0 for r in rewards)
        assert len(rewards) == info["decisions"] <= env.max_decisions


def test_gpu_only_actions_give_exactly_minus_one_and_speedups_match():
    env = SparOAEnv(workloads=SMALL)
    env.reset(seed=5)
    total, done = 0.0, False
    while not done:
        _, r, done, _, info = env.step(1)
        total += r
    assert total == pytest.approx(-1.0, rel=1e-12)
    assert info["speedup_vs_gpu"] == pytest.approx(1.0, rel=1e-12)
    assert info["placement"] == [1.0] * info["decisions"]
    assert info["speedup_vs_cpu"] == pytest.approx(info["cpu_latency_mean_s"] / info["latency_mean_s"])


def test_reference_equals_a_gpu_only_simulation_with_the_episode_seed():
    env = SparOAEnv(workloads=SMALL, background="random", noise=True)
    _, info = env.reset(seed=11)
    res = simulate(SMALL, "jetson-agx-orin-64gb", "gpu", seed=info["seed"], mode=info["mode"])
    assert info["t_ref_s"] == res.latency_mean_s
    assert info["e_ref_j"] == res.energy_per_inference_j


def test_references_are_cached_by_value_and_ignore_the_seed_when_nothing_is_random():
    REFERENCES.clear()
    env = SparOAEnv(workloads=SMALL, background="off", noise=False)
    for seed in range(4):
        env.reset(seed=seed)
    assert REFERENCES.misses == 1 and REFERENCES.hits == 3
    other = SparOAEnv(workloads=SMALL, background="off", noise=False)  # another env: same values, same entry
    other.reset(seed=9)
    assert REFERENCES.misses == 1
    noisy = SparOAEnv(workloads=SMALL)
    noisy.reset(seed=0)
    noisy.reset(seed=1)
    assert REFERENCES.misses == 3


def _same(a, b):
    obs_a, rew_a, info_a = a
    obs_b, rew_b, info_b = b
    assert len(obs_a) == len(obs_b)
    for x, y in zip(obs_a, obs_b):
        np.testing.assert_array_equal(x, y)
    assert rew_a == rew_b
    assert info_a == info_b


@pytest.mark.parametrize("options", [
    {"workloads": SMALL},
    {"workloads": [SMALL, "synthetic"], "synthetic_ops": 15, "mode": "random", "batch": [1, 2], "requests": 3,
     "obs_noise": 0.1, "obs_delay_s": 0.002, "action_mode": "continuous"},
])
def test_two_seeded_rollouts_are_identical(options):
    a = [rollout(SparOAEnv(**options), seed=s, policy_seed=s) for s in (3, 4)]
    b = [rollout(SparOAEnv(**options), seed=s, policy_seed=s) for s in (3, 4)]
    for x, y in zip(a, b):
        _same(x, y)
    assert a[0][1] != a[1][1]  # and the seed matters


def test_unseeded_resets_continue_the_seeded_stream():
    a, b = SparOAEnv(workloads=[SMALL, "resnet18"]), SparOAEnv(workloads=[SMALL, "resnet18"])
    a.reset(seed=2)
    b.reset(seed=2)
    for _ in range(3):
        ia, ib = a.reset()[1], b.reset()[1]
        assert ia == ib


@pytest.mark.parametrize("options", [
    {"workloads": SMALL, "obs_noise": 0.05},
    {"workloads": [SMALL, "synthetic"], "synthetic_ops": 15, "action_mode": "continuous", "requests": 2,
     "render_mode": "ansi"},
])
def test_pickle_round_trip_mid_episode_continues_identically(options):
    env = SparOAEnv(**options)
    env.reset(seed=21)
    rng = np.random.default_rng(0)
    env.action_space.seed(1)
    for _ in range(7):
        env.step(env.action_space.sample())
    clone = pickle.loads(pickle.dumps(env))
    if options.get("render_mode"):
        assert clone.render() == env.render()
    done = False
    while not done:
        action = env.action_space.sample()
        o1, r1, done, _, i1 = env.step(action)
        o2, r2, done2, _, i2 = clone.step(action)
        np.testing.assert_array_equal(o1, o2)
        assert (r1, done, i1) == (r2, done2, i2)
    # and the next episodes (drawn from the restored generator) agree too
    assert env.reset()[1] == clone.reset()[1]
    assert rng is not None


def test_pickle_before_reset_and_after_the_end():
    fresh = pickle.loads(pickle.dumps(SparOAEnv(workloads=SMALL)))
    assert fresh.reset(seed=1)[1] == SparOAEnv(workloads=SMALL).reset(seed=1)[1]
    env = SparOAEnv(workloads=SMALL)
    rollout(env, seed=3)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.reset()[1] == env.reset()[1]


def test_a_made_env_pickles_with_its_wrappers():
    import gymnasium as gym

    env = gym.make("SparOA-v0", workloads=SMALL)
    env.reset(seed=2)
    for _ in range(5):
        env.step(0)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.spec == env.spec
    a, b = env.step(1), clone.step(1)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1:] == b[1:]


@pytest.mark.parametrize("delay", [0.0, 0.002])
def test_observed_load_is_the_background_from_the_first_decision(delay):
    """A fixed background of 0.9 shows in every observation, the first one too (the background
    holds before the first operator starts) and with an observation delay longer than the time
    elapsed so far (the levels set at t = 0 are what was seen then)."""
    env = SparOAEnv(workloads="vgg16", background="fixed", background_level=0.9, obs_delay_s=delay)
    k = env.layout.index("load_cpu")
    obs, _ = env.reset(seed=0)
    seen = [obs[k]]
    done = False
    while not done:
        obs, _, done, _, _ = env.step(1)
        seen.append(obs[k]) if not done else None
    assert len(seen) > 3 and all(v == pytest.approx(0.9) for v in seen)


def test_a_copy_keeps_the_spaces_generators():
    import copy

    env = SparOAEnv(workloads=SMALL)
    env.action_space.seed(3)
    env.observation_space.seed(4)
    env.reset(seed=1)
    twin = copy.deepcopy(env)
    assert [env.action_space.sample() for _ in range(8)] == [twin.action_space.sample() for _ in range(8)]
    assert np.array_equal(env.observation_space.sample(), twin.observation_space.sample())


def test_the_final_info_holds_the_reset_keys():
    from sparoa_sim.envs.threshold import SparOAThresholdEnv

    env = SparOAEnv(workloads=SMALL)
    _, first = env.reset(seed=0)
    _, _, last = rollout(env, seed=0, policy_seed=0)
    assert set(first) <= set(last) and all(last[k] == first[k] for k in first)
    t = SparOAThresholdEnv(workloads=SMALL)
    _, first = t.reset(seed=0)
    *_, info = t.step(np.zeros(2, np.float32))
    assert {k for k in first if k != "t_ref_s"} <= set(info) and info["seed"] == first["seed"]
