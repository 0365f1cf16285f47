"""Precision set and stated: TF32 switches per run, half precision on the GPU role, records, tolerances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparoa_sim.real.measure.precision import (
    PrecisionError,
    precision_record,
    tf32_flags,
    tf32_mode,
    tolerance,
)
from sparoa_sim.real.models import zoo
from sparoa_sim.real.run.executor import ExecutorError, HybridExecutor, random_placement


@pytest.mark.parametrize(("mode", "cudnn", "matmul"), [("conv", True, False), ("all", True, True),
                                                       ("none", False, False)])
def test_tf32_mode_sets_both_switches_and_restores_them(mode, cudnn, matmul):
    before = tf32_flags()
    with tf32_mode(mode) as flags:
        assert flags == {"cudnn_allow_tf32": cudnn, "matmul_allow_tf32": matmul} == tf32_flags()
    assert tf32_flags() == before


def test_bad_names_are_refused():
    with pytest.raises(PrecisionError, match="tf32 must be one of conv, all, none"):
        with tf32_mode("on"):
            pass
    with pytest.raises(PrecisionError, match="precision"):
        precision_record("conv", "bf16")
    with pytest.raises(ExecutorError):
        HybridExecutor(torch.nn.Linear(2, 2), torch.zeros(1, 2), gpu_device=None, tf32="yes")


def test_record_and_tolerances_follow_the_precision():
    rec = precision_record("none", "fp32", cuda=True)
    assert rec["cudnn_allow_tf32"] is False and rec["matmul_allow_tf32"] is False and not rec["tf32_effective"]
    assert precision_record("conv", "fp32", cuda=True)["tf32_effective"] is True
    assert precision_record("conv", "fp32", cuda=False)["tf32_effective"] is False
    half = precision_record("all", "fp16_tc", cuda=True)
    assert half["gpu_dtype"] == "float16" and half["cpu_dtype"] == "float32" and not half["tf32_effective"]
    assert tolerance("fp32", "none") == 1e-4 < tolerance("fp32", "conv") == tolerance("fp32", "all") == 1e-2
    assert tolerance("fp16", "none") == tolerance("fp16_tc", "conv") == 5e-2


def test_each_run_uses_the_executors_tf32_and_records_it():
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(dict(tf32_flags()))
            return x + 1

    with HybridExecutor(torch.nn.Sequential(torch.nn.Linear(3, 3), Probe()), torch.zeros(1, 3), gpu_device=None,
                        tf32="all") as ex:
        before = tf32_flags()
        res = ex.run(torch.ones(2, 3), placement=[0.0] * len(ex.graph))
        assert tf32_flags() == before
    assert res.precision["tf32"] == "all" and res.precision["precision"] == "fp32"
    assert res.precision["matmul_allow_tf32"] is True and res.precision["share_weights"] is False


@pytest.mark.parametrize(("name", "precision"), [("resnet18", "fp16"), ("swin_t", "fp16_tc")])
def test_half_precision_gpu_role_runs_in_float16_and_matches_within_its_tolerance(name, precision):
    """The GPU role (emulated on the CPU) in float16: values change dtype where they cross
    devices, outputs come back float32, and the error stays within the fp16 tolerance."""
    m = zoo.build(name, reduced=True)
    x = zoo.example_input(name, reduced=True, batch=2, seed=1)
    with HybridExecutor(m, x[:1], gpu_device=None, precision=precision, name=name) as ex:
        ref = ex.eager(x)
        gpu_params = list(ex._roots[1].parameters())
        assert gpu_params and all(p.dtype == torch.float16 for p in gpu_params)
        assert all(p.dtype == torch.float32 for p in ex._roots[0].parameters())
        rng = np.random.default_rng(0)
        for _ in range(3):
            res = ex.run(x, placement=random_placement(ex.graph, rng, p_split=0.4))
            assert res.output.dtype == torch.float32
            err = float((res.output - ref).abs().max()) / max(1.0, float(ref.abs().max()))
            assert err <= tolerance(precision, "conv"), err
        assert res.precision["gpu_dtype"] == "float16"
        to_gpu = [t for t in res.transfers if t.dst == "gpu" and t.name == "input"]
        if to_gpu:  # half the bytes of the float32 input
            assert to_gpu[0].nbytes == x.numel() * 2
        # all on the CPU: bit for bit eager (no half anywhere)
        cpu = ex.run(x, placement=[0.0] * len(ex.graph))
        assert torch.equal(cpu.output, ref)


def test_share_weights_is_refused_with_half_precision():
    with pytest.raises(ExecutorError, match="share_weights"):
        HybridExecutor(torch.nn.Linear(2, 2), torch.zeros(1, 2), gpu_device=None, precision="fp16",
                       share_weights=True)
