"""``RunStreams``: a run's substreams built one by one when first read, each the very child
``substreams(seed)`` gives (state for state), and the noise substream's key without building it."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.hwmodels import load_platform
from sparoa_sim.hwmodels.noise import noise_sigmas
from sparoa_sim.sim import randomness
from sparoa_sim.sim.randomness import STREAMS, NoiseKey, RunStreams, batch_noise, substreams


def _state(ss):
    return ss.entropy, ss.spawn_key, ss.pool_size, ss.generate_state(8).tolist()


@given(seed=st.integers(0, 2**63 - 1), order=st.permutations(range(len(STREAMS))))
def test_each_substream_read_lazily_is_the_spawned_child(seed, order):
    lazy = RunStreams(seed)
    fresh = np.random.SeedSequence(seed).spawn(len(STREAMS))
    assert len(lazy) == len(STREAMS)
    for i in order:  # any order of first reads
        assert _state(lazy[i]) == _state(fresh[i])
        assert lazy[i] is lazy[i]  # built once
    assert [_state(a) for a in substreams(seed)] == [_state(b) for b in fresh]


@given(seed=st.integers(0, 2**63 - 1))
def test_the_noise_key_is_what_batch_noise_reads_of_the_noise_substream(seed):
    ss = np.random.SeedSequence(seed).spawn(len(STREAMS))[STREAMS.index("noise")]
    key = RunStreams(seed).noise_key()
    assert key == NoiseKey(ss.entropy, ss.spawn_key) and type(key.entropy) is int
    sigma = noise_sigmas(load_platform("jetson-agx-orin-64gb"))
    for request in (0, 3):
        assert batch_noise(key, sigma, 17, request) == batch_noise(ss, sigma, 17, request)


def test_a_seedless_run_draws_all_its_substreams_from_one_fresh_parent():
    a, b = RunStreams(None), RunStreams(None)
    assert a[0].entropy == a[4].entropy != b[0].entropy  # one parent per run, a fresh one per run
    assert [a[i].spawn_key for i in range(len(STREAMS))] == [(i,) for i in range(len(STREAMS))]
    assert a.noise_key() == NoiseKey(a[2].entropy, a[2].spawn_key)


def test_reading_one_substream_builds_no_other():
    seed = 2**50 + 12345  # a seed no other test reads
    lazy = RunStreams(seed)
    lazy[1]
    kept = randomness._substreams[seed]
    assert [ss is not None for ss in kept] == [False, True, False, False, False]
    lazy.noise_key()
    assert kept[STREAMS.index("noise")] is None
