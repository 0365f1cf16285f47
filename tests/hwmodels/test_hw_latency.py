"""Latency model: exact roofline values, monotonicity properties, kernel choice, vectorisation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.hwmodels import (
    KINDS,
    OpArrays,
    OpKind,
    ProfileError,
    kind_code,
    list_platforms,
    load_platform,
    predict,
    retime,
    roofline,
)

PLATFORMS = {name: load_platform(name) for name in list_platforms(include_user=False)}
AGX = PLATFORMS["jetson-agx-orin-64gb"]
REL = 1e-12  # float rounding slack in ordering assertions

platform_names = st.sampled_from(sorted(PLATFORMS))
precisions = st.sampled_from(["fp32", "fp16", "fp16_tc"])
batches = st.integers(1, 64)
big = st.floats(0.0, 1e10, allow_nan=False, allow_infinity=False)
frac = st.floats(0.0, 1.0)


@st.composite
def op_fields(draw: st.DrawFn) -> dict[str, float]:
    return {
        "kind": draw(st.integers(0, len(KINDS) - 1)),
        "flops": draw(big),
        "bytes_in": draw(big),
        "bytes_out": draw(big),
        "bytes_w": draw(big),
        "act_sparsity": draw(frac),
        "w_sparsity": draw(frac),
        "units": draw(st.floats(0.0, 1e7)),
    }


def ops_of(*rows: dict[str, float]) -> OpArrays:
    cols = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return OpArrays.build(cols.pop("kind"), cols.pop("flops"), **cols)


def mode_of(platform_name: str, data: st.DataObject):
    p = PLATFORMS[platform_name]
    return p, data.draw(st.sampled_from(p.mode_names))


def assert_le(a: np.ndarray, b: np.ndarray) -> None:
    assert np.all(a <= b * (1 + REL) + 1e-300), (a, b)


# --- exact values ------------------------------------------------------------------------
def test_compute_bound_conv_matches_hand_formula() -> None:
    """A large conv on the AGX GPU at MAXN: t = t_launch + flops / (P · η · π), P the TF32 tensor
    rate on the GPU (PyTorch's default: cuDNN convolutions in TF32), FP32 NEON on the CPU."""
    flops, units = 2 * 56 * 56 * 64 * 64 * 9.0, 56 * 56 * 64.0
    ops = OpArrays.build([kind_code("conv")], [flops], bytes_in=[56 * 56 * 64 * 4.0],
                         bytes_out=[units * 4], bytes_w=[64 * 64 * 9 * 4.0], units=[units])
    pred = predict(AGX, ops, batch=1, mode="MAXN")
    gpu = AGX.gpu.latency
    slots = 8 * gpu.lanes
    par = (units / slots) / math.ceil(units / slots)
    size = min(4.0, max(0.25, (flops / 1e8) ** gpu.conv_size_beta))  # the dense conv's size term (1 without it)
    expected = gpu.t_launch + size * flops / (8 * 2048 * 1.3e9 * gpu.eta_of("conv") * par)
    assert pred.gpu[0] == pytest.approx(expected, rel=1e-12)
    cuda_cores = predict(AGX, ops, batch=1, mode="MAXN", tf32="none")
    assert cuda_cores.gpu[0] == pytest.approx(
        gpu.t_launch + size * flops / (2048 * 2 * 1.3e9 * gpu.eta_of("conv") * par), rel=1e-12)
    assert pred.t_compute[0, 1] > pred.t_memory[0, 1]
    cpu = AGX.cpu.latency
    slots_c = 12 * cpu.lanes
    par_c = (units / slots_c) / math.ceil(units / slots_c)
    assert pred.cpu[0] == pytest.approx(cpu.t_launch + flops / (12 * 16 * 2.2016e9 * cpu.eta_of("conv") * par_c),
                                        rel=1e-12)
    assert not pred.sparse.any()


def test_memory_bound_add_matches_hand_formula() -> None:
    n_el = 1e6
    ops = OpArrays.build([kind_code("add")], [n_el], bytes_in=[8 * n_el], bytes_out=[4 * n_el])
    pred = predict(AGX, ops, batch=4, mode="15W")
    emc = 136.5e9 / 204.8e9
    scale = 2.2016e9 / 1113.6e6  # host overhead scaling in 15W
    for j, dev in enumerate(AGX.devices):
        t_mem = 4 * 12 * n_el / (dev.latency.mem_bw * emc)
        assert pred.t_memory[0, j] == pytest.approx(t_mem, rel=1e-12)
        assert pred.latency[0, j] == pytest.approx(dev.latency.t_launch * scale + max(t_mem, pred.t_compute[0, j]), rel=1e-12)
    assert pred.t_dispatch[1] == pytest.approx(AGX.gpu.latency.t_dispatch * scale)


def test_fp16_halves_bytes_and_runs_gemm_on_tensor_cores() -> None:
    """``.half()`` as PyTorch runs it: GEMM-like kinds on the tensor cores (fp16_tc is an alias),
    element-wise kinds at the CUDA-core FP16 rate; on the CPU the measured FP16 GEMM and element-wise rates."""
    ops = OpArrays.build([kind_code("linear"), kind_code("add")], [2 * 4096 * 4096 * 64, 1e6],
                         bytes_in=[4096 * 64 * 4, 8e6], bytes_out=[4096 * 64 * 4, 4e6],
                         bytes_w=[4096 * 4096 * 4, 0.0], units=[4096 * 64, 1e6])
    p32 = predict(AGX, ops, precision="fp32", tf32="none")
    p16 = predict(AGX, ops, precision="fp16")
    ptc = predict(AGX, ops, precision="fp16_tc")
    np.testing.assert_allclose(p16.bytes, p32.bytes / 2)
    np.testing.assert_array_equal(ptc.latency, p16.latency)  # an alias
    assert p16.t_compute[0, 1] == pytest.approx(p32.t_compute[0, 1] / 8)  # 4096 vs 512 FLOP/cycle/TPC
    assert p16.t_compute[1, 1] == pytest.approx(p32.t_compute[1, 1] / 2)  # element-wise: CUDA-core FP16
    fp16_gemm = AGX.cpu.flop_per_cycle.fp16_tc
    assert p16.t_compute[0, 0] == pytest.approx(p32.t_compute[0, 0] * 16 / fp16_gemm)  # CPU FP16 GEMM: ~137x slower
    fp16_ew = AGX.cpu.flop_per_cycle.fp16
    assert fp16_ew < 16  # PyTorch's aarch64 FP16 element-wise path (measured) is slower than FP32
    assert p16.t_compute[1, 0] == pytest.approx(p32.t_compute[1, 0] * 16 / fp16_ew)  # CPU element-wise FP16


def test_small_operators_lose_parallel_efficiency() -> None:
    """Same FLOPs per output element: fewer outputs → fewer full waves → lower achieved rate."""
    units = np.array([100.0, 1e4, 1e6])
    ops = OpArrays.build(np.full(3, kind_code("conv")), units * 1000, units=units)
    pred = predict(AGX, ops)
    rate = ops.flops[:, None] / pred.t_compute
    assert np.all(np.diff(rate, axis=0) > 0)
    # batch brings efficiency back
    assert predict(AGX, ops.take([0]), batch=64).t_compute[0, 1] < 64 * pred.t_compute[0, 1] * 0.5


def test_weight_sparse_operator_picks_csr_on_cpu() -> None:
    n = 1e6
    ops = OpArrays.build([kind_code("linear")] * 2, [2 * n] * 2, bytes_in=[4096.0] * 2, bytes_out=[4096.0] * 2,
                         bytes_w=[4 * n] * 2, w_sparsity=[0.0, 0.9], units=[1024.0] * 2)
    pred = predict(AGX, ops, batch=64)
    assert not pred.sparse[0].any()  # dense weights: dense kernel everywhere
    assert pred.sparse[1, 0]  # 90 % zeros: CSR wins on the CPU …
    assert pred.work[1, 0] == pytest.approx(0.1 * 64 * 2 * n)
    assert pred.bytes[1, 0] == pytest.approx(64 * 8192 + 4 * n * 0.1 * 2)


# --- properties ----------------------------------------------------------------------------
@given(platform_names, st.data(), op_fields(), big, big, batches, precisions)
def test_latency_non_decreasing_in_flops(name, data, row, f1, f2, b, prec) -> None:
    p, mode = mode_of(name, data)
    lo, hi = sorted((f1, f2))
    pred = predict(p, ops_of({**row, "flops": lo}, {**row, "flops": hi}), b, mode, prec)
    assert_le(pred.latency[0], pred.latency[1])


@given(platform_names, st.data(), op_fields(), big, big, st.sampled_from(["bytes_in", "bytes_out", "bytes_w"]), batches)
def test_latency_non_decreasing_in_bytes(name, data, row, x1, x2, field, b) -> None:
    p, mode = mode_of(name, data)
    lo, hi = sorted((x1, x2))
    pred = predict(p, ops_of({**row, field: lo}, {**row, field: hi}), b, mode)
    assert_le(pred.latency[0], pred.latency[1])


@given(platform_names, st.data(), op_fields(), st.floats(0.05, 1.0), st.floats(0.05, 1.0),
       st.sampled_from(["cpu_clock_hz", "gpu_clock_hz"]), batches)
def test_latency_non_increasing_in_clock(name, data, row, r1, r2, field, b) -> None:
    p, mode = mode_of(name, data)
    m = p.mode(mode)
    cap = p.cpu.max_clock_hz if field == "cpu_clock_hz" else p.gpu.max_clock_hz
    lo, hi = sorted((r1, r2))
    slow = dataclasses.replace(m, **{field: lo * cap})
    fast = dataclasses.replace(m, **{field: hi * cap})
    ops = ops_of(row)
    assert_le(predict(p, ops, b, fast).latency, predict(p, ops, b, slow).latency)


@given(platform_names, st.data(), op_fields(), st.floats(0.05, 1.0), st.floats(0.05, 1.0), batches)
def test_latency_non_increasing_in_bandwidth(name, data, row, r1, r2, b) -> None:
    p, mode = mode_of(name, data)
    m = p.mode(mode)
    lo, hi = sorted((r1, r2))
    ops = ops_of(row)
    slow = predict(p, ops, b, dataclasses.replace(m, emc_bw=lo * p.memory.peak_bw))
    fast = predict(p, ops, b, dataclasses.replace(m, emc_bw=hi * p.memory.peak_bw))
    assert_le(fast.latency, slow.latency)
    # contention is a bandwidth cut too
    assert_le(fast.latency, predict(p, ops, b, m, contention=(lo, lo)).latency)


@given(platform_names, st.data(), op_fields(), st.integers(1, 12), st.integers(1, 12), batches)
def test_latency_non_increasing_in_active_units(name, data, row, u1, u2, b) -> None:
    p, mode = mode_of(name, data)
    m = p.mode(mode)
    lo, hi = sorted((min(u1, p.gpu.units), min(u2, p.gpu.units)))
    ops = ops_of(row)
    few = predict(p, ops, b, dataclasses.replace(m, gpu_tpcs=lo, cpu_cores=min(lo, p.cpu.units)))
    many = predict(p, ops, b, dataclasses.replace(m, gpu_tpcs=hi, cpu_cores=min(hi, p.cpu.units)))
    assert_le(many.latency, few.latency)


@given(platform_names, op_fields(), batches, precisions)
def test_no_mode_is_faster_than_maxn(name, row, b, prec) -> None:
    p = PLATFORMS[name]
    ops = ops_of(row)
    best = predict(p, ops, b, "MAXN", prec).latency
    for m in p.mode_names:
        assert_le(best, predict(p, ops, b, m, prec).latency)


@given(platform_names, st.data(), st.lists(op_fields(), min_size=1, max_size=8), batches, precisions)
def test_sparse_choice_never_slower_than_dense(name, data, rows, b, prec) -> None:
    p, mode = mode_of(name, data)
    dense_only = dataclasses.replace(
        p,
        cpu=dataclasses.replace(p.cpu, latency=dataclasses.replace(p.cpu.latency, sparse_kinds=())),
        gpu=dataclasses.replace(p.gpu, latency=dataclasses.replace(p.gpu.latency, sparse_kinds=())),
    )
    ops = ops_of(*rows)
    both = predict(p, ops, b, mode, prec)
    dense = predict(dense_only, ops, b, mode, prec)
    assert_le(both.latency, dense.latency)
    assert not dense.sparse.any()
    np.testing.assert_array_equal(both.latency[~both.sparse], dense.latency[~both.sparse])


@given(platform_names, st.data(), op_fields(), frac, frac, batches)
def test_latency_non_decreasing_in_load(name, data, row, l1, l2, b) -> None:
    p, mode = mode_of(name, data)
    lo, hi = sorted((min(l1, 0.99), min(l2, 0.99)))
    ops = ops_of(row)
    assert_le(predict(p, ops, b, mode, load=lo).latency, predict(p, ops, b, mode, load=hi).latency)


@given(platform_names, st.data(), st.lists(op_fields(), min_size=1, max_size=6), st.floats(0, 0.9), st.floats(0.1, 1.0))
def test_retime_matches_fresh_prediction(name, data, rows, load, cont) -> None:
    p, mode = mode_of(name, data)
    ops = ops_of(*rows)
    base = predict(p, ops, 2, mode)
    np.testing.assert_allclose(retime(base), base.latency, rtol=1e-12)
    fresh = predict(p, ops, 2, mode, load=(load, load / 2), contention=(cont, 1.0))
    same_kernel = fresh.sparse == base.sparse
    re = retime(base, load=(load, load / 2), contention=(cont, 1.0))
    np.testing.assert_allclose(re[same_kernel], fresh.latency[same_kernel], rtol=1e-9)


@given(st.lists(st.floats(0, 1e3), min_size=2, max_size=2), st.floats(0.0, 1.0))
def test_roofline_between_max_and_sum(ts, s) -> None:
    tc, tm = np.array([ts[0]]), np.array([ts[1]])
    r = roofline(tc, tm, s)
    assert np.all(r >= np.maximum(tc, tm) * (1 - REL))
    assert np.all(r <= (tc + tm) * (1 + 1e-9))


# --- shapes and arguments ---------------------------------------------------------------
def random_ops(n: int, seed: int = 0) -> OpArrays:
    rng = np.random.default_rng(seed)
    return OpArrays.build(
        rng.integers(0, len(KINDS), n), rng.uniform(0, 1e9, n), bytes_in=rng.uniform(0, 1e7, n),
        bytes_out=rng.uniform(0, 1e7, n), bytes_w=rng.uniform(0, 1e7, n), act_sparsity=rng.uniform(0, 1, n),
        w_sparsity=rng.uniform(0, 1, n), units=rng.uniform(0, 1e6, n),
    )


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_vectorised_predict_of_200_ops(name: str) -> None:
    p = PLATFORMS[name]
    ops = random_ops(200)
    for mode in p.mode_names:
        pred = predict(p, ops, batch=8, mode=mode)
        for a in (pred.latency, pred.t_compute, pred.t_memory, pred.work, pred.bytes, pred.sparse):
            assert a.shape == (200, 2)
        assert np.all(np.isfinite(pred.latency)) and np.all(pred.latency > 0)
        assert np.all(pred.latency >= pred.t_launch)
        assert pred.cpu.shape == pred.gpu.shape == (200,)
        assert len(pred) == 200


def test_batch_shapes() -> None:
    ops = random_ops(10)
    scalar = predict(AGX, ops, batch=4).latency
    np.testing.assert_array_equal(predict(AGX, ops, batch=np.full(10, 4.0)).latency, scalar)
    np.testing.assert_array_equal(predict(AGX, ops, batch=np.full((10, 2), 4.0)).latency, scalar)
    split = predict(AGX, ops, batch=np.tile([1.0, 3.0], (10, 1))).latency
    assert np.all(split[:, 0] <= scalar[:, 0]) and np.all(split[:, 1] <= scalar[:, 1])


def test_empty_ops() -> None:
    pred = predict(AGX, random_ops(0))
    assert pred.latency.shape == (0, 2)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"batch": 0}, ValueError),
        ({"batch": -1.0}, ValueError),
        ({"batch": np.ones(3)}, ValueError),
        ({"load": 1.0}, ValueError),
        ({"load": (-0.1, 0.0)}, ValueError),
        ({"contention": 0.0}, ValueError),
        ({"contention": (1.0, 1.5)}, ValueError),
        ({"precision": "int8"}, ProfileError),
        ({"mode": "TURBO"}, ProfileError),
    ],
)
def test_bad_arguments(kwargs, error) -> None:
    with pytest.raises(error):
        predict(AGX, random_ops(5), **kwargs)


def test_op_arrays_validation() -> None:
    with pytest.raises(ValueError, match="flops has a negative value at index 1"):
        OpArrays.build([0, 0], [1.0, -1.0])
    with pytest.raises(ValueError, match="w_sparsity must lie in"):
        OpArrays.build([0], [1.0], w_sparsity=[1.5])
    with pytest.raises(ValueError, match="kind code 99"):
        OpArrays.build([99], [1.0])
    with pytest.raises(ValueError, match="shape"):
        OpArrays.build([0, 1], [1.0])
    with pytest.raises(ValueError, match="non-finite"):
        OpArrays.build([0], [np.nan])
    ops = random_ops(5)
    sub = ops.take([1, 3])
    assert len(sub) == 2 and sub.flops[1] == ops.flops[3]
    with pytest.raises(ValueError):
        ops.flops[0] = 1.0  # read-only arrays
    assert OpArrays.build([kind_code(OpKind.ADD)], [1.0], bytes_out=[400.0]).units[0] == 100.0


def test_csr_indices_keep_their_width_at_fp16() -> None:
    """Halving the precision halves the stored weight values of a CSR kernel, not its 32-bit indices."""
    from sparoa_sim.hwmodels.ops import OpArrays

    plat = load_platform("jetson-agx-orin-64gb")
    w = 4.0 * 4096**2
    ops = OpArrays.build(kind=[KINDS.index(OpKind.LINEAR)], flops=[2 * 4096**2], bytes_in=[16384],
                         bytes_out=[16384], bytes_w=[w], w_sparsity=[0.9])
    b32 = predict(plat, ops, 1, precision="fp32", kernel="sparse").bytes[0, 0]
    b16 = predict(plat, ops, 1, precision="fp16", kernel="sparse").bytes[0, 0]
    assert b32 - b16 == pytest.approx(0.5 * w * 0.1 + 0.5 * 2 * 16384)


def test_a_fitted_residual_keeps_latency_monotone_in_batch_and_power_mode() -> None:
    """The residual's features are taken at batch 1 in the default mode (a constant factor per
    operator), so however its slopes were fitted, a larger batch or a lower power mode is never
    faster (with batch-dependent features the example host profile made VGG-16's classifier 24 %
    faster at batch 4 than at batch 1; a negative wave-efficiency slope made a lower mode faster)."""
    from pathlib import Path

    from sparoa_sim.hwmodels.residual import Residual
    from sparoa_sim.workloads import load_workload

    root = Path(__file__).resolve().parents[2]
    host = load_platform(root / "hwmodels" / "profiles" / "examples" / "host-example.toml")
    for w in ("vgg16", "mobilenetv2", "vit_b_16"):
        ops = load_workload(w).hw_ops
        lat = np.array([predict(host, ops, b).latency for b in (1, 2, 4, 8)])
        assert np.all(np.diff(lat, axis=0) >= 0.0), w
    agx = load_platform("jetson-agx-orin-64gb")
    odd = Residual(features=("wave_frac", "log_flops"), coef=(-1.0, -0.5), center=(0.5, 10.0), scale=(0.1, 2.0))
    agx = agx.with_latency("cpu", dataclasses.replace(agx.cpu.latency, residual=odd))
    ops = load_workload("mobilenetv3_small").hw_ops
    maxn = predict(agx, ops, 1, mode="MAXN").latency[:, 0]
    for m in agx.mode_names[1:]:  # (50W and 30W trade cores for clock: only MAXN bounds them all)
        assert np.all(predict(agx, ops, 1, mode=m).latency[:, 0] >= maxn * (1 - 1e-12)), m
