"""The device the twin prefers per operator, and looking a shape up in a sweep."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.hwmodels import kind_code, load_platform, predict
from sparoa_sim.hwmodels.act_sparse import ActSparsePoint, preferred_device, sweep_lookup
from sparoa_sim.hwmodels.ops import OpArrays

NANO = load_platform("jetson-orin-nano-8gb")


def with_act(p=NANO, eta=0.05, gather=20.0, launch=3e-5):
    lat = dataclasses.replace(p.cpu.latency, act_kinds=("linear",), act_eta=eta, act_gather=gather, act_launch=launch)
    return p.with_latency("cpu", lat, origin="assumed", note="test")


def linears(act):
    a = np.asarray(act, dtype=float)
    n = len(a)
    return OpArrays.build([kind_code("linear")] * n, [2 * 4096 * 4096.0] * n, bytes_in=[4 * 4096.0] * n,
                          bytes_out=[4 * 4096.0] * n, bytes_w=[4 * 4096 * 4096.0] * n, act_sparsity=a,
                          units=[4096.0] * n)


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12))
def test_preference_is_the_faster_device(act):
    ops = linears(act)
    for plat in (NANO, with_act()):
        for sparse in (False, True):
            lat = predict(plat, ops, kernel="auto" if sparse else "dense").latency
            assert np.array_equal(preferred_device(plat, ops, sparse_kernels=sparse), (lat[:, 1] < lat[:, 0]))
    # without an activation-sparse kernel the switch changes nothing; with one, only towards the CPU
    assert np.array_equal(preferred_device(NANO, ops), preferred_device(NANO, ops, sparse_kernels=False))
    on, off = preferred_device(with_act(), ops), preferred_device(with_act(), ops, sparse_kernels=False)
    assert np.all(on <= off)


def _pt(s):
    return ActSparsePoint(kind="linear", groups=1, rows=1, inner=64, outer=64, sparsity=s, act_sparsity=s,
                          dense_s=1e-5, dense_s_a=1e-5, dense_s_b=1e-5, sparse_s=1e-5, sparse_s_a=1e-5,
                          sparse_s_b=1e-5, speedup=1.0, reps=4)


def test_sweep_lookup_takes_the_level_reached_from_below():
    pts = [_pt(s) for s in (0.0, 0.5, 0.9, 0.95)]
    assert sweep_lookup(pts, "linear", 1, 1, 64, 64, 0.93).sparsity == 0.9
    assert sweep_lookup(pts, "linear", 1, 1, 64, 64, 0.95).sparsity == 0.95
    assert sweep_lookup(pts, "linear", 1, 1, 64, 64, 1.0).sparsity == 0.95
    assert sweep_lookup(pts, "linear", 1, 1, 64, 128, 0.95) is None
