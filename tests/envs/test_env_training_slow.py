"""Smoke test: PPO (γ = 1) learns something on SparOA-v0 in a few thousand steps."""

from __future__ import annotations

import pytest

from sparoa_sim.envs.scheduling import SparOAEnv


def _episode_return(env, act) -> tuple[float, dict]:
    obs, _ = env.reset(seed=0)
    total, done = 0.0, False
    while not done:
        obs, r, done, _, info = env.step(act(obs))
        total += r
    return total, info


@pytest.fixture
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_ppo_beats_the_worse_single_device_baseline(one_torch_thread):
    from stable_baselines3 import PPO

    options = {"workloads": "vgg16", "reference": True}
    env = SparOAEnv(**options)
    gpu_return, info = _episode_return(env, lambda obs: 1)
    cpu_return, _ = _episode_return(env, lambda obs: 0)
    assert gpu_return == pytest.approx(-1.0)
    worse = min(gpu_return, cpu_return)
    model = PPO("MlpPolicy", env, gamma=1.0, n_steps=512, batch_size=128, learning_rate=1e-3, seed=0, device="cpu",
                verbose=0)
    model.learn(total_timesteps=4096)
    eval_env = SparOAEnv(**options)
    ppo_return, ppo_info = _episode_return(eval_env, lambda obs: int(model.predict(obs, deterministic=True)[0]))
    print(f"PPO {ppo_return:.3f}  GPU-only {gpu_return:.3f}  CPU-only {cpu_return:.3f}")
    assert ppo_return > worse + 0.05 * abs(worse), (ppo_return, gpu_return, cpu_return)
    assert ppo_info["latency_mean_s"] < max(info["latency_mean_s"], info["cpu_latency_mean_s"])
