"""Really sparse inputs by lowered biases, and the CPU side of a placement timed with the twin's kernels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from sparoa_sim.errors import SparOAError
from sparoa_sim.hwmodels import load_platform, predict
from sparoa_sim.real.models.extract import extract
from sparoa_sim.real.run.act_sparse_check import (
    input_sparsity, kernel_cpu_times, measure_cpu_side, sparsify_inputs)

NANO = load_platform("jetson-orin-nano-8gb")
ACT = NANO.with_latency("cpu", dataclasses.replace(NANO.cpu.latency, act_kinds=("linear",), act_eta=1.0,
                                                    act_gather=0.0, act_launch=0.0, g_a=1.0),
                        origin="assumed", note="test: the activation-sparse kernel always wins")


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 10)).eval()


XS = torch.randn(6, 32, generator=torch.Generator().manual_seed(1))


def test_lowered_biases_reach_the_targets():
    m = mlp()
    ref = m(XS).detach()
    got = sparsify_inputs(m, XS, [("0", "2", 0.9), ("2", "4", 0.95)])
    for consumer, target in (("2", 0.9), ("4", 0.95)):
        s = input_sparsity(m, consumer, XS)
        assert got[consumer] == s.mean() and target <= s.mean() <= target + 0.01
    assert not torch.equal(m(XS), ref)  # the values changed, the structure did not
    assert [type(x) for x in m] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]


@pytest.mark.parametrize("plan, match", [([("9", "2", 0.9)], "no module '9'"),
                                         ([("1", "2", 0.9)], "has no bias"),
                                         ([("0", "2", 1.0)], r"must lie in \[0, 1\)"),
                                         ([("2", "2", 0.9)], "does not run before")])
def test_bad_plans_are_refused(plan, match):
    with pytest.raises(SparOAError, match=match):
        sparsify_inputs(mlp(), XS, plan)
    no_relu = nn.Sequential(nn.Linear(32, 64), nn.Linear(64, 8)).eval()
    with pytest.raises(SparOAError, match="does not make '1'"):
        sparsify_inputs(no_relu, XS, [("0", "1", 0.5)])


@pytest.mark.slow
def test_cpu_side_runs_the_twins_kernel_on_really_sparse_inputs():
    m = mlp()
    sparsify_inputs(m, XS, [("0", "2", 0.9), ("2", "4", 0.95)])
    g = extract(m, XS[:1], name="mlp", inputs=XS)
    lin = [i for i, op in enumerate(g.ops) if op.kind.value == "linear"]
    assert [round(g.ops[i].act_sparsity, 2) >= t for i, t in zip(lin[1:], (0.9, 0.95))] == [True, True]
    chk = measure_cpu_side(m, g, ACT, XS, lin[1:], runs=4, warmup=1)
    pred = predict(ACT, g.hw_ops).latency[:, 0]
    assert [o.op for o in chk.ops] == lin[1:] and all(o.kernel == "act_sparse" for o in chk.ops)
    assert all(o.twin_s == pred[o.op] and o.measured_s > 0 for o in chk.ops)
    assert chk.twin_s == pytest.approx(sum(pred[lin[1:]])) and np.isfinite(chk.error)
    dense = measure_cpu_side(m, g, NANO, XS, lin[1:], runs=2, warmup=0)  # no act kernel on the Nano profile
    assert all(o.kernel == "dense" for o in dense.ops)
    with pytest.raises(SparOAError, match="runs must be >= 2"):
        measure_cpu_side(m, g, ACT, XS, lin, runs=1)


def test_kernel_cpu_times_run_the_twins_kernel_on_the_captured_inputs():
    m = mlp()
    sparsify_inputs(m, XS, [("0", "2", 0.9), ("2", "4", 0.95)])
    g = extract(m, XS[:1], name="mlp", inputs=XS)
    lin = [i for i, op in enumerate(g.ops) if op.kind.value == "linear"]
    got = kernel_cpu_times(m, g, ACT, XS, lin[1:], calls=4)
    assert sorted(got) == lin[1:] and all(k == "act_sparse" and t > 0 for k, t in got.values())
    assert {k for k, _ in kernel_cpu_times(m, g, NANO, XS, lin[1:], calls=2).values()} == {"dense"}
    relu = next(i for i, op in enumerate(g.ops) if op.kind.value == "act")
    with pytest.raises(SparOAError, match="is not a linear module"):
        kernel_cpu_times(m, g, ACT, XS, [relu], calls=2)
