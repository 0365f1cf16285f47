"""SparOAThreshold-v0: the action → thresholds mapping, the reward, the summary observation."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from env_helpers import SMALL

from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.envs.threshold import INTENSITY_RANGES, SparOAThresholdEnv, thresholds_from_action
from sparoa_sim.sim.policies import ThresholdPolicy
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.workloads import load_workload


def test_action_maps_to_thresholds_on_a_log_intensity_scale():
    lo, hi = INTENSITY_RANGES["flop_per_byte"]
    assert thresholds_from_action(np.array([-1.0, -1.0])) == (0.0, pytest.approx(10.0 ** lo))
    assert thresholds_from_action(np.array([1.0, 1.0])) == (1.0, pytest.approx(10.0 ** hi))
    s, i = thresholds_from_action(np.array([0.0, 0.0]))
    assert s == 0.5 and i == pytest.approx(10.0 ** ((lo + hi) / 2))
    assert thresholds_from_action([0.0, 0.0], "flops")[1] == pytest.approx(10.0 ** 6.5)


@pytest.mark.parametrize("bad", [np.array([0.0]), np.array([0.0, 1.5]), np.array([np.nan, 0.0]), "ab", [[0.0, 0.0]]])
def test_bad_threshold_actions_raise_value_error(bad):
    env = SparOAThresholdEnv(workloads=SMALL)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(bad)


def test_reward_is_minus_the_threshold_rules_latency_over_the_gpu_only_latency():
    env = SparOAThresholdEnv(workloads="resnet18", background="off", noise=False)
    _, info0 = env.reset(seed=4)
    action = np.array([-0.9, 0.6], dtype=np.float32)  # low sparsity cut, high intensity cut: many CPU ops
    _, reward, terminated, _, info = env.step(action)
    tau_s, tau_i = thresholds_from_action(action)
    config = SimConfig(mode=info0["mode"], background=None, noise=False)
    res = Simulator("resnet18", "jetson-agx-orin-64gb", ThresholdPolicy(tau_s=tau_s, tau_i=tau_i), config=config,
                    seed=info0["seed"]).run()
    gpu = Simulator("resnet18", "jetson-agx-orin-64gb", "gpu", config=config, seed=info0["seed"]).run()
    assert terminated
    assert info["latency_mean_s"] == pytest.approx(res.latency_mean_s, rel=1e-12)
    assert reward == pytest.approx(-res.latency_mean_s / gpu.latency_mean_s, rel=1e-12)
    expected_cpu = int((ThresholdPolicy(tau_s=tau_s, tau_i=tau_i).placement(load_workload("resnet18")) == 0).sum())
    assert info["cpu_ops"] == expected_cpu > 0
    with pytest.raises(Exception, match="reset"):
        env.step(action)


def test_an_all_gpu_threshold_pair_scores_exactly_minus_one():
    env = SparOAThresholdEnv(workloads=SMALL)
    env.reset(seed=1)
    _, reward, _, _, info = env.step(np.array([1.0, -1.0]))  # tau_s = 1 and the smallest tau_i: nothing on the CPU
    assert info["cpu_ops"] == 0 and reward == pytest.approx(-1.0, rel=1e-12)


def test_summary_reflects_the_workload_and_the_mode():
    env = SparOAThresholdEnv(workloads=["vgg16", "vit_b_16"], mode="random")
    seen = {}
    for seed in range(12):
        obs, info = env.reset(seed=seed)
        seen[(info["workload"], info["mode"])] = obs
    obs_vgg = next(o for (w, _), o in seen.items() if w == "vgg16")
    obs_vit = next(o for (w, _), o in seen.items() if w == "vit_b_16")
    k = env.layout.index
    assert obs_vgg[k("flops_conv")] > 0.9 and obs_vit[k("flops_conv")] < 0.1
    assert len({round(float(o[k("power_mode")]), 3) for o in seen.values()}) > 1


def test_pickle_keeps_the_pending_episode():
    env = SparOAThresholdEnv(workloads=["vgg16", "resnet18"])
    obs, info = env.reset(seed=8)
    clone = pickle.loads(pickle.dumps(env))
    a = np.array([0.2, 0.1], dtype=np.float32)
    r1 = env.step(a)
    r2 = clone.step(a)
    np.testing.assert_array_equal(r1[0], r2[0])
    assert r1[1:] == r2[1:]


def test_a_copy_after_the_step_goes_on_to_the_next_episode():
    """Copied after its one step, the env's next reset draws the next episode (not the finished
    one again) and still renders the last step."""
    import copy

    import gymnasium as gym

    t = gym.make("sparoa_sim:SparOAThreshold-v0", workloads=["vgg16", "resnet18", "synthetic"], render_mode="ansi")
    _, first = t.reset(seed=0)
    t.step(np.zeros(2, np.float32))
    c = copy.deepcopy(t)
    assert c.render() == t.render() != "no step taken yet\n"
    a, b = t.reset()[1]["seed"], c.reset()[1]["seed"]
    assert a == b != first["seed"]


def test_the_threshold_env_refuses_action_mode_it_would_ignore():
    import gymnasium as gym
    import pytest

    from sparoa_sim.errors import SimulationError

    with pytest.raises(SimulationError, match="'action_mode'.*does not apply to SparOAThreshold-v0"):
        gym.make("SparOAThreshold-v0", action_mode="continuous")
