"""Shape-feature residual: evaluation, exact recovery, TOML round trip, what it leaves alone, bad input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.hwmodels import CalibrationError, OpArrays, ProfileError, load_platform, predict, retime
from sparoa_sim.hwmodels.calibrate import fit, fit_residual, rows_to_ops
from sparoa_sim.hwmodels.kinds import KINDS, kind_code
from sparoa_sim.hwmodels.latency import wave_efficiency
from sparoa_sim.hwmodels.measurements import MeasuredOp
from sparoa_sim.hwmodels.profile_io import parse_platform, platform_to_toml
from sparoa_sim.hwmodels.residual import DEFAULT_FEATURES, Residual, feature_columns

BASE = load_platform("jetson-orin-nano-8gb")
FEATS = ("kind.conv", "kind.linear", "kind.add", "log_flops", "log_bytes", "wave_frac", "log_flops@conv")
TRUE = Residual(features=FEATS, coef=(0.3, -0.2, 0.1, 0.25, -0.15, 0.2, 0.1),
                center=(0.0, 0.0, 0.0, 16.0, 13.0, 0.7, 18.0), scale=(1.0, 1.0, 1.0, 3.0, 2.5, 0.3, 2.0))


def _with_residual(platform, device: str, res: Residual | None):
    lat = dataclasses.replace(platform.device(device).latency, residual=res)
    return platform.with_latency(device, lat, origin="fitted")


def _ops(n: int = 60, seed: int = 0) -> OpArrays:
    rng = np.random.default_rng(seed)
    kinds = rng.choice([kind_code(k) for k in ("conv", "linear", "add")], size=n)
    flops = 10 ** rng.uniform(4, 10, n)
    b_out = 10 ** rng.uniform(3, 7, n)
    return OpArrays.build(kinds, flops, bytes_in=10 ** rng.uniform(3, 7, n), bytes_out=b_out,
                          bytes_w=np.where(kinds == kind_code("add"), 0.0, 10 ** rng.uniform(3, 7, n)))


def _rows(ops: OpArrays, batch: np.ndarray, times: np.ndarray) -> list[MeasuredOp]:
    return [MeasuredOp(workload=f"w{i % 3}", op=f"op{i}", op_index=i, kind=KINDS[int(ops.kind[i])].value,
                       batch=int(batch[i]), context="graph", macs=float(ops.macs[i]), flops=float(ops.flops[i]),
                       bytes_in=float(ops.bytes_in[i]), bytes_out=float(ops.bytes_out[i]),
                       bytes_w=float(ops.bytes_w[i]), act_sparsity=0.0, w_sparsity=0.0,
                       out_elems=float(ops.units[i]), time_s=float(t), time_s_a=float(t), time_s_b=float(t), reps=3)
            for i, t in enumerate(times)]


def test_log_factor_is_the_standardised_linear_model() -> None:
    ops = _ops()
    par = wave_efficiency(BASE, ops, 2)[:, 0]
    raw = feature_columns(FEATS, ops, 2.0, par)
    want = np.clip(TRUE.standardise(raw, ops.kind) @ np.array(TRUE.coef), *TRUE.clip)
    np.testing.assert_allclose(TRUE.log_factor(ops, 2.0, par), want, rtol=1e-12, atol=1e-12)
    # an interaction is zero off its kind and centred on it
    j = FEATS.index("log_flops@conv")
    z = TRUE.standardise(raw, ops.kind)[:, j]
    assert np.all(z[ops.kind != kind_code("conv")] == 0.0)
    conv = ops.kind == kind_code("conv")
    np.testing.assert_allclose(z[conv], (np.log(ops.flops[conv] * 2) - 18.0) / 2.0)


def test_predict_multiplies_roofline_but_not_launch() -> None:
    ops = _ops()
    plain = predict(BASE, ops, 1)
    corrected = predict(_with_residual(BASE, "cpu", TRUE), ops, 1)
    r = TRUE.log_factor(ops, 1.0, wave_efficiency(BASE, ops, 1)[:, 0])
    np.testing.assert_allclose(corrected.cpu - corrected.t_launch[0], (plain.cpu - plain.t_launch[0]) * np.exp(r),
                               rtol=1e-12)
    np.testing.assert_array_equal(corrected.gpu, plain.gpu)  # the GPU has no residual


def test_retime_with_residual_matches_predict_under_load() -> None:
    plat = _with_residual(BASE, "cpu", TRUE)
    ops = _ops()
    pred = predict(plat, ops, 4)
    np.testing.assert_allclose(retime(pred), pred.latency, rtol=1e-12)
    np.testing.assert_allclose(retime(pred, load=(0.3, 0.1), contention=(0.6, 0.9)),
                               predict(plat, ops, 4, load=(0.3, 0.1), contention=(0.6, 0.9)).latency, rtol=1e-12)


def test_zero_residual_changes_nothing() -> None:
    ops = _ops()
    zero = dataclasses.replace(TRUE, coef=(0.0,) * len(FEATS))
    np.testing.assert_array_equal(predict(_with_residual(BASE, "cpu", zero), ops, 3).latency,
                                  predict(BASE, ops, 3).latency)


@pytest.mark.parametrize("device", ["cpu", "gpu"], ids=["cpu_column", "gpu_column"])
def test_fit_residual_recovers_a_known_residual_exactly(device: str) -> None:
    ops = _ops(90, seed=1)
    batch = np.tile([1.0, 4.0, 16.0], 30)
    truth = _with_residual(BASE, device, TRUE)
    col = 0 if device == "cpu" else 1
    times = predict(truth, ops, batch).latency[:, col]
    rows = _rows(ops, batch, times)
    res = fit_residual(BASE, rows, device, features=FEATS, alpha=0.0)
    assert res.features == FEATS
    got = predict(_with_residual(BASE, device, res), ops, batch).latency[:, col]
    np.testing.assert_allclose(got, times, rtol=1e-7)
    # same function, other standardisation: the log-factors agree on new operators too
    new = _ops(40, seed=7)
    par = wave_efficiency(BASE, new, 8)[:, col]
    np.testing.assert_allclose(res.log_factor(new, 8.0, par), TRUE.log_factor(new, 8.0, par), atol=1e-6)


def test_fit_drops_unsupported_features_and_shrinks_with_alpha() -> None:
    ops = _ops(60, seed=2)
    batch = np.ones(60)
    times = predict(_with_residual(BASE, "cpu", TRUE), ops, batch).cpu
    rows = _rows(ops, batch, times)
    res = fit_residual(BASE, rows, "cpu", features=DEFAULT_FEATURES, alpha=1e-3)
    assert "kind.softmax" not in res.features and "log_flops@norm" not in res.features
    assert "kind.conv" in res.features and "log_flops@conv" in res.features
    strong = fit_residual(BASE, rows, "cpu", features=FEATS, alpha=100.0)
    assert max(abs(c) for c in strong.coef) < 0.01  # heavy ridge: back to the roofline
    with pytest.raises(CalibrationError, match="alpha"):
        fit_residual(BASE, rows, "cpu", alpha=-1.0)
    with pytest.raises(CalibrationError, match="unknown residual feature"):
        fit_residual(BASE, rows, "cpu", features=("log_speed",))


def test_fit_with_residual_beats_roofline_on_structured_deviation() -> None:
    ops = _ops(120, seed=3)
    batch = np.ones(120)
    times = predict(_with_residual(BASE, "cpu", TRUE), ops, batch).cpu
    rows = _rows(ops, batch, times)
    from sparoa_sim.hwmodels.measurements import MeasurementTable

    table = MeasurementTable(device="cpu", host={"cpu_model": "synthetic"}, rows=tuple(rows))
    with_res = fit(BASE, table, residual=FEATS, alpha=1e-6, joint=True)
    without = fit(BASE, table, residual=False)
    assert with_res.report["median_error"] < 0.01 < without.report["median_error"]
    assert with_res.report["roofline_only"]["median_error"] == pytest.approx(without.report["median_error"], rel=0.2)
    assert with_res.params.residual is not None and without.params.residual is None


def test_toml_round_trip_keeps_residual_and_predictions(tmp_path) -> None:
    plat = _with_residual(BASE, "cpu", dataclasses.replace(TRUE, note="test residual"))
    text = platform_to_toml(plat)
    assert "[cpu.latency.residual]" in text and 'origin = "fitted"' in text
    back = parse_platform(text, "rt.toml")
    res = back.cpu.latency.residual
    assert res is not None and res.features == FEATS and res.coef == TRUE.coef and res.clip == TRUE.clip
    assert res.note == "test residual" and back.gpu.latency.residual is None
    ops = _ops()
    np.testing.assert_array_equal(predict(back, ops, 2).latency, predict(plat, ops, 2).latency)


@pytest.mark.parametrize(("edit", "match"), [
    (lambda t: t.replace('"log_flops@conv"', '"log_speed"'), "unknown residual feature"),
    (lambda t: t.replace('"log_flops@conv"', '"log_flops@teapot"'), "unknown operator kind"),
    (lambda t: t.replace("coef = [0.3, ", "coef = ["), "has 6 entries, expected 7"),
    (lambda t: t.replace("scale = [1.0, ", "scale = [0.0, "), "scale.*> 0"),
    (lambda t: t.replace("coef = [0.3, ", "coef = [nan, "), "not finite"),
    (lambda t: t.replace('residual]\norigin = "fitted"', 'residual]\norigin = "guessed"'), "unknown origin"),
    (lambda t: t.replace("clip = [", "clip = [1.0, "), "expected 2"),
])
def test_bad_residual_tables_name_the_key(edit, match) -> None:
    plat = _with_residual(BASE, "cpu", dataclasses.replace(TRUE, note="r"))
    text = edit(platform_to_toml(plat))
    with pytest.raises(ProfileError, match=match) as info:
        parse_platform(text, "bad.toml")
    assert "bad.toml" in str(info.value) and "cpu.latency.residual" in str(info.value)


pos = st.floats(1e3, 1e10, allow_nan=False, allow_infinity=False)


@given(flops=pos, extra=st.floats(1.0, 100.0), nbytes=pos)
def test_device_without_residual_keeps_its_monotonic_properties(flops: float, extra: float, nbytes: float) -> None:
    """The CPU has no residual (the GPU does): CPU latency non-decreasing in work and bytes, as before."""
    plat = _with_residual(BASE, "gpu", TRUE)
    k = [kind_code("conv")] * 3
    ops = OpArrays.build(k, [flops, flops * extra, flops], bytes_in=[nbytes, nbytes, nbytes * extra],
                         bytes_out=[1e4] * 3, bytes_w=[1e4] * 3, units=[1e4] * 3)
    cpu = predict(plat, ops, 1).cpu
    assert cpu[1] >= cpu[0] and cpu[2] >= cpu[0]
    np.testing.assert_array_equal(cpu, predict(BASE, ops, 1).cpu)


def test_residual_is_clipped() -> None:
    big = Residual(features=("log_flops",), coef=(50.0,), center=(0.0,), scale=(1.0,))
    ops = _ops()
    r = big.log_factor(ops, 1.0, np.ones(len(ops)))
    assert r.max() == pytest.approx(math.log(4.0)) and np.all(r >= -math.log(4.0))
    with pytest.raises(ValueError, match="clip"):
        Residual(features=("log_flops",), coef=(1.0,), center=(0.0,), scale=(1.0,), clip=(0.5, 1.0))


def test_rows_to_ops_feeds_features() -> None:
    ops = _ops(6)
    rows = _rows(ops, np.ones(6), np.full(6, 1e-3))
    back, batch, t = rows_to_ops(rows)
    np.testing.assert_array_equal(back.kind, ops.kind)
    np.testing.assert_array_equal(feature_columns(FEATS, back, batch, np.ones(6)),
                                  feature_columns(FEATS, ops, 1.0, np.ones(6)))
