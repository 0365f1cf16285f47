"""The dense convolution's size term (``gpu.latency.conv_size_beta``): a convolution's compute time ×
exp(clip(β · ln(FLOPs / 1e8), ±ln 4)); nothing else moves, latency stays increasing in FLOPs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.hwmodels import OpArrays, ProfileError, kind_code, load_platform, predict
from sparoa_sim.hwmodels.latency import conv_size_factor
from sparoa_sim.hwmodels.profile_io import _shipped_dir, parse_platform, platform_to_toml

SHIPPED = _shipped_dir().joinpath("jetson-agx-orin-64gb.toml").read_text(encoding="utf-8")
#: the profile as a file without the term (an older profile): whatever the shipped one sets
TEXT = "".join(line for line in SHIPPED.splitlines(keepends=True) if not line.startswith("conv_size_beta ="))
AGX = parse_platform(TEXT, "jetson-agx-orin-64gb.toml")
BETA = -0.184


def with_beta(platform, beta: float, device: str = "gpu"):
    lat = dataclasses.replace(platform.device(device).latency, conv_size_beta=beta)
    return platform.with_latency(device, lat, origin="derived", note="test")


def ops_of(kinds: list[str], flops: list[float], bytes_each: float = 1e3) -> OpArrays:
    n = len(kinds)
    return OpArrays.build([kind_code(k) for k in kinds], flops, bytes_in=[bytes_each] * n,
                          bytes_out=[bytes_each] * n, units=[1e6] * n)


def test_the_factor_is_exact_at_known_points_and_clipped() -> None:
    f = conv_size_factor(np.array([1e8, 1e9, 1e7, 1e20, 1.0]), np.ones(5, dtype=bool), BETA)
    np.testing.assert_allclose(f[:3], [1.0, 10 ** BETA, 10 ** -BETA])
    assert f[3] == pytest.approx(0.25) and f[4] == pytest.approx(4.0)  # ×/÷ 4 at the ends
    np.testing.assert_array_equal(conv_size_factor(np.array([1e9]), np.array([False]), BETA), [1.0])


def test_only_dense_conv_compute_time_moves_on_that_device() -> None:
    ops = ops_of(["conv", "dwconv", "linear", "conv", "add"], [3.7e9, 3.7e9, 3.7e9, 1e7, 1e6])
    a, b = predict(with_beta(AGX, BETA), ops), predict(AGX, ops)
    np.testing.assert_allclose(a.t_compute[:, 1], b.t_compute[:, 1]
                               * np.array([(37.0) ** BETA, 1.0, 1.0, 0.1 ** BETA, 1.0]), rtol=1e-12)
    np.testing.assert_array_equal(a.t_memory, b.t_memory)
    np.testing.assert_array_equal(a.t_compute[:, 0], b.t_compute[:, 0])  # the CPU has no term
    np.testing.assert_array_equal(a.dispatch, b.dispatch)
    assert a.latency[0, 1] < b.latency[0, 1]  # a 3.7 GFLOP conv runs faster with β < 0


def test_zero_beta_is_the_model_without_the_term_bit_for_bit() -> None:
    ops = ops_of(["conv", "conv", "linear"], [3.7e9, 1e7, 1e9])
    for prec in ("fp32", "fp16"):
        a, b = predict(with_beta(AGX, 0.0), ops, precision=prec), predict(AGX, ops, precision=prec)
        np.testing.assert_array_equal(a.latency, b.latency)


@given(st.floats(-0.95, 0.95), st.lists(st.floats(1.0, 1e12), min_size=2, max_size=8), st.sampled_from(["fp32", "fp16"]),
       st.sampled_from(["MAXN", "30W", "15W"]))
def test_conv_latency_stays_increasing_in_flops(beta: float, flops: list[float], prec: str, mode: str) -> None:
    flops = sorted(flops)
    ops = ops_of(["conv"] * len(flops), flops)
    lat = predict(with_beta(AGX, beta), ops, precision=prec, mode=mode).latency[:, 1]
    assert np.all(np.diff(lat) >= -1e-15 * lat[1:])


def test_the_term_round_trips_and_a_profile_without_it_loads() -> None:
    p = with_beta(AGX, BETA)
    again = parse_platform(platform_to_toml(p), "again.toml")
    assert again.gpu.latency.conv_size_beta == BETA and again.cpu.latency.conv_size_beta == 0.0
    assert again.origin("gpu.latency.conv_size_beta").origin == "derived"
    assert "conv_size_beta" not in platform_to_toml(with_beta(AGX, 0.0))  # 0 = no term: not written
    assert parse_platform(TEXT, "old.toml").gpu.latency.conv_size_beta == 0.0
    shipped = load_platform("jetson-agx-orin-64gb")  # the shipped profile writes back what it read
    assert parse_platform(platform_to_toml(shipped), "s.toml").gpu.latency == shipped.gpu.latency


@pytest.mark.parametrize("value", ["-1.0", "1.5", "nan", '"x"'])
def test_a_beta_outside_minus1_1_is_refused_naming_file_key_and_value(tmp_path: Path, value: str) -> None:
    anchor = "[cpu.latency]\n"
    assert anchor in TEXT
    bad = TEXT.replace(anchor, anchor + f'conv_size_beta = {{ value = {value}, origin = "derived" }}\n', 1)
    path = tmp_path / "bad.toml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ProfileError, match=r"bad\.toml.*cpu\.latency\.conv_size_beta"):
        load_platform(path)
