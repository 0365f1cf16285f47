"""Helpers of the environment tests: a small workload and random rollouts."""

from __future__ import annotations

import numpy as np
import sparoa_sim  # noqa: F401  (registers the Gymnasium ids)

#: A small shipped workload (37 operators) — fast episodes.
SMALL = "vgg16"


def rollout(env, seed: int, policy_seed: int = 0, max_steps: int = 100_000):
    """Run one episode with uniformly random actions; return (observations, rewards, final info)."""
    rng = np.random.default_rng(policy_seed)
    env.action_space.seed(policy_seed)
    obs, info = env.reset(seed=seed)
    observations, rewards = [obs], []
    for _ in range(max_steps):
        action = env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        assert not truncated
        if terminated:
            return observations, rewards, info
    raise AssertionError(f"episode did not terminate within {max_steps} steps (rng {rng})")

