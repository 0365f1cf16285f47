"""Shipped profiles load, carry sourced numbers, round-trip, and resolve by name, path and host."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sparoa_sim.hwmodels import (
    ORIGINS,
    PRECISIONS,
    ProfileError,
    host_profile_path,
    list_platforms,
    load_platform,
    parse_platform,
    platform_to_toml,
    save_platform,
)
from sparoa_sim.hwmodels.profile_io import shipped_profile_names

SHIPPED = (
    "jetson-agx-orin-32gb",
    "jetson-agx-orin-64gb",
    "jetson-orin-nano-8gb",
    "jetson-orin-nano-super",
    "jetson-orin-nx-16gb",
)


def test_shipped_names() -> None:
    assert shipped_profile_names() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_profile_loads(name: str) -> None:
    p = load_platform(name)
    assert p.name == name
    assert p.schema_version == 1
    assert p.mode(None).name == p.mode(p.default_mode).name
    assert p.mode("MAXN")  # every Jetson profile answers to MAXN (name or alias)
    for m in p.modes:
        for prec in PRECISIONS:
            assert p.peak_flops("cpu", m, prec) > 0
            assert p.peak_flops("gpu", m, prec) > 0
        assert 0 < p.mem_bw("cpu", m) <= p.memory.peak_bw
        assert 0 < p.mem_bw("gpu", m) <= p.memory.peak_bw
    json.dumps(p.to_dict())  # JSON-able


def _leaves(node: object, path: str = ""):
    if isinstance(node, dict):
        if set(node) >= {"value", "origin"}:
            yield path, node
        else:
            for k, v in node.items():
                yield from _leaves(v, f"{path}.{k}" if path else k)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_number_is_tagged(name: str) -> None:
    p = load_platform(name)
    tagged = dict(_leaves({k: v for k, v in p.to_dict().items() if k != "derived"}))
    assert len(tagged) == len(p.provenance) > 80
    for path, leaf in tagged.items():
        assert leaf["origin"] in ORIGINS, path
        assert leaf["note"] != "no origin recorded", path
        if leaf["origin"] == "assumed":
            assert leaf["note"] or ".eta." in path, f"{path}: an assumed value needs a note"
    # Shipped profiles spell everything out: no defaults filled in by the loader.
    assert all(note != "default value; not in the profile" for _, _, note in p.provenance)


def test_agx_orin_64gb_exact_peaks() -> None:
    p = load_platform("jetson-agx-orin-64gb")
    assert p.peak_flops("gpu", "MAXN", "fp32") == 2048 * 2 * 1.3e9
    assert p.peak_flops("cpu", "MAXN", "fp32") == pytest.approx(12 * 16 * 2.2016e9, rel=1e-6)  # 2201.6 MHz (nvpmodel)
    assert p.peak_flops("gpu", "MAXN", "tf32") == pytest.approx(21.3e12, rel=0.01)  # half the FP16 tensor rate
    assert p.peak_flops("gpu", "MAXN", "fp16") == pytest.approx(10.6e12, rel=0.01)
    assert p.peak_flops("gpu", "MAXN", "fp16_tc") == pytest.approx(42.6e12, rel=0.01)
    # Per-mode figures derived in hardware.md.
    gpu = {"15W": 0.63e12, "30W": 1.25e12, "50W": 3.34e12, "MAXN": 5.32e12}
    cpu = {"15W": 71.3e9, "30W": 221e9, "50W": 287.5e9, "MAXN": 422.4e9}
    for m in gpu:
        assert p.peak_flops("gpu", m) == pytest.approx(gpu[m], rel=0.01)
        assert p.peak_flops("cpu", m) == pytest.approx(cpu[m], rel=0.01)
    assert p.memory.peak_bw == 204.8e9
    assert p.mode("15W").emc_bw == pytest.approx(136.5e9, rel=0.01)
    assert p.origin("gpu.units").origin == "datasheet"
    assert p.origin("gpu.flop_per_cycle.fp32").origin == "derived"
    assert p.origin("cpu.latency.t_launch").origin == "assumed"
    assert p.origin("gpu.latency.t_dispatch").origin == "derived"
    assert p.tf32 == "conv"


@pytest.mark.parametrize(
    ("name", "gpu_tflops", "cpu_gflops", "bw"),
    [
        ("jetson-agx-orin-32gb", 3.37, 281.6, 204.8e9),
        ("jetson-orin-nx-16gb", 1.88, 256.0, 102.4e9),
        ("jetson-orin-nano-8gb", 1.28, 144.0, 68.3e9),
        ("jetson-orin-nano-super", 2.09, 165.9, 102.4e9),  # CPU 1728 MHz (MAXN_SUPER logs)
    ],
)
def test_other_peaks_match_hardware_md(name: str, gpu_tflops: float, cpu_gflops: float, bw: float) -> None:
    p = load_platform(name)
    assert p.peak_flops("gpu", "MAXN") == pytest.approx(gpu_tflops * 1e12, rel=0.01)
    assert p.peak_flops("cpu", "MAXN") == pytest.approx(cpu_gflops * 1e9, rel=0.01)
    assert p.memory.peak_bw == pytest.approx(bw, rel=0.01)


def test_power_modes_of_hardware_md() -> None:
    assert set(load_platform("jetson-agx-orin-64gb").mode_names) == {"MAXN", "50W", "30W", "15W"}
    assert set(load_platform("jetson-agx-orin-32gb").mode_names) == {"MAXN", "40W", "30W", "15W"}
    assert set(load_platform("jetson-orin-nx-16gb").mode_names) == {"MAXN", "25W", "15W", "10W"}
    assert set(load_platform("jetson-orin-nano-8gb").mode_names) == {"15W", "7W"}
    assert set(load_platform("jetson-orin-nano-super").mode_names) == {"MAXN_SUPER", "25W", "15W"}
    nano = load_platform("jetson-orin-nano-8gb")
    assert nano.mode("MAXN").name == "15W"
    m = load_platform("jetson-agx-orin-64gb").mode("15W")
    assert (m.cpu_cores, m.cpu_clock_hz, m.gpu_tpcs, m.gpu_clock_hz, m.nvpmodel_id) == (4, 1113.6e6, 3, 408e6, 1)


@pytest.mark.parametrize(("mode", "gpu_rail_w"), [("MAXN", 40.4), ("50W", 18.4), ("30W", 7.6), ("15W", 5.2)])
def test_gpu_energy_reproduces_measured_stress_power(mode: str, gpu_rail_w: float) -> None:
    """P_static + ε_flop · 0.8 · P_gpu(m) + 1 W rail idle ≈ the measured GPU rail under stress."""
    p = load_platform("jetson-agx-orin-64gb")
    e = p.mode(mode).energy.gpu
    power = e.p_static + e.eps_flop * 0.8 * p.peak_flops("gpu", mode) + 1.0
    assert power == pytest.approx(gpu_rail_w, rel=0.05)


@pytest.mark.parametrize("name", SHIPPED)
def test_toml_round_trip(name: str, tmp_path: Path) -> None:
    p = load_platform(name)
    text = platform_to_toml(p)
    q = parse_platform(text, "roundtrip")
    assert q.raw_tree() == p.raw_tree()
    assert q.provenance == p.provenance
    out = save_platform(p, tmp_path / "sub" / f"{name}.toml")
    r = load_platform(out)
    assert r.raw_tree() == p.raw_tree()
    assert r.source == str(out)
    assert list(tmp_path.joinpath("sub").iterdir()) == [out]  # no temp files left behind


def test_load_by_path_string_and_pathlike(tmp_path: Path) -> None:
    p = load_platform("jetson-orin-nano-8gb")
    path = save_platform(p, tmp_path / "mine.toml")
    assert load_platform(str(path)).name == p.name
    assert load_platform(path).name == p.name


def test_host_profile_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAROA_SIM_DATA", str(tmp_path))
    assert host_profile_path() == tmp_path / "profiles" / "host.toml"
    with pytest.raises(ProfileError, match="host.toml"):
        load_platform("host")
    assert "host" not in list_platforms()
    base = load_platform("jetson-orin-nx-16gb")
    save_platform(base, host_profile_path())
    host = load_platform("host")
    assert host.raw_tree() == base.raw_tree()
    assert list_platforms()[-1] == "host"
    assert list_platforms(include_user=False) == SHIPPED


def test_with_latency_marks_fitted() -> None:
    p = load_platform("jetson-agx-orin-64gb")
    params = p.gpu.latency.with_vector(p.gpu.latency.to_vector() * 1.0)
    vec = params.to_vector()
    vec[0] = 3e-6  # t_launch
    q = p.with_latency("gpu", params.with_vector(vec), note="test fit")
    assert q.gpu.latency.t_launch == 3e-6
    assert q.origin("gpu.latency.t_launch").origin == "fitted"
    assert q.origin("gpu.latency.mem_bw").origin == "assumed"
    assert q.origin("cpu.latency.t_launch").origin == "assumed"
    assert math.isclose(q.cpu.latency.t_launch, p.cpu.latency.t_launch)


def test_platform_is_hashable_and_frozen() -> None:
    p = load_platform("jetson-agx-orin-64gb")
    assert hash(p) == hash(load_platform("jetson-agx-orin-64gb"))
    with pytest.raises(AttributeError):
        p.name = "x"  # type: ignore[misc]
