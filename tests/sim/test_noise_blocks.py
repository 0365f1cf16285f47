"""Batch noise drawn in read-ahead blocks equals each request's own draw, element for element (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.hwmodels.noise import lognormal_factors
from sparoa_sim.sim import randomness
from sparoa_sim.sim.randomness import batch_noise


def one_by_one(ss: np.random.SeedSequence, sigma: np.ndarray, n: int, request: int) -> list[float]:
    """The definition: the request's own child of the noise stream, drawn alone."""
    child = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key + (request,))
    rng = np.random.Generator(np.random.PCG64(child))
    return lognormal_factors(rng, sigma, (n, 2)).ravel().tolist()


@given(seed=st.integers(0, 2**40), n=st.integers(1, 40), start=st.integers(0, 500),
       steps=st.lists(st.integers(1, 3), min_size=1, max_size=80),
       sigma=st.tuples(st.floats(0.0, 0.5), st.floats(0.0, 0.5)))
def test_blocks_equal_single_draws(seed, n, start, steps, sigma):
    ss = np.random.SeedSequence(seed).spawn(3)[2]
    sig = np.array(sigma)
    r = start
    for step in steps:  # in order with gaps: read-ahead blocks start, grow, restart
        got = batch_noise(ss, sig, n, r)
        assert got == one_by_one(ss, sig, n, r)
        got.append(0.0)  # each call returns its own list
        assert batch_noise(ss, sig, n, r) == one_by_one(ss, sig, n, r)
        r += step


def test_read_ahead_grows_for_requests_in_order():
    ss = np.random.SeedSequence(987654321).spawn(3)[2]
    sig = np.array([0.1, 0.2])
    for r in range(100):
        assert batch_noise(ss, sig, 7, r) == one_by_one(ss, sig, 7, r)
    stream = (ss.entropy, ss.spawn_key, 7, sig.shape, sig.tobytes())
    nxt, block = randomness._next_block[stream]
    assert block == randomness._BLOCK_MAX  # 1, 2, 4, ... doubled up to the cap
    assert nxt >= 100


def test_bad_sigma_still_raises():
    ss = np.random.SeedSequence(5).spawn(3)[2]
    with pytest.raises(ValueError, match="sigma"):
        batch_noise(ss, np.array([0.1, -1.0]), 3, 0)
