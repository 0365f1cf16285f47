"""The activation-sparse kernel's cache term (act_cache, act_miss) and pattern reuse ρ: exact stall time,
off = the kernel before bit for bit, monotone in reuse, profile round trip, the fit, and ``pattern_reuse``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.errors import GraphError
from sparoa_sim.hwmodels import OpArrays, kind_code, load_platform, predict
from sparoa_sim.hwmodels.act_sparse import CACHE_TERM, ActSparsePoint, fit_act_sparse, predicted_speedup
from sparoa_sim.hwmodels.errors import CalibrationError
from sparoa_sim.ir.sparsity import pattern_reuse

AGX = load_platform("jetson-agx-orin-64gb")
needs_fields = pytest.mark.skipif(not CACHE_TERM, reason="LatencyParams lacks act_cache / act_miss "
                                                         "(the params.py change of /tmp/plan/S_params.patch)")


def act_platform(cache=0.0, miss=0.0, eta=0.05, gather=20.0, launch=3e-5):
    extra = {"act_cache": cache, "act_miss": miss} if CACHE_TERM else {}
    lat = dataclasses.replace(AGX.cpu.latency, act_kinds=("linear",), act_eta=eta, act_gather=gather,
                              act_launch=launch, g_a=1.0, **extra)
    return AGX.with_latency("cpu", lat, origin="assumed", note="test")


def linear(act, inner=4096, outer=4096) -> OpArrays:
    a = np.atleast_1d(np.asarray(act, dtype=float))
    n = len(a)
    return OpArrays.build([kind_code("linear")] * n, [2.0 * inner * outer] * n, bytes_in=[4.0 * inner] * n,
                          bytes_out=[4.0 * outer] * n, bytes_w=[4.0 * inner * outer] * n, act_sparsity=a,
                          units=[float(outer)] * n)


def test_no_term_is_the_kernel_before_bit_for_bit():
    ops = linear([0.0, 0.5, 0.9, 0.99])
    plain = predict(act_platform(), ops, kernel="act_sparse")
    for rho in (0.0, 0.7, 1.0):
        again = predict(act_platform(), ops, kernel="act_sparse", act_reuse=rho)
        assert np.array_equal(plain.latency, again.latency) and np.array_equal(plain.t_compute, again.t_compute)


@needs_fields
def test_stall_is_exact():
    cache, miss = 8e6, 2e-10
    ops = linear([0.9])  # W = 64 MiB-ish (4·4096·4096 bytes), keep 0.1
    w = 4.0 * 4096 * 4096
    base = predict(act_platform(), ops, kernel="act_sparse")
    on = predict(act_platform(cache, miss), ops, kernel="act_sparse")
    rows_bytes = 2.0 * 4096 * 4096 * 0.1 / 2.0 * 4.0
    cold = (1.0 - cache / w) * rows_bytes * miss
    assert on.t_compute[0, 0] - base.t_compute[0, 0] == pytest.approx(cold, rel=1e-9)
    warm = predict(act_platform(cache, miss), ops, kernel="act_sparse", act_reuse=1.0)
    assert warm.t_compute[0, 0] == base.t_compute[0, 0]  # 6.4 MB of rows fit 8 MB
    half = predict(act_platform(cache, miss), ops, kernel="act_sparse", act_reuse=0.5)
    assert half.t_compute[0, 0] - base.t_compute[0, 0] == pytest.approx(0.5 * cold, rel=1e-9)
    assert np.array_equal(on.latency[:, 1], base.latency[:, 1])  # the GPU has no term


@needs_fields
@given(s=st.floats(0.0, 0.99), r1=st.floats(0.0, 1.0), r2=st.floats(0.0, 1.0))
def test_more_reuse_is_never_slower(s, r1, r2):
    p = act_platform(4e6, 5e-10)
    lo, hi = sorted((r1, r2))
    a = predict(p, linear([s]), kernel="act_sparse", act_reuse=lo).latency[0, 0]
    b = predict(p, linear([s]), kernel="act_sparse", act_reuse=hi).latency[0, 0]
    assert b <= a * (1 + 1e-12)


@needs_fields
def test_bad_reuse_is_refused():
    p = act_platform(4e6, 5e-10)
    with pytest.raises(ValueError, match="act_reuse"):
        predict(p, linear([0.5]), act_reuse=1.5)
    with pytest.raises(ValueError, match="act_reuse"):
        predict(p, linear([0.5, 0.6]), act_reuse=np.zeros(3))


@needs_fields
def test_profile_round_trip_keeps_the_term():
    from sparoa_sim.hwmodels.profile_io import parse_platform, platform_to_toml

    p = act_platform(4e6, 5e-10)
    back = parse_platform(platform_to_toml(p))
    assert back.cpu.latency.act_cache == 4e6 and back.cpu.latency.act_miss == 5e-10
    plain = act_platform()
    assert "act_cache" not in platform_to_toml(plain)  # written only where set


def _points(platform, shapes, sparsities, reuse):
    ops_pts = []
    for inner, outer in shapes:
        for s in sparsities:
            ops_pts.append(ActSparsePoint(kind="linear", groups=1, rows=1, inner=inner, outer=outer, sparsity=s,
                                          act_sparsity=s, dense_s=1e-3, dense_s_a=1e-3, dense_s_b=1e-3,
                                          sparse_s=1e-3, sparse_s_a=1e-3, sparse_s_b=1e-3, speedup=1.0, reps=4))
    sp = predicted_speedup(platform, ops_pts, reuse=reuse)
    return [dataclasses.replace(p, speedup=float(x)) for p, x in zip(ops_pts, sp)]


@needs_fields
def test_fit_recovers_a_known_cache_term():
    truth = act_platform(6e6, 4e-10, eta=0.08, gather=300.0, launch=5e-5)
    pts = _points(truth, [(512, 1000), (1024, 1000), (2048, 2048), (4096, 4096), (8192, 4096)],
                  [0.0, 0.5, 0.8, 0.9, 0.95, 0.99], 0.0)
    fitted, rep = fit_act_sparse(act_platform(), pts, kinds=("linear",), cache=True)
    assert rep["median_speedup_error"] < 1e-3
    assert predicted_speedup(fitted, pts) == pytest.approx([p.speedup for p in pts], rel=1e-2)
    warm = _points(truth, [(4096, 4096)], [0.9, 0.97], 1.0)
    assert predicted_speedup(fitted, warm, reuse=1.0) == pytest.approx([p.speedup for p in warm], rel=2e-2)


def test_fit_refuses_a_bad_target():
    pts = _points(act_platform(), [(512, 1000)], [0.0, 0.5, 0.9], 0.0)
    with pytest.raises(CalibrationError, match="target"):
        fit_act_sparse(act_platform(), pts, target="both")


def test_pattern_reuse_exact_cases():
    rng = np.random.default_rng(0)
    same = np.tile(rng.random(4000) < 0.1, (4, 1))
    assert pattern_reuse(same) == 1.0
    indep = rng.random((6, 200_000)) < 0.1
    assert abs(pattern_reuse(indep)) < 0.02
    half = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], dtype=bool)  # o = 0.5, d = 0.5 → ρ = 0
    assert pattern_reuse(half) == 0.0
    assert pattern_reuse(np.ones((3, 5), dtype=bool)) == 1.0


def test_pattern_reuse_refuses_bad_shapes():
    with pytest.raises(GraphError, match="pattern_reuse"):
        pattern_reuse(np.ones((1, 5), dtype=bool))
    with pytest.raises(GraphError, match="pattern_reuse"):
        pattern_reuse(np.ones(5, dtype=bool))
