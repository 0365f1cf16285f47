"""The per-mode CPU bandwidth scale (``modes.<m>.cpu_bw_scale``): measured where a mode's CPU streams
less than the profile's ``cpu.latency.mem_bw`` (Orin Nano 7W); only that mode's CPU bandwidth moves."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from sparoa_sim.hwmodels import OpArrays, ProfileError, kind_code, load_platform, predict
from sparoa_sim.hwmodels.profile_io import _shipped_dir, parse_platform, platform_to_toml

NANO = load_platform("jetson-orin-nano-8gb")
TEXT = _shipped_dir().joinpath("jetson-orin-nano-8gb.toml").read_text(encoding="utf-8")
LINE = next(x for x in TEXT.splitlines() if x.startswith("cpu_bw_scale ="))


def test_the_7w_mode_streams_the_measured_share_and_nothing_else_moves() -> None:
    assert NANO.mode("7W").cpu_bw_scale == 0.634 and NANO.mode("15W").cpu_bw_scale is None
    assert NANO.mem_bw("cpu", "7W") == pytest.approx(26.5e9 * 0.634)
    assert NANO.mem_bw("cpu", "15W") == NANO.cpu.latency.mem_bw * NANO.emc_scale("15W")
    assert NANO.mem_bw("gpu", "7W") == NANO.gpu.latency.mem_bw * NANO.emc_scale("7W")  # the GPU keeps the EMC cap
    assert NANO.origin("modes.7W.cpu_bw_scale").origin == "measured"
    # a memory-bound CPU operator in 7W takes 1 / 0.634 of the time it would take without the scale
    ops = OpArrays.build([kind_code("add")], [1e3], bytes_in=[8e7], bytes_out=[4e7], units=[1e7])
    plain = dataclasses.replace(NANO, modes=tuple(dataclasses.replace(m, cpu_bw_scale=None) for m in NANO.modes))
    a, b = predict(NANO, ops, mode="7W"), predict(plain, ops, mode="7W")
    assert a.t_memory[0, 0] == pytest.approx(b.t_memory[0, 0] / 0.634)
    np.testing.assert_array_equal(a.t_memory[:, 1], b.t_memory[:, 1])
    np.testing.assert_array_equal(predict(NANO, ops, mode="15W").latency, predict(plain, ops, mode="15W").latency)


def test_the_scale_round_trips_and_a_profile_without_it_loads() -> None:
    again = parse_platform(platform_to_toml(NANO), "again.toml")
    assert again.mode("7W").cpu_bw_scale == 0.634 and again.mode("15W").cpu_bw_scale is None
    old = parse_platform(TEXT.replace(LINE + "\n", ""), "old.toml")
    assert old.mode("7W").cpu_bw_scale is None and old.mem_bw("cpu", "7W") == 26.5e9


@pytest.mark.parametrize("value", ["0.0", "-0.5", "1.5", "nan"])
def test_a_scale_outside_0_1_is_refused_naming_file_key_and_value(tmp_path: Path, value: str) -> None:
    bad = TEXT.replace(LINE, f'cpu_bw_scale = {{ value = {value}, origin = "measured" }}')
    path = tmp_path / "bad.toml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ProfileError, match=r"bad\.toml.*modes\.7W\.cpu_bw_scale"):
        load_platform(path)
