"""Precision as PyTorch runs it and per-kernel overheads (docs/architecture.md §3): the TF32 and
FP16 switches change exactly the kinds they should, and overheads are charged per kernel."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sparoa_sim.hwmodels import OpArrays, ProfileError, load_platform
from sparoa_sim.hwmodels.kinds import KINDS, kind_code
from sparoa_sim.hwmodels.latency import predict
from sparoa_sim.hwmodels.profile_io import parse_platform, platform_to_toml

AGX = load_platform("jetson-agx-orin-64gb")
NANO = load_platform("jetson-orin-nano-8gb")


def one_of_each(kernels: float = 1.0) -> OpArrays:
    """One compute-heavy operator of every kind (large enough to be compute-bound on the GPU)."""
    n = len(KINDS)
    units = np.full(n, 1e6)
    return OpArrays.build(np.arange(n), np.full(n, 4e10), bytes_in=np.full(n, 4e3), bytes_out=np.full(n, 4e3),
                          units=units, kernels=np.full(n, kernels))


def changed_kinds(a, b, col: int) -> set[str]:
    return {KINDS[i].value for i in np.flatnonzero(a.latency[:, col] != b.latency[:, col])}


@pytest.mark.parametrize("plat", [AGX, NANO], ids=["agx", "nano"])
def test_tf32_switch_changes_exactly_its_kinds(plat) -> None:
    ops = one_of_each()
    none, conv, full = (predict(plat, ops, tf32=t) for t in ("none", "conv", "all"))
    assert changed_kinds(none, conv, 1) == {"conv"}
    assert changed_kinds(conv, full, 1) == {"linear", "matmul", "attention"}
    for other in (conv, full):  # the CPU has no tensor cores: bit-identical
        np.testing.assert_array_equal(none.latency[:, 0], other.latency[:, 0])
    # touched kinds run at the TF32 tensor rate: half the FP16 tensor rate, 4x the CUDA-core FP32 rate here
    c = kind_code("conv")
    assert none.t_compute[c, 1] == pytest.approx(4 * conv.t_compute[c, 1], rel=1e-12)
    untouched = [i for i, k in enumerate(KINDS) if k.value not in ("conv", "linear", "matmul", "attention")]
    np.testing.assert_array_equal(none.latency[untouched], full.latency[untouched])


def test_tf32_default_comes_from_the_profile_and_fp16_ignores_it() -> None:
    ops = one_of_each()
    np.testing.assert_array_equal(predict(AGX, ops).latency, predict(AGX, ops, tf32="conv").latency)
    np.testing.assert_array_equal(predict(AGX.with_tf32("all"), ops).latency, predict(AGX, ops, tf32="all").latency)
    assert predict(AGX.with_tf32("none"), ops).tf32 == "none"
    h = [predict(AGX, ops, precision="fp16", tf32=t).latency for t in ("none", "conv", "all")]
    np.testing.assert_array_equal(h[0], h[1])
    np.testing.assert_array_equal(h[0], h[2])
    with pytest.raises(ValueError, match="tf32"):
        predict(AGX, ops, tf32="some")
    with pytest.raises(ProfileError, match="tf32"):
        AGX.with_tf32("TF32")


@pytest.mark.parametrize("plat", [AGX, NANO], ids=["agx", "nano"])
def test_fp16_switch_changes_gemm_kinds_to_tensor_cores_and_fp16_tc_is_an_alias(plat) -> None:
    ops = one_of_each()
    h16, htc = predict(plat, ops, precision="fp16"), predict(plat, ops, precision="fp16_tc")
    np.testing.assert_array_equal(h16.latency, htc.latency)
    f32 = predict(plat, ops, precision="fp32", tf32="none")
    gemm = [kind_code(k) for k in ("conv", "linear", "matmul", "attention")]
    plain = [i for i in range(len(KINDS)) if i not in gemm]
    # GPU: GEMM kinds 8x (4096 vs 512 FLOP/cycle/TPC), the rest 2x (CUDA-core FP16)
    np.testing.assert_allclose(f32.t_compute[gemm, 1] / h16.t_compute[gemm, 1], 8.0, rtol=1e-12)
    np.testing.assert_allclose(f32.t_compute[plain, 1] / h16.t_compute[plain, 1], 2.0, rtol=1e-12)
    # CPU: GEMM kinds at the measured FP16 GEMM rate (0.6 vs 82.1 GFLOP/s), the rest at the measured element-wise
    # FP16 rate (2.13 vs 16 FLOP/cycle: PyTorch's aarch64 FP16 path, 7W axpy), not the ISA's 2x
    np.testing.assert_allclose(h16.t_compute[gemm, 0] / f32.t_compute[gemm, 0], 82.1 / 0.6, rtol=1e-4)
    np.testing.assert_allclose(h16.t_compute[plain, 0] / f32.t_compute[plain, 0], 16 / 2.13, rtol=1e-12)


def test_overheads_are_charged_per_kernel() -> None:
    """CPU: t_launch_cpu · max(1, kernels); GPU: t_launch_gpu · kernels; t_dispatch stays per kernel."""
    ks = np.array([0.0, 1.0, 3.0])
    ops = OpArrays.build(np.full(3, kind_code("add")), np.zeros(3), kernels=ks)
    pred = predict(AGX, ops, mode="30W")
    scale = AGX.cpu.max_clock_hz / 1.728e9
    tl = np.array([AGX.cpu.latency.t_launch, AGX.gpu.latency.t_launch]) * scale
    np.testing.assert_allclose(pred.launch[:, 0], tl[0] * np.array([1.0, 1.0, 3.0]), rtol=1e-12)
    np.testing.assert_allclose(pred.launch[:, 1], tl[1] * ks, rtol=1e-12)
    np.testing.assert_allclose(pred.latency, pred.launch, rtol=1e-12)  # no work, no bytes: overhead only
    np.testing.assert_allclose(pred.t_launch, tl, rtol=1e-12)
    np.testing.assert_allclose(pred.t_dispatch, [0.0, AGX.gpu.latency.t_dispatch * scale], rtol=1e-12)


def test_per_kernel_overheads_follow_the_sourced_ms_ghz_constants() -> None:
    """0.075 / 0.011 ms·GHz (GPU host dispatch / device launch) and 0.044 ms·GHz (CPU framework) on
    every Orin profile, scaled with 1/CPU clock in each mode (docs/jetson-profiles.md)."""
    for name in ("jetson-agx-orin-64gb", "jetson-agx-orin-32gb", "jetson-orin-nx-16gb", "jetson-orin-nano-8gb",
                 "jetson-orin-nano-super"):
        p = load_platform(name)
        for m in p.modes:
            pred = predict(p, one_of_each(), mode=m)
            ghz = m.cpu_clock_hz / 1e9
            assert pred.t_dispatch[1] * ghz == pytest.approx(0.075e-3, rel=1e-4)
            assert pred.t_launch[1] * ghz == pytest.approx(0.011e-3, rel=1e-4)
            assert pred.t_launch[0] * ghz == pytest.approx(0.044e-3, rel=1e-4)


def test_profile_tf32_is_strict_and_round_trips() -> None:
    text = platform_to_toml(AGX.with_tf32("all"))
    assert parse_platform(text).tf32 == "all"
    assert parse_platform(text).gpu.peak_flops.tf32 == AGX.gpu.peak_flops.tf32
    bad = text.replace('tf32 = "all"', 'tf32 = "matmul"')
    with pytest.raises(ProfileError, match=r"bad\.toml: key 'tf32': unknown value 'matmul'"):
        parse_platform(bad, "bad.toml")
    with pytest.raises(ProfileError, match=r"key 'tf32': must be a string"):
        parse_platform(text.replace('tf32 = "all"', "tf32 = 1"), "bad.toml")
    no_fpc = "\n".join(line for line in text.split("\n") if not line.startswith("tf32 = { value = 2048"))
    with pytest.raises(ProfileError, match=r"gpu\.peak_flops\.tf32.*flop_per_cycle has no tf32"):
        parse_platform(no_fpc, "bad.toml")
    wrong_peak = text.replace(f"tf32 = {{ value = {AGX.gpu.peak_flops.tf32!r}", "tf32 = { value = 4e13")
    with pytest.raises(ProfileError, match=r"gpu\.peak_flops\.tf32.*disagrees"):
        parse_platform(wrong_peak, "bad.toml")
    assert dataclasses.replace(AGX, tf32="none").tf32 == "none"
    with pytest.raises(ProfileError, match="tf32"):
        dataclasses.replace(AGX, tf32="on")
