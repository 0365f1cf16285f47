"""Energy, transfer, contention and noise models."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.hwmodels import (
    KINDS,
    OpArrays,
    bandwidth_demand,
    bandwidth_shares,
    concurrent_bw,
    device_power,
    idle_energy,
    kind_code,
    jitter,
    list_platforms,
    load_platform,
    lognormal_factors,
    noise_sigmas,
    op_energy,
    predict,
    prediction_energy,
    transfer_time,
)

PLATFORMS = {name: load_platform(name) for name in list_platforms(include_user=False)}
AGX = PLATFORMS["jetson-agx-orin-64gb"]


def random_ops(n: int, seed: int) -> OpArrays:
    rng = np.random.default_rng(seed)
    return OpArrays.build(
        rng.integers(0, len(KINDS), n), rng.uniform(0, 1e9, n), bytes_in=rng.uniform(0, 1e7, n),
        bytes_out=rng.uniform(0, 1e7, n), bytes_w=rng.uniform(0, 1e7, n), act_sparsity=rng.uniform(0, 1, n),
        w_sparsity=rng.uniform(0, 1, n), units=rng.uniform(0, 1e6, n),
    )


def test_op_energy_formula() -> None:
    e = AGX.mode("30W").energy
    work = np.array([[1e9, 2e9]])
    nbytes = np.array([[1e6, 3e6]])
    t = np.array([[1e-3, 2e-3]])
    got = op_energy(AGX, work, nbytes, t, "30W")
    exp_cpu = e.cpu.eps_flop * 1e9 + e.cpu.eps_byte * 1e6 + e.cpu.p_static * 1e-3
    exp_gpu = e.gpu.eps_flop * 2e9 + e.gpu.eps_byte * 3e6 + e.gpu.p_static * 2e-3
    np.testing.assert_allclose(got, [[exp_cpu, exp_gpu]], rtol=1e-12)
    assert idle_energy(AGX, 2.0, "30W") == pytest.approx(2.0 * e.board_idle_w)


@given(st.sampled_from(sorted(PLATFORMS)), st.data(), st.integers(1, 40), st.integers(0, 2**32 - 1), st.integers(1, 16))
def test_energy_at_least_idle_power_times_makespan(name, data, n, seed, b) -> None:
    p = PLATFORMS[name]
    mode = data.draw(st.sampled_from(p.mode_names))
    pred = predict(p, random_ops(n, seed), b, mode)
    placement = np.random.default_rng(seed).integers(0, 2, n)
    busy = pred.latency[np.arange(n), placement]
    per_op = prediction_energy(p, pred)[np.arange(n), placement]
    makespan = busy.sum()  # serial execution is one valid schedule
    total = per_op.sum() + idle_energy(p, makespan, mode)
    idle_w = p.mode(mode).energy.board_idle_w
    assert total >= idle_w * makespan
    assert np.all(per_op >= 0)
    # a busy device draws at least its static power on top of idle
    p_static = np.array([p.mode(mode).energy.cpu.p_static, p.mode(mode).energy.gpu.p_static])[placement]
    assert np.all(per_op >= p_static * busy * (1 - 1e-12))


def test_agx_gpu_gemm_power_near_measured_stress() -> None:
    """A big FP32 GEMM at MAXN draws roughly the measured 40 W GPU rail (over ~1 W rail idle)."""
    n = 4096.0
    ops = OpArrays.build([kind_code("linear")], [2 * n**3], bytes_in=[4 * n * n], bytes_out=[4 * n * n],
                         bytes_w=[4 * n * n], units=[n * n])
    pred = predict(AGX, ops, mode="MAXN")
    power = prediction_energy(AGX, pred)[0, 1] / pred.gpu[0]
    assert 25.0 < power + 1.0 < 45.0
    assert device_power(AGX, np.array([0.0, 0.0]), np.array([0.0, 0.0]), "MAXN")[1] == AGX.mode("MAXN").energy.gpu.p_static


def test_transfer_time() -> None:
    ic = AGX.interconnect
    sizes = np.array([0.0, 1e6, 1e8])
    np.testing.assert_allclose(transfer_time(AGX, sizes, "MAXN"), ic.t_sync + sizes / ic.copy_bw, rtol=1e-12)
    # the 15W mode caps the memory clock: copies are slower
    assert np.all(transfer_time(AGX, sizes[1:], "15W") > transfer_time(AGX, sizes[1:], "MAXN"))
    assert transfer_time(AGX, 1e6, contention=0.5) > transfer_time(AGX, 1e6)
    assert transfer_time(AGX, np.zeros((3, 4))).shape == (3, 4)
    with pytest.raises(ValueError):
        transfer_time(AGX, -1.0)


@given(st.floats(0, 1e12), st.floats(0, 1e12))
def test_bandwidth_shares(dc, dg) -> None:
    cap = concurrent_bw(AGX, "MAXN")
    c_cpu, c_gpu = bandwidth_shares(AGX, dc, dg, "MAXN")
    assert 0 < c_cpu <= 1 and c_cpu == c_gpu
    if dc + dg <= cap:
        assert c_cpu == 1.0
    else:
        assert (dc + dg) * c_cpu == pytest.approx(cap)


def test_bandwidth_shares_vectorised_and_unshared() -> None:
    dc = np.array([0.0, 1e11, 2e11])
    dg = np.array([0.0, 1e11, 2e11])
    c, _ = bandwidth_shares(AGX, dc, dg)
    assert c.shape == (3,) and c[0] == 1.0 and c[2] < c[1] <= 1.0
    import dataclasses

    desktop = dataclasses.replace(AGX, interconnect=dataclasses.replace(AGX.interconnect, shared_dram=False))
    np.testing.assert_array_equal(bandwidth_shares(desktop, dc, dg)[0], 1.0)


def test_contention_slows_memory_bound_not_compute_bound() -> None:
    ops = OpArrays.build([kind_code("add"), 0], [1e6, 2 * 56 * 56 * 64 * 64 * 9.0],
                         bytes_in=[8e6, 56 * 56 * 64 * 4.0], bytes_out=[4e6, 56 * 56 * 64 * 4.0],
                         bytes_w=[0.0, 147456.0], units=[1e6, 56 * 56 * 64.0])
    alone = predict(AGX, ops)
    demand = bandwidth_demand(alone)
    c_cpu, c_gpu = bandwidth_shares(AGX, demand[0, 0], demand[0, 1])
    assert c_cpu < 1.0  # both devices streaming the add oversubscribe the DRAM
    shared = predict(AGX, ops, contention=(float(c_cpu), float(c_gpu)))
    assert shared.latency[0, 1] > alone.latency[0, 1]  # memory-bound add slows down
    assert shared.latency[1, 1] == alone.latency[1, 1]  # compute-bound conv does not


def test_noise() -> None:
    rng = np.random.default_rng(1)
    f = lognormal_factors(rng, 0.05, 100_000)
    assert np.median(f) == pytest.approx(1.0, abs=0.002)
    assert np.std(np.log(f)) == pytest.approx(0.05, rel=0.02)
    # same seed, same draws; σ = 0 still consumes the stream (common random numbers)
    a = np.random.default_rng(7)
    b = np.random.default_rng(7)
    np.testing.assert_array_equal(lognormal_factors(a, 0.0, 5), np.ones(5))
    lognormal_factors(b, 0.3, 5)
    assert a.standard_normal() == b.standard_normal()
    lat = np.ones((4, 2))
    out = jitter(lat, AGX, np.random.default_rng(3))
    assert out.shape == (4, 2) and np.all(out > 0)
    np.testing.assert_array_equal(noise_sigmas(AGX), [AGX.cpu.latency.noise_sigma, AGX.gpu.latency.noise_sigma])
    with pytest.raises(ValueError):
        lognormal_factors(rng, -1.0, 3)


@pytest.mark.parametrize("name", ["jetson-agx-orin-64gb", "jetson-orin-nano-8gb"])
def test_lower_precisions_do_not_draw_more_power_than_fp32(name) -> None:
    """ε_flop is an FP32 figure: FP16 (and tensor-core) kernels are charged the same dynamic power
    at their own peak, so an operator's power never exceeds its FP32 counterpart's by much
    (charged per FLOP at 8× the rate, VGG-16's tensor-core power reached 151 W on a 60 W module)."""
    from sparoa_sim.workloads import load_workload

    plat = load_platform(name)
    ops = load_workload("vgg16").hw_ops
    power = {}
    for prec in ("fp32", "fp16", "fp16_tc"):
        pred = predict(plat, ops, 16, precision=prec)
        power[prec] = prediction_energy(plat, pred)[:, 1] / pred.latency[:, 1]
    np.testing.assert_array_equal(power["fp16"], power["fp16_tc"])  # fp16_tc is an alias of fp16
    assert power["fp16"].max() <= 1.25 * power["fp32"].max()
    assert np.all(predict(plat, ops, 16, tf32="none").eps_scale == 1.0)


def test_nan_and_inf_are_refused_by_the_small_models() -> None:
    from sparoa_sim.hwmodels.noise import lognormal_factors

    nan, inf = float("nan"), float("inf")
    with pytest.raises(ValueError, match="contention"):
        transfer_time(AGX, 1e6, contention=nan)
    with pytest.raises(ValueError, match="makespan"):
        idle_energy(AGX, nan)
    with pytest.raises(ValueError, match="demands"):
        bandwidth_shares(AGX, nan, 1e9)
    with pytest.raises(ValueError, match="demands"):
        bandwidth_shares(AGX, 1e9, inf)
    with pytest.raises(ValueError, match="sigma"):
        lognormal_factors(np.random.default_rng(0), nan, 3)
