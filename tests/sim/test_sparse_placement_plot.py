"""The quadrant plot's device panels: the twin's preferred device per operator, dense vs sparse kernels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sparoa_sim.hwmodels import load_platform
from sparoa_sim.hwmodels.act_sparse import preferred_device
from sparoa_sim.ir.sparsity import with_act_sparsity
from sparoa_sim.plots import device_preference, quadrant_plot
from sparoa_sim.workloads import load_workload

NANO = load_platform("jetson-orin-nano-8gb")
ACT = NANO.with_latency("cpu", dataclasses.replace(NANO.cpu.latency, act_kinds=("linear",), act_eta=0.2,
                                                    act_gather=20.0, act_launch=1e-5, g_a=1.0),
                        origin="assumed", note="test")
VGG = load_workload("vgg16")


def test_preference_counts_and_shares():
    g = with_act_sparsity(VGG, 0.99)
    pref = device_preference(g, ACT)
    on = preferred_device(ACT, g.hw_ops) == 0
    off = preferred_device(ACT, g.hw_ops, sparse_kernels=False) == 0
    assert pref.cpu_sparse == tuple(on) and pref.cpu_dense == tuple(off)
    assert pref.moved == tuple(int(i) for i in np.flatnonzero(on != off))
    assert set(pref.moved) <= {32, 34, 36} and pref.moved  # only the linear layers can move, and some do
    f = g.arrays.flops
    assert pref.share(True) == f[on].sum() / f.sum()
    d = pref.to_dict()
    assert (d["cpu_ops_dense"], d["cpu_ops_sparse"]) == (int(off.sum()), int(on.sum()))
    assert device_preference(VGG, NANO).moved == ()  # no activation-sparse kernel: nothing moves


@pytest.mark.slow
def test_two_panel_plot_is_written(tmp_path):
    out = quadrant_plot(with_act_sparsity(VGG, 0.99), tmp_path / "q.png", platform=ACT)
    assert out.is_file() and out.stat().st_size > 10_000
    assert quadrant_plot(VGG, tmp_path / "one.png").is_file()  # the one-panel form stays
