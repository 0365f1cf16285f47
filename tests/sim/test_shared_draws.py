"""Draws shared between an episode's engine run and its reference walks equal fresh draws, value for value."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.sim import hwstate, randomness
from sparoa_sim.sim.hwstate import BackgroundLoad, load_path, shared_load_path


def _take(it, k):
    return [next(it) for _ in range(k)]


@given(seed=st.integers(0, 2**63 - 1))
def test_substreams_are_the_spawned_children_state_for_state(seed):
    kids = randomness.substreams(seed)
    fresh = np.random.SeedSequence(seed).spawn(len(randomness.STREAMS))
    for a, b in zip(kids, fresh, strict=True):
        assert (a.entropy, a.spawn_key, a.pool_size) == (b.entropy, b.spawn_key, b.pool_size)
        assert a.generate_state(8).tolist() == b.generate_state(8).tolist()
        assert np.random.default_rng(a).random(4).tolist() == np.random.default_rng(b).random(4).tolist()


_CONFIGS = st.builds(BackgroundLoad, levels=st.sampled_from([(0.0, 0.25, 0.5), (0.1,), (0.3, 0.3), (0.0, 0.9)]),
                     mean_hold_s=st.sampled_from([1e-4, 0.02]), initial=st.sampled_from(["draw", 0]))


@given(seed=st.integers(0, 2**31 - 1), device=st.integers(0, 4), cfg=_CONFIGS,
       reads=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 12)), min_size=1, max_size=8))
def test_readers_of_a_shared_path_each_see_the_fresh_path(seed, device, cfg, reads):
    ss = randomness.substreams(seed)[device]
    want = _take(load_path(cfg, np.random.default_rng(ss)), 60)
    readers = [shared_load_path(cfg, ss) for _ in range(3)]
    seen = [[], [], []]
    for who, k in reads:  # interleaved: one reader draws ahead, another replays behind it
        seen[who] += _take(readers[who], k)
    for got in seen:
        assert got == want[:len(got)]
    late = shared_load_path(cfg, ss)  # a reader arriving after all of them starts at the beginning
    assert _take(late, 5) == want[:5]


def test_paths_of_different_configs_or_streams_are_kept_apart():
    ss = randomness.substreams(3)
    a, b = BackgroundLoad(), BackgroundLoad(mean_hold_s=1e-3)
    assert _take(shared_load_path(a, ss[0]), 6) == _take(load_path(a, np.random.default_rng(ss[0])), 6)
    assert _take(shared_load_path(b, ss[0]), 6) == _take(load_path(b, np.random.default_rng(ss[0])), 6)
    assert _take(shared_load_path(a, ss[1]), 6) == _take(load_path(a, np.random.default_rng(ss[1])), 6)


def test_a_path_of_sequence_entropy_is_drawn_for_its_reader():
    ss = np.random.SeedSequence([7, 8, 9])  # entropy not one int: drawn for each reader, never kept
    cfg = BackgroundLoad()
    want = _take(load_path(cfg, np.random.default_rng(ss)), 8)
    first = shared_load_path(cfg, ss)
    assert _take(first, 8) == want
    assert _take(shared_load_path(cfg, ss), 8) == want


@given(seed=st.integers(0, 2**31 - 1), ahead=st.integers(0, 30), behind=st.integers(0, 30))
def test_readers_past_the_kept_part_go_on_with_the_same_path(seed, ahead, behind):
    ss = randomness.substreams(seed + 2**40)[0]  # substreams no other test reads (kept with this limit)
    cfg = BackgroundLoad(mean_hold_s=1e-4)
    want = _take(load_path(cfg, np.random.default_rng(ss)), 70)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hwstate, "RECORD_MAX", 7)
        first, second = shared_load_path(cfg, ss), shared_load_path(cfg, ss)
        a = _take(first, ahead)
        b = _take(second, behind) + _take(second, 40)
        assert a + _take(first, 40) == want[:ahead + 40]
        assert b == want[:behind + 40]
        assert len(hwstate._PATHS[(ss.entropy, ss.spawn_key, ss.pool_size, cfg)].items) <= 7
