"""Every malformed profile gets a ProfileError naming the file, the key and the value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sparoa_sim.hwmodels import ProfileError, load_platform
from sparoa_sim.hwmodels.profile_io import _shipped_dir

BASE = _shipped_dir().joinpath("jetson-agx-orin-64gb.toml").read_text(encoding="utf-8")


def edit(text: str, section: str, key: str, new: str | None) -> str:
    """Replace (or delete, new=None) the line ``key = …`` inside ``[section]``."""
    lines = text.splitlines()
    start = lines.index(f"[{section}]") if section else -1
    for i in range(start + 1, len(lines)):
        if lines[i].startswith("["):
            break
        if re.match(rf"^{re.escape(key)}\s*=", lines[i]):
            if new is None:
                del lines[i]
            else:
                lines[i] = f"{key} = {new}"
            return "\n".join(lines) + "\n"
    raise AssertionError(f"no {key} in [{section}]")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


CASES = {
    "missing field": (edit(BASE, "gpu", "max_clock_hz", None), ["gpu.max_clock_hz", "missing"]),
    "negative peak": (edit(BASE, "gpu.peak_flops", "fp32", '{ value = -5.3e12, origin = "datasheet" }'),
                      ["gpu.peak_flops.fp32", "-5300000000000.0"]),
    "zero bandwidth": (edit(BASE, "memory", "peak_bw", '{ value = 0, origin = "datasheet" }'), ["memory.peak_bw", "0"]),
    "negative latency bandwidth": (edit(BASE, "cpu.latency", "mem_bw", '{ value = -1.0, origin = "assumed" }'),
                                   ["cpu.latency.mem_bw", "-1.0"]),
    "zero clock": (edit(BASE, "cpu", "max_clock_hz", '{ value = 0.0, origin = "datasheet" }'),
                   ["cpu.max_clock_hz", "0.0"]),
    "zero mode clock": (edit(BASE, "modes.30W", "gpu_clock_hz", '{ value = 0, origin = "datasheet" }'),
                        ["modes.30W.gpu_clock_hz", "0"]),
    "unknown default mode": (edit(BASE, "", "default_mode", '"TURBO"'), ["default_mode", "'TURBO'", "MAXN, 50W, 30W, 15W"]),
    "unknown device kind": (BASE + '\n[npu]\nname = "DLA"\n', ["npu", "unknown device kind", "cpu, gpu"]),
    "non-numeric value": (edit(BASE, "cpu", "units", '{ value = "twelve", origin = "datasheet" }'),
                          ["cpu.units", "non-numeric", "'twelve'"]),
    "boolean value": (edit(BASE, "interconnect", "t_sync", '{ value = true, origin = "assumed" }'),
                      ["interconnect.t_sync", "non-numeric", "True"]),
    "untagged number": (edit(BASE, "interconnect", "t_sync", "2e-5"), ["interconnect.t_sync", "tagged", "2e-05"]),
    "unknown origin": (edit(BASE, "interconnect", "t_sync", '{ value = 2e-5, origin = "guess" }'),
                       ["interconnect.t_sync", "'guess'"]),
    "malformed toml": (BASE.replace("[memory]", "[memory", 1), ["malformed TOML"]),
    "unknown schema_version": (edit(BASE, "", "schema_version", "2"), ["schema_version", "2", "supported: 1"]),
    "missing schema_version": (edit(BASE, "", "schema_version", None), ["schema_version", "missing"]),
    "unknown key": (edit(BASE, "cpu", "units", '{ value = 12, origin = "datasheet" }\nunitz = 3'),
                    ["cpu.unitz", "unknown key"]),
    "mode exceeds units": (edit(BASE, "modes.MAXN", "gpu_tpcs", '{ value = 9, origin = "datasheet" }'),
                           ["modes.MAXN.gpu_tpcs", "9"]),
    "mode clock above max": (edit(BASE, "modes.MAXN", "cpu_clock_hz", '{ value = 3e9, origin = "datasheet" }'),
                             ["modes.MAXN.cpu_clock_hz", "3000000000.0"]),
    "fractional cores": (edit(BASE, "modes.MAXN", "cpu_cores", '{ value = 11.5, origin = "datasheet" }'),
                         ["modes.MAXN.cpu_cores", "11.5"]),
    "inconsistent peak": (edit(BASE, "gpu.peak_flops", "fp32", '{ value = 9e12, origin = "datasheet" }'),
                          ["gpu.peak_flops.fp32", "9000000000000.0", "disagrees"]),
    "efficiency above one": (edit(BASE, "gpu.latency.eta", "conv", '{ value = 1.5, origin = "assumed" }'),
                             ["gpu.latency.eta.conv", "1.5"]),
    "missing kind efficiency": (edit(BASE, "gpu.latency.eta", "softmax", None), ["gpu.latency.eta.softmax", "missing"]),
    "unknown kind efficiency": (edit(BASE, "gpu.latency.eta", "conv", '{ value = 0.6, origin = "assumed" }\nconv3d = { value = 0.5, origin = "assumed" }'),
                                ["gpu.latency.eta.conv3d", "unknown operator kind"]),
    "unknown sparse kind": (edit(BASE, "cpu.latency", "sparse_kinds", '["conv", "lstm"]'),
                            ["cpu.latency.sparse_kinds", "'lstm'"]),
    "gain above one": (edit(BASE, "cpu.latency", "g_w", '{ value = 1.2, origin = "assumed" }'), ["cpu.latency.g_w", "1.2"]),
    "missing table": ("\n".join(l for l in BASE.splitlines() if not l.startswith(("copy_bw", "t_sync", "concurrent_bw", "shared_dram", "[interconnect]"))),
                      ["interconnect", "missing"]),
    "negative energy": (edit(BASE, "modes.15W.energy.gpu", "p_static", '{ value = -1.0, origin = "assumed" }'),
                        ["modes.15W.energy.gpu.p_static", "-1.0"]),
    "alias clash": (edit(BASE, "modes.30W", "aliases", '["MAXN"]'), ["modes.30W.aliases", "'MAXN'"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_profile_raises_profile_error(case: str, tmp_path: Path) -> None:
    text, needles = CASES[case]
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as err:
        load_platform(path)
    msg = str(err.value)
    assert str(path) in msg, msg
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"


def test_base_text_is_valid(tmp_path: Path) -> None:
    assert load_platform(write(tmp_path, BASE)).name == "jetson-agx-orin-64gb"


def test_unknown_platform_name_lists_known() -> None:
    with pytest.raises(ProfileError, match=r"unknown platform 'jetson-foo' \(known: .*jetson-agx-orin-64gb"):
        load_platform("jetson-foo")


def test_missing_file() -> None:
    with pytest.raises(ProfileError, match="no such profile file"):
        load_platform("/nonexistent/dir/x.toml")


def test_unknown_mode_lists_known() -> None:
    p = load_platform("jetson-agx-orin-64gb")
    with pytest.raises(ProfileError, match=r"unknown power mode 'TURBO' \(known: MAXN, 50W, 30W, 15W\)"):
        p.mode("TURBO")


def test_unknown_device_kind_at_api() -> None:
    p = load_platform("jetson-agx-orin-64gb")
    with pytest.raises(ProfileError, match=r"unknown device kind 'npu' \(known: cpu, gpu\)"):
        p.device("npu")
    with pytest.raises(ProfileError, match="unknown precision"):
        p.peak_flops("gpu", None, "int8")


def test_profile_error_is_a_value_error() -> None:
    assert issubclass(ProfileError, ValueError)
