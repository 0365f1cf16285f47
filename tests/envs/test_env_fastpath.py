"""The environment's fast paths give what the plain code gives, bit for bit (issue 21).

- ``OpView.decision_state`` equals the view's properties at every decision;
- ``ObservationBuilder.build`` (packed in one step from precomputed bytes) equals the observation
  assembled field by field from the properties, as the builder did before;
- observations are fresh, writable float32 arrays (never aliased from one step to the next);
- the kept substreams and noise factors equal freshly drawn ones, and callers cannot corrupt them;
- the one-request and one-stream shortcuts of the metrics equal the general formulas.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.envs.observation import OBS_LAYOUT, logt
from sparoa_sim.sim import randomness
from sparoa_sim.sim.results import summarise_latencies

from env_helpers import SMALL

_CONFIGS = [
    {"workloads": SMALL},
    {"workloads": SMALL, "reference": True},
    {"workloads": "resnet18", "batch": [1, 4], "requests": 3, "arrival": "poisson:400"},
    {"workloads": SMALL, "action_mode": "continuous", "thresholds": [0.5, 20.0]},
]


def _properties(view) -> tuple:
    return (*view.pred_latency, *view.backlog, view.host_backlog, *view.input_bytes, *view.transfer_in,
            view.host_busy, view.contention, view.progress, view.n_ready)


def _by_fields(env, view, lc: float, lg: float) -> np.ndarray:
    """The observation as the builder assembled it before the fast path: field by field."""
    b = env._builder
    sim = env._sim
    inv_t = b.inv_t
    out = np.zeros(b.n, dtype=np.float32)
    n_static = len(OBS_LAYOUT) - 21
    out[:n_static] = b.static_table(view.batch)[view.op]
    total = view.input_total_bytes
    on_c, on_g = view.input_bytes
    fc, fg = (on_c / total, on_g / total) if total > 0.0 else (1.0, 1.0)
    pc, pg = view.pred_latency
    bc, bg = view.backlog
    xc, xg = view.transfer_in
    out[n_static:len(OBS_LAYOUT)] = (
        logt(pc * inv_t), logt(pg * inv_t), logt(bc * inv_t), logt(bg * inv_t), logt(view.host_backlog * inv_t),
        fc, fg, logt(xc * inv_t), logt(xg * inv_t), lc, lg, 1.0 if view.host_busy else 0.0,
        min(view.contention, 1.0), b.mode_feat, min(view.batch / b.max_batch, 1.0), view.progress,
        sim.requests_done * b.inv_n, min(sim.n_in_system * b.inv_n, 1.0), min(view.n_ready / 16.0, 1.0),
        logt(sim.now * inv_t), logt(sim.energy_so_far * b.inv_e))
    if b.n > len(OBS_LAYOUT):
        out[len(OBS_LAYOUT):] = b.buf[len(OBS_LAYOUT):]
    return out


@pytest.mark.parametrize("kwargs", _CONFIGS)
def test_fast_paths_equal_the_fields_at_every_decision(kwargs):
    env = gym.make("SparOA-v0", **kwargs).unwrapped
    env.action_space.seed(3)
    obs, _ = env.reset(seed=11)
    steps = episodes = 0
    while episodes < 2:
        view = env._view
        assert view.decision_state() == _properties(view)
        lc, lg = view.load
        assert obs.tobytes() == _by_fields(env, view, lc, lg).tobytes()
        obs, _, terminated, _, _ = env.step(env.action_space.sample())
        steps += 1
        if terminated:
            episodes += 1
            obs, _ = env.reset()
    assert steps > 20


def test_observations_are_fresh_writable_float32_arrays():
    env = gym.make("SparOA-v0", workloads=SMALL)
    obs, _ = env.reset(seed=0)
    nxt, *_ = env.step(1)
    for o in (obs, nxt):
        assert o.dtype == np.float32 and o.shape == env.observation_space.shape and o.flags.writeable
        assert env.observation_space.contains(o)
    keep = nxt.copy()
    nxt[:] = -5.0  # an agent scribbling on its observation changes nothing the env returns later
    after, *_ = env.step(0)
    assert not np.shares_memory(after, nxt) and (after >= -1.0).all()
    env2 = gym.make("SparOA-v0", workloads=SMALL)
    env2.reset(seed=0)
    again, *_ = env2.step(1)
    assert again.tobytes() == keep.tobytes()


@given(seed=st.integers(0, 2**31 - 1), request=st.integers(0, 500), n=st.integers(1, 40),
       s_cpu=st.floats(0.0, 0.3), s_gpu=st.floats(0.0, 0.3))
def test_kept_noise_equals_fresh_draws(seed, request, n, s_cpu, s_gpu):
    sigma = np.array([s_cpu, s_gpu])
    kids = randomness.substreams(seed)
    fresh = np.random.SeedSequence(seed).spawn(len(randomness.STREAMS))
    assert [(k.entropy, k.spawn_key) for k in kids] == [(k.entropy, k.spawn_key) for k in fresh]
    child = np.random.SeedSequence(fresh[2].entropy, spawn_key=fresh[2].spawn_key + (request,))
    want = np.exp(sigma * np.random.Generator(np.random.PCG64(child)).standard_normal((n, 2))).ravel().tolist()
    first = randomness.batch_noise(kids[2], sigma, n, request)
    assert first == want
    first[0] = -1.0  # the caller's own list: the kept copy is untouched
    assert randomness.batch_noise(kids[2], sigma, n, request) == want
    assert randomness.batch_noise(kids[2], sigma * 2.0 + 0.01, n, request) != want  # sigma is part of the key


def test_unseeded_substreams_are_never_kept():
    a, b = randomness.substreams(None), randomness.substreams(None)
    assert a[0].entropy != b[0].entropy


def test_bad_sigma_is_still_refused_after_a_good_one():
    kids = randomness.substreams(5)
    randomness.batch_noise(kids[2], np.array([0.1, 0.1]), 4, 0)
    with pytest.raises(ValueError, match="sigma"):
        randomness.batch_noise(kids[2], np.array([-0.1, 0.1]), 4, 0)


@given(st.lists(st.floats(0.0, 10.0), min_size=1, max_size=3) | st.just([math.inf]))
def test_latency_summary_shortcut_equals_numpy(lat):
    a = np.asarray(lat, dtype=float)
    with np.errstate(invalid="ignore"):
        want = (float(a.mean()), *(float(p) for p in np.percentile(a, [50.0, 95.0, 99.0])), float(a.max()))
        got = summarise_latencies(a)
    assert repr(got) == repr(want)


def test_one_stream_energy_equals_the_general_formula():
    from sparoa_sim.sim.metrics import energy_so_far

    class S:
        def __init__(self, arrival, completion, finished):
            self.arrival, self.completion, self.finished = arrival, completion, finished

    class E:
        energy = [1.25, 2.5]

    class T:
        energy = 0.125

    for s in (S([], [], False), S([0.5, 0.7], [math.nan, math.nan], False), S([0.5, 0.7], [2.0, 3.5], True)):
        one = energy_so_far(4.0, 3.0, [s], E, T)
        two = energy_so_far(4.0, 3.0, [s, S([], [], True)], E, T)  # a silent second stream: the general path
        assert one == two
    assert energy_so_far(4.0, 3.0, [S([0.5], [2.0], True)], E, T) == 1.25 + 2.5 + 0.125 + 3.0 * 1.5


def test_envs_of_shipped_workloads_share_tables_and_features(tmp_path):
    a = gym.make("SparOA-v0", workloads=SMALL).unwrapped
    b = gym.make("SparOA-v0", workloads=SMALL).unwrapped
    assert a._factory.shared and b._factory.shared
    assert a._factory.platforms[0] is b._factory.platforms[0] and a._factory.cache is b._factory.cache
    a.reset(seed=1)
    n_tables = len(a._factory.cache._preds)
    obs_b, _ = b.reset(seed=1)
    assert len(b._factory.cache._preds) == n_tables  # the second env found them computed
    obs_a, _ = a.reset(seed=1)
    assert obs_a.tobytes() == obs_b.tobytes()
    # a graph from a file may change on disk: such an env keeps its own
    from sparoa_sim.ir.graph import save_graph
    from sparoa_sim.workloads import load_workload

    path = tmp_path / "mine.json"
    save_graph(load_workload(SMALL), path)
    c = gym.make("SparOA-v0", workloads=str(path)).unwrapped
    assert not c._factory.shared and c._factory.cache is not a._factory.cache
    obs_c, _ = c.reset(seed=1)
    assert obs_c.tobytes() == obs_a.tobytes()
