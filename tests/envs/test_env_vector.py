"""Vectorised SparOA-v0: Gymnasium make_vec (sync and async) and SB3's SubprocVecEnv."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from env_helpers import SMALL

from sparoa_sim.envs.observation import OBS_LAYOUT


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec_runs_whole_episodes_with_autoreset(mode):
    envs = gym.make_vec("SparOA-v0", num_envs=2, vectorization_mode=mode, workloads=SMALL)
    try:
        obs, info = envs.reset(seed=[1, 2])
        assert obs.shape == (2, len(OBS_LAYOUT)) and obs.dtype == np.float32
        ended = np.zeros(2, dtype=bool)
        for _ in range(200):
            obs, rew, term, trunc, info = envs.step(np.array([1, 0]))
            assert np.all(rew <= 0) and not trunc.any()
            ended |= term
            if ended.all():
                break
        assert ended.all()
        assert envs.single_observation_space.contains(obs[0])
    finally:
        envs.close()


def test_sb3_subproc_vec_env_with_module_prefixed_id():
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    # fork: the workers inherit the parent's modules and import nothing (torch included) anew
    venv = make_vec_env("sparoa_sim:SparOA-v0", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv,
                        vec_env_kwargs={"start_method": "fork"}, env_kwargs={"workloads": SMALL})
    try:
        obs = venv.reset()
        assert obs.shape == (2, len(OBS_LAYOUT))
        episodes = []
        for _ in range(120):
            obs, rew, done, infos = venv.step(np.array([1, 1]))
            for d, inf in zip(done, infos):
                if d:
                    episodes.append(inf)
        assert len(episodes) >= 2
        for inf in episodes:
            # all-GPU: return -1 exactly; SB3's Monitor records it
            assert inf["episode"]["r"] == pytest.approx(-1.0, abs=1e-5)
            assert inf["speedup_vs_gpu"] == pytest.approx(1.0)
        masks = venv.env_method("action_masks")
        assert [m.tolist() for m in masks] == [[True, True], [True, True]]
    finally:
        venv.close()


def test_maskable_ppo_reads_the_action_masks_through_the_wrappers():
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.utils import get_action_masks
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env("SparOA-v0", n_envs=2, seed=0, env_kwargs={"workloads": SMALL})
    venv.reset()
    masks = get_action_masks(venv)
    assert masks.shape == (2, 2) and masks.all()
    model = MaskablePPO("MlpPolicy", venv, n_steps=32, batch_size=32, n_epochs=1, gamma=1.0, seed=0, device="cpu")
    model.learn(total_timesteps=64)
    venv.close()
