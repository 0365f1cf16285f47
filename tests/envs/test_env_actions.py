"""Actions of SparOA-v0: masks, the continuous mapping (dead zones, splits), malformed actions."""

from __future__ import annotations

import numpy as np
import pytest
from env_helpers import SMALL

from sparoa_sim.envs.actions import InvalidActionError, continuous_share, discrete_device
from sparoa_sim.envs.scheduling import SparOAEnv


def test_discrete_actions_accept_integers_in_every_usual_form():
    for a, d in ((0, 0), (1, 1), (np.int64(1), 1), (np.array(0), 0), (np.array([1]), 1), (np.int32(0), 0)):
        assert discrete_device(a) == d


@pytest.mark.parametrize("bad", [2, -1, 0.0, 1.0, True, np.nan, "1", None, np.array([0, 1]), np.array([0.0]),
                                 [1], np.array([[1]])])
def test_bad_discrete_actions_raise_value_error_and_change_nothing(bad):
    env = SparOAEnv(workloads=SMALL)
    env.reset(seed=0)
    before = env.unwrapped._sim.decisions
    with pytest.raises(ValueError, match="action"):
        env.step(bad)
    assert env._sim.decisions == before
    env.step(1)  # still usable


@pytest.mark.parametrize("bad", [np.array([1.5], np.float32), np.array([-1.01]), np.array([np.nan], np.float32),
                                 np.array([np.inf]), np.array([0.1, 0.2], np.float32), np.zeros((1, 1)), "x", True,
                                 "0.5", np.array(["0.3"]), None, np.array([True])])
def test_bad_continuous_actions_raise_value_error(bad):
    env = SparOAEnv(workloads=SMALL, action_mode="continuous")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action") as err:
        env.step(bad)
    if bad is None:
        assert "nan" not in str(err.value)  # None is reported as itself, not as NaN
    assert isinstance(InvalidActionError("x"), ValueError)


def test_continuous_mapping_dead_zones_and_splits():
    dz, lv = 0.1, 8
    # dead zones at both ends: a squashed Gaussian's near-±1 outputs are exactly CPU / GPU
    assert continuous_share(np.array([-1.0]), True, dz, lv) == 0.0
    assert continuous_share(np.array([-0.81]), True, dz, lv) == 0.0
    assert continuous_share(np.array([0.81]), True, dz, lv) == 1.0
    assert continuous_share(np.array([1.0]), True, dz, lv) == 1.0
    # in between: a split share on the 1/8 grid, strictly inside (0, 1), monotone in the action
    grid = np.linspace(-0.79, 0.79, 201)
    shares = [continuous_share(np.array([a]), True, dz, lv) for a in grid]
    assert all(0.0 < s < 1.0 and (s * lv).is_integer() for s in shares)
    assert shares == sorted(shares) and shares[0] == 1 / lv and shares[-1] == (lv - 1) / lv
    # an operator without a split axis goes to the nearer end
    assert {continuous_share(np.array([a]), False, dz, lv) for a in grid} == {0.0, 1.0}
    assert continuous_share(np.array([-0.01]), False, dz, lv) == 0.0
    assert continuous_share(np.array([0.0]), False, dz, lv) == 1.0


def test_continuous_episode_splits_only_splittable_operators():
    env = SparOAEnv(workloads="resnet18", action_mode="continuous", background="off", noise=False)
    env.reset(seed=0)
    done = False
    while not done:
        _, _, done, _, info = env.step(np.array([0.0], np.float32))  # the middle: split where allowed
    split = env._ep.graph.arrays.splittable
    placement = np.array(info["placement"])
    assert np.all(placement[split] == 0.5)
    assert np.all(placement[~split] == 1.0)
    assert split.any() and (~split).any()


def test_action_masks_allow_both_devices_normally():
    env = SparOAEnv(workloads=SMALL)  # (before reset() there is no operator to mask: test_env_api refuses it)
    env.reset(seed=0)
    for _ in range(5):
        m = env.action_masks()
        assert m.dtype == bool and m.shape == (2,) and m.all()
        env.step(0)
