"""Energy meters: absent meters say so (energy None); RAPL parsing on a fake powercap tree."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from sparoa_sim.real.measure.meters import (
    JetsonMeter,
    NvmlMeter,
    RaplMeter,
    detect_meters,
    integrate_power,
    measure_energy,
    parse_tegrastats,
)


def _zone(root: Path, name: str, label: str, energy: int, max_range: int = 262_143_328_850) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "name").write_text(label + "\n")
    (d / "energy_uj").write_text(f"{energy}\n")
    (d / "max_energy_range_uj").write_text(f"{max_range}\n")
    return d


def _set(zone: Path, energy: int) -> None:
    (zone / "energy_uj").write_text(f"{energy}\n")


def test_rapl_counts_packages_and_dram(tmp_path):
    pkg0 = _zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    core = _zone(tmp_path, "intel-rapl:0:0", "core", 500_000)
    dram = _zone(tmp_path, "intel-rapl:0:1", "dram", 0)
    pkg1 = _zone(tmp_path, "intel-rapl:1", "package-1", 7)
    (tmp_path / "intel-rapl").mkdir()  # the control type directory, not a zone
    meter = RaplMeter(tmp_path)
    assert meter.available and meter.reason == ""
    meter.start()
    _set(pkg0, 3_500_000)  # +2.5 J
    _set(core, 1_500_000)  # +1.0 J (inside the package: not counted again)
    _set(dram, 250_000)  # +0.25 J
    _set(pkg1, 1_000_007)  # +1.0 J
    r = meter.stop()
    assert r.available and r.method == "counter"
    assert r.domains == {"package-0": 2.5, "core:0": 1.0, "dram:0": 0.25, "package-1": 1.0}
    assert r.energy_j == pytest.approx(3.75)


def test_rapl_wraps_around(tmp_path):
    top = 1_000_000
    pkg = _zone(tmp_path, "intel-rapl:0", "package-0", top - 300, max_range=top)
    meter = RaplMeter(tmp_path)
    meter.start()
    _set(pkg, top - 100)
    meter.poll()  # +200 µJ
    _set(pkg, 50)  # wrapped: +100 to the top, +50 after it
    meter.poll()
    _set(pkg, 1050)  # +1000
    r = meter.stop()
    assert r.domains["package-0"] == pytest.approx((200 + 150 + 1000) / 1e6)


def test_rapl_psys_only_and_absent_trees(tmp_path):
    psys = _zone(tmp_path / "a", "intel-rapl:1", "psys", 10)
    meter = RaplMeter(tmp_path / "a")
    meter.start()
    _set(psys, 2_000_010)
    assert meter.stop().energy_j == pytest.approx(2.0)

    missing = RaplMeter(tmp_path / "nowhere")
    assert not missing.available and "no powercap tree" in missing.reason
    r = missing.stop()
    assert r.energy_j is None and not r.available and r.reason == missing.reason
    (tmp_path / "empty").mkdir()
    assert "no RAPL zones" in RaplMeter(tmp_path / "empty").reason


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads any file")
def test_rapl_unreadable_counter_is_absent(tmp_path):
    pkg = _zone(tmp_path, "intel-rapl:0", "package-0", 1)
    (pkg / "energy_uj").chmod(0)
    meter = RaplMeter(tmp_path)
    assert not meter.available and "permission denied" in meter.reason


def test_tegrastats_parsing_and_integration():
    line = ("RAM 2448/30536MB (lfb 6690x4MB) CPU [1%@729,0%@729] GR3D_FREQ 0% "
            "VDD_GPU_SOC 2400mW/2400mW VDD_CPU_CV 400mW/400mW VIN_SYS_5V0 2821mW/2821mW VDD_IN 5123mW/5000mW")
    rails = parse_tegrastats(line)
    assert rails == {"VDD_GPU_SOC": 2.4, "VDD_CPU_CV": 0.4, "VIN_SYS_5V0": 2.821, "VDD_IN": 5.123}
    older = "RAM 1903/3956MB SWAP 0/1978MB (cached 0MB) POM_5V_IN 3000/2900 POM_5V_GPU 0/0 POM_5V_CPU 700/650"
    assert parse_tegrastats(older) == {"POM_5V_IN": 3.0, "POM_5V_GPU": 0.0, "POM_5V_CPU": 0.7}
    # each sample holds until the next; the first one from the block's start
    assert integrate_power([(1.0, 2.0), (2.0, 4.0)], 0.5, 3.0) == pytest.approx(2.0 * 1.5 + 4.0 * 1.0)


def test_this_host_reports_absent_meters_as_none(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no tegrastats
    monkeypatch.setitem(sys.modules, "jtop", None)  # import fails
    monkeypatch.setitem(sys.modules, "pynvml", None)
    meters = detect_meters(rapl_root=tmp_path / "no-rapl")
    assert set(meters) == {"jetson", "nvml", "rapl"}
    assert not any(m.available for m in meters.values())
    assert "jetson-stats" in meters["jetson"].reason
    assert "pynvml" in meters["nvml"].reason
    with measure_energy(meters) as m:
        sum(range(1000))
    assert m.energy_j is None and m.duration_s > 0
    doc = json.loads(json.dumps(m.to_dict()))
    assert doc["energy_j"] is None
    assert all(v["energy_j"] is None and not v["available"] and v["reason"] for v in doc["meters"].values())


def test_detection_on_this_machine_never_invents_energy():
    with measure_energy(poll_s=0.01) as m:
        sum(range(10_000))
    for r in m.readings.values():
        assert (r.energy_j is None) == (not r.available)
    if not any(r.available for r in m.readings.values()):
        assert m.energy_j is None


def test_measure_energy_with_a_fake_rapl_tree_polls(tmp_path):
    pkg = _zone(tmp_path, "intel-rapl:0", "package-0", 0)
    meters = {"rapl": RaplMeter(tmp_path), "jetson": JetsonMeter.__new__(JetsonMeter)}
    jet = meters["jetson"]
    jet.available, jet.reason, jet.name = False, "not a Jetson", "jetson"  # type: ignore[attr-defined]
    with measure_energy(meters, poll_s=None) as m:
        _set(pkg, 4_000_000)
    assert m.energy_j == pytest.approx(4.0)
    assert m.readings["jetson"].energy_j is None


def test_nvml_absent_without_library(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    meter = NvmlMeter()
    assert not meter.available
    assert meter.stop().energy_j is None


class _Flaky:
    """A meter whose poll or stop fails on demand (a flaky driver)."""

    def __init__(self, name: str, fail_poll: bool = False, fail_stop: bool = False) -> None:
        self.name, self.available, self.reason = name, True, ""
        self.fail_poll, self.fail_stop, self.stopped = fail_poll, fail_stop, False

    def start(self) -> None:
        pass

    def poll(self) -> None:
        if self.fail_poll:
            raise OSError("counter unreadable")

    def stop(self):
        from sparoa_sim.real.measure.meters import MeterReading

        self.stopped = True
        if self.fail_stop:
            raise RuntimeError("meter stop failed")
        return MeterReading(self.name, True, 1.0, {"x": 1.0}, "counter")


def test_a_failing_meter_is_reported_absent_and_stops_nothing_else():
    import time

    meters = {"rapl": _Flaky("rapl", fail_poll=True), "nvml": _Flaky("nvml", fail_stop=True),
              "jetson": _Flaky("jetson")}
    with pytest.raises(KeyError):  # the block's own error comes through, not a meter's
        with measure_energy(meters, poll_s=0.01):
            time.sleep(0.05)
            raise KeyError("the block failed")
    assert all(m.stopped for m in meters.values())
    meters = {"rapl": _Flaky("rapl", fail_poll=True), "nvml": _Flaky("nvml")}
    with measure_energy(meters, poll_s=0.01) as m:
        time.sleep(0.05)
    assert m.readings["rapl"].energy_j is None and "reading failed" in m.readings["rapl"].reason
    assert m.energy_j == 1.0 and m.scope == "gpu only" and m.to_dict()["energy_scope"] == "gpu only"
