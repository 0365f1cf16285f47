"""Gymnasium and SB3 API conformance of SparOA-v0 and SparOAThreshold-v0, registration, specs."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import sparoa_sim
from sparoa_sim.envs.observation import OBS_LAYOUT, OBS_LAYOUT_VERSION, observation_layout
from sparoa_sim.envs.scheduling import SparOAEnv
from sparoa_sim.envs.threshold import THRESHOLD_OBS_LAYOUT, SparOAThresholdEnv
from sparoa_sim.errors import SimulationError, SparOAError

from env_helpers import SMALL

ROOT = Path(__file__).resolve().parents[2]
CASES = [
    ("SparOA-v0", {"workloads": SMALL}),
    ("SparOA-v0", {"workloads": SMALL, "action_mode": "continuous"}),
    ("SparOA-v0", {"workloads": [SMALL, "synthetic"], "synthetic_ops": 12, "mode": "random", "thresholds": [0.4, 2.0],
                   "requests": 3, "batch": [1, 2], "lam": 0.5, "obs_delay_s": 0.001, "obs_noise": 0.05}),
    ("SparOAThreshold-v0", {"workloads": SMALL}),
    ("SparOAThreshold-v0", {"workloads": [SMALL, "resnet18"], "intensity": "flops", "sparsity": "max"}),
]


@pytest.mark.parametrize("env_id,kwargs", CASES)
def test_gymnasium_and_sb3_checkers_pass_without_warnings(env_id, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(env_id, **kwargs)
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)
        env.close()


def test_registration_is_idempotent_and_uses_string_entry_points():
    sparoa_sim.register_envs()
    sparoa_sim.register_envs()
    spec = gym.spec("SparOA-v0")
    assert spec.entry_point == "sparoa_sim.envs.scheduling:SparOAEnv"
    assert gym.spec("SparOAThreshold-v0").entry_point == "sparoa_sim.envs.threshold:SparOAThresholdEnv"
    assert isinstance(gym.make("SparOA-v0").unwrapped, SparOAEnv)
    assert isinstance(gym.make("SparOAThreshold-v0").unwrapped, SparOAThresholdEnv)


def test_spec_to_json_round_trips_the_options():
    kwargs = {"workloads": [SMALL, "resnet18"], "mode": "random", "thresholds": [0.5, 1.0], "lam": 0.2,
              "action_mode": "continuous", "batch": [1, 4]}
    env = gym.make("SparOA-v0", **kwargs)
    text = env.spec.to_json()
    doc = json.loads(text)
    assert doc["kwargs"] == kwargs
    again = gym.make(gym.envs.registration.EnvSpec.from_json(text))
    assert again.unwrapped.options == env.unwrapped.options


def test_make_by_module_prefix_in_a_fresh_process_never_imports_torch():
    code = ("import sys, gymnasium as gym\n"
            "env = gym.make('sparoa_sim:SparOA-v0', workloads='vgg16')\n"
            "obs, _ = env.reset(seed=0)\n"
            "done = False\n"
            "while not done:\n"
            "    done = env.step(1)[2]\n"
            "t = gym.make('sparoa_sim:SparOAThreshold-v0', workloads='vgg16'); t.reset(seed=0); t.step(t.action_space.sample())\n"
            "print(obs.shape[0], sorted(m for m in ('torch', 'stable_baselines3') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(len(OBS_LAYOUT)), "[]"]


@pytest.mark.parametrize("order", ["sparoa_sim first", "gymnasium first"])
def test_make_after_import_sparoa_sim_in_either_order(order):
    first = ("import sys, sparoa_sim\nimport gymnasium as gym\n"
             if order == "sparoa_sim first" else "import gymnasium as gym\nimport sparoa_sim\n")
    code = first + ("env = gym.make('SparOA-v0', workloads='vgg16')\n"
                    "print(env.reset(seed=0)[0].shape[0], gym.spec('SparOAThreshold-v0').entry_point)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(len(OBS_LAYOUT)), "sparoa_sim.envs.threshold:SparOAThresholdEnv"]


def test_spaces_and_layout():
    env = SparOAEnv(workloads=SMALL)
    assert env.action_space == gym.spaces.Discrete(2)
    assert env.observation_space.shape == (len(OBS_LAYOUT),) and env.observation_space.dtype == np.float32
    assert env.layout == OBS_LAYOUT and env.layout_version == OBS_LAYOUT_VERSION
    assert len(set(OBS_LAYOUT)) == len(OBS_LAYOUT)
    cont = SparOAEnv(workloads=SMALL, action_mode="continuous", thresholds=[0.5, 3.0])
    assert cont.action_space == gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    assert cont.layout == observation_layout(True) and cont.observation_space.shape == (len(OBS_LAYOUT) + 2,)
    thr = SparOAThresholdEnv(workloads=SMALL)
    assert thr.observation_space.shape == (len(THRESHOLD_OBS_LAYOUT),)
    assert thr.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def test_the_module_docstring_documents_every_feature_index():
    import sparoa_sim.envs.observation as mod

    doc = mod.__doc__
    for i, name in enumerate(observation_layout(True)):
        if name.startswith("kind_"):
            continue  # documented as one row (6–19)
        assert f" {i} " in doc.replace("\n", " ") and name in doc, (i, name)


@pytest.mark.parametrize("kwargs,fragment", [
    ({"workloads": "no_such_net"}, "no_such_net"),
    ({"platform": "no-such-board"}, "no-such-board"),
    ({"mode": "99W"}, "99W"),
    ({"background": "sometimes"}, "background"),
    ({"batch": 0}, "batch"),
    ({"requests": -1}, "requests"),
    ({"lam": float("nan")}, "lam"),
    ({"action_mode": "hybrid"}, "action_mode"),
    ({"dead_zone": 0.5}, "dead_zone"),
    ({"thresholds": [0.5]}, "thresholds"),
    ({"arrival": "poisson:fast"}, "poisson"),
    ({"colour": "red"}, "colour"),
    ({"arrival": "closed:1", "batch": [1, 2], "requests": 3}, "closed:1"),
    ({"render_mode": "human"}, "render_mode"),
])
def test_bad_options_raise_sparoa_errors_naming_the_option(kwargs, fragment):
    with pytest.raises(SparOAError, match=fragment):
        SparOAEnv(**kwargs)


def test_reset_options_are_rejected_and_step_before_reset_is_an_error():
    env = SparOAEnv(workloads=SMALL)
    with pytest.raises(SimulationError, match="reset"):
        env.step(0)
    with pytest.raises(SimulationError, match="per-reset options"):
        env.reset(seed=0, options={"workloads": "resnet18"})
    env.reset(seed=0, options={})


def test_render_modes():
    env = SparOAEnv(workloads=SMALL, render_mode="ansi")
    env.reset(seed=0)
    for _ in range(10):
        env.step(env.action_space.sample())
    text = env.render()
    assert "CPU" in text and "GPU" in text and "10 decisions" in text
    img_env = SparOAEnv(workloads=SMALL, render_mode="rgb_array")
    img_env.reset(seed=0)
    img_env.step(1)
    img = img_env.render()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.shape[0] > 50
    assert (img < 128).any()  # a chart, not a blank canvas
    for a in (0, 1, 0, 0, 1):  # transfer lanes appear: the frame size does not change (video recorders)
        img_env.step(a)
        assert img_env.render().shape == img.shape
    assert SparOAEnv(workloads=SMALL).render() is None


def test_action_masks_before_reset_is_refused():
    """Masks describe the pending operator, which exists only after reset(): asking before is a clear error."""
    env = gym.make("SparOA-v0").unwrapped
    with pytest.raises(SimulationError, match=r"action_masks\(\) before reset\(\)"):
        env.action_masks()
    env.reset(seed=0)
    assert env.action_masks().dtype == bool
