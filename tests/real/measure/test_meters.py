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


def _deny(monkeypatch, *zones: Path) -> None:
    """Reading ``energy_uj`` under ``zones`` raises PermissionError, as for a non-root user (tests run
    as root, who reads any file, so the refusal is made here rather than by chmod)."""
    real = Path.read_text
    denied = {z / "energy_uj" for z in zones}

    def read_text(self, *args, **kwargs):
        if self in denied:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)


def test_rapl_unreadable_counters_make_the_meter_absent_naming_them(tmp_path, monkeypatch):
    pkg0 = _zone(tmp_path, "intel-rapl:0", "package-0", 1)
    pkg1 = _zone(tmp_path, "intel-rapl:1", "package-1", 1)
    _deny(monkeypatch, pkg0, pkg1)
    meter = RaplMeter(tmp_path)
    assert not meter.available
    assert meter.reason == (f"RAPL counters under {tmp_path} are not readable (intel-rapl:0, intel-rapl:1): "
                            "permission denied")
    meter.start()
    r = meter.stop()
    assert r.energy_j is None and not r.available and r.reason == meter.reason


def test_rapl_skips_an_unreadable_zone_and_counts_the_readable_one(tmp_path, monkeypatch):
    _deny(monkeypatch, _zone(tmp_path, "intel-rapl:0", "package-0", 1))
    pkg1 = _zone(tmp_path, "intel-rapl:1", "package-1", 10)
    meter = RaplMeter(tmp_path)
    assert meter.available
    meter.start()
    _set(pkg1, 1_000_010)
    r = meter.stop()
    assert r.domains == {"package-1": 1.0} and r.energy_j == pytest.approx(1.0)


@pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "setuid"), reason="needs POSIX users")
def test_rapl_counter_unreadable_to_an_unprivileged_user(tmp_path):
    """The same refusal from the kernel: a chmod-0 counter read by a process that is not root
    (dropping to ``nobody`` in a child process when the tests run as root)."""
    import subprocess
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="rapl-"))
    try:
        root.chmod(0o755)
        pkg = _zone(root, "intel-rapl:0", "package-0", 1)
        pkg.chmod(0o755)
        for f in pkg.iterdir():
            f.chmod(0o644)
        (pkg / "energy_uj").chmod(0)
        drop = "os.setuid(65534); " if os.geteuid() == 0 else ""  # after the imports: the venv may be private
        code = ("import os, sys; from sparoa_sim.real.measure.meters import RaplMeter; " + drop +
                "m = RaplMeter(sys.argv[1]); print(m.available, m.reason)")
        done = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, timeout=60)
        if done.returncode != 0 and "PermissionError" in done.stderr and "setuid" in done.stderr:
            pytest.skip("cannot drop privileges here")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == (f"False RAPL counters under {root} are not readable (intel-rapl:0): "
                                       "permission denied")
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


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


# ---------------------------------------------------------------------------------------------
# tegrastats lines from real modules (docs/research/tegrastats_samples.md, each copied byte for byte
# there with its source; the source is repeated beside each line here)

_NOTE = "docs/research/tegrastats_samples.md"
TEGRA_LINES = {
    # §1, AGX Orin, JetPack 5: GitHub file index id 40952187782 (a setup note, `catid@orin:~$ sudo tegrastats`)
    "agx_orin_jp5": ("04-24-2023 00:01:24 RAM 1282/62795MB (lfb 15152x4MB) SWAP 0/31398MB (cached 0MB) CPU [0%@729,"
                     "0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729] EMC_FREQ 0%@2133 "
                     "GR3D_FREQ 0%@0 GR3D2_FREQ 0%@0 VIC_FREQ 729 APE 174 CV0@-256C CPU@42.593C Tboard@32C "
                     "SOC2@39.343C Tdiode@33.25C SOC0@39.375C CV1@-256C GPU@-256C tj@42.593C SOC1@40.468C CV2@-256C "
                     "VDD_GPU_SOC 2399mW/2399mW VDD_CPU_CV 400mW/400mW VIN_SYS_5V0 4032mW/4032mW NC 0mW/0mW "
                     "VDDQ_VDD2_1V8AO 301mW/301mW NC 0mW/0mW"),
    # §1, AGX Orin, JetPack 5: rbonghi/jetson_stats tests/tegrastats line 86 (commit 4404e168, CPU/GPU templated)
    "agx_orin_jp5_jtop": ("01-03-2023 16:07:54 RAM 2257/30536MB (lfb 5392x4MB) SWAP 0/15268MB (cached 0MB) CPU "
                          "[$(($RANDOM%100+0))%@729,$(($RANDOM%100+0))%@729] EMC_FREQ 0%@204 GR3D_FREQ $RAND_GPU%@0 "
                          "GR3D2_FREQ $RAND_GPU2%@0 NVJPG1 729 VIC_FREQ 115 APE 233 CV0@-256C CPU@41.437C Tboard@29C "
                          "SOC2@39.062C Tdiode@30.75C SOC0@39.031C CV1@-256C GPU@-256C tj@41.656C SOC1@38.937C "
                          "CV2@-256C VDD_GPU_SOC 2390mW/2390mW VDD_CPU_CV 796mW/796mW VIN_SYS_5V0 3522mW/3522mW "
                          "NC 0mW/0mW VDDQ_VDD2_1V8AO 301mW/301mW NC 0mW/0mW"),
    # §1, AGX Orin, JetPack 6 (R36.4.4): GitHub file index id 70091225369 (a Go tegrastatsreceiver test)
    "agx_orin_jp6": ("05-09-2026 18:42:06 RAM 18207/62841MB (lfb 466x4MB) SWAP 86/31420MB (cached 0MB) CPU "
                     "[14%@2188,5%@2112,8%@2035,14%@2201,46%@1267,47%@1267,2%@1267,10%@1267,4%@1036,5%@1036,6%@1036,"
                     "10%@1036] EMC_FREQ 3%@2133 GR3D_FREQ 0%@[0,0] NVENC 79%@166 NVDEC off NVJPG off NVJPG1 off "
                     "VIC 36%@115 OFA off NVDLA0 off NVDLA1 off PVA0_FREQ off APE 174 cpu@52.562C soc2@48.437C "
                     "soc0@49.093C tj@52.562C soc1@49.656C VDD_GPU_SOC 2412mW/2412mW VDD_CPU_CV 1607mW/1607mW "
                     "VIN_SYS_5V0 4707mW/4707mW"),
    # §1, AGX Orin, JetPack 7.2: rbonghi/jetson_stats jtop/tests/test_06_tegra_parse.py TEGRASTATS_ORIN_JP7
    "agx_orin_jp7": ("07-25-2026 09:08:28 RAM 20642/62817MB (lfb 1x2MB) CPU [23%@2201,10%@2201,4%@2201,14%@2201,"
                     "30%@2201,18%@2201,10%@2201,10%@2201,33%@2201,7%@2201,5%@2201,27%@2201] EMC_FREQ 3%@3199 "
                     "GR3D_FREQ 12%@[1300,1300] NVENC0 off NVDEC0 off NVJPG0 off NVJPG1 off VIC off OFA off NVDLA0 off "
                     "NVDLA1 off PVA0_FREQ off APE 174 cpu@52.968C/52.968C soc2@48.406C/48.406C soc0@49.531C/49.531C "
                     "gpu@47.625C/47.625C VDD_GPU_SOC 5139mW/5139mW/5139mW VDD_CPU_CV 3268mW/3268mW/3268mW "
                     "VIN_SYS_5V0 5500mW/5500mW/5500mW"),
    # §2, Orin NX 16GB, JetPack 6.2: GitHub file index id 62392545796 (REAL_BOX_IDLE_LINE)
    "orin_nx_jp6": ("07-16-2026 13:03:45 RAM 1224/15656MB (lfb 8x4MB) SWAP 0/7828MB (cached 0MB) CPU [1%@729,0%@729,"
                    "0%@729,0%@729,0%@729,0%@729,0%@729,0%@729] GR3D_FREQ 0% cv0@41.156C cpu@45.843C soc2@39.593C "
                    "soc0@42.562C cv1@42.156C gpu@43.406C tj@45.843C soc1@40.25C cv2@38.593C VDD_IN 4304mW/4304mW "
                    "VDD_CPU_GPU_CV 573mW/573mW VDD_SOC 1218mW/1218mW"),
    # §3, Orin Nano 8GB, JetPack 6.x: henrygd/beszel agent/gpu_test.go (commit 521be05b; issue #286)
    "orin_nano_jp6": ("11-15-2024 08:38:09 RAM 6185/7620MB (lfb 8x2MB) SWAP 851/3810MB (cached 1MB) CPU [15%@729,"
                      "11%@729,14%@729,13%@729,11%@729,8%@729] EMC_FREQ 43%@2133 GR3D_FREQ 63%@[621] NVDEC off NVJPG "
                      "off NVJPG1 off VIC off OFA off APE 200 cpu@53.968C soc2@52.437C soc0@50.75C gpu@53.343C "
                      "tj@53.968C soc1@51.656C VDD_IN 12479mW/12479mW VDD_CPU_GPU_CV 4667mW/4667mW "
                      "VDD_SOC 2817mW/2817mW"),
    # §4, AGX Xavier, JetPack 4.2: martinkersner/gtop PR #7 (comment by alexis-gruet-deel, 2019-06-17)
    "agx_xavier_jp4": ("RAM 14700/15692MB (lfb 3x2MB) SWAP 898/8192MB (cached 23MB) CPU [0%@1190,0%@1190,0%@1190,"
                       "0%@1190,0%@1190,0%@1190,0%@1190,0%@1190] EMC_FREQ 0% GR3D_FREQ 0% AO@30C GPU@30.5C Tboard@31C "
                       "Tdiode@32C AUX@30.5C CPU@31.5C thermal@30.8C PMIC@100C GPU 463/463 CPU 618/618 SOC 2936/2936 "
                       "CV 0/0 VDDRQ 309/309 SYS5V 3306/3306"),
    # §6, Jetson Nano, JetPack 4.x: dusty-nv/jetson-inference issue #1206 (comment by sas9624, 2021-09-01)
    "nano_jp4": ("RAM 1501/3956MB (lfb 332x4MB) IRAM 0/252kB(lfb 252kB) CPU [16%@1479,13%@1479,10%@1479,4%@1479] "
                 "EMC_FREQ 4%@1600 GR3D_FREQ 28%@76 NVDEC 716 VIC_FREQ 0%@140 APE 25 PLL@39C CPU@44C PMIC@100C "
                 "GPU@41.5C AO@47.5C thermal@42.5C POM_5V_IN 4122/3107 POM_5V_GPU 109/85 POM_5V_CPU 1167/748"),
    # §6, TX2, L4T 32.x: FindHao/tx-utils issue #3 (by RizhaoCai, 2019-09-05); VDD_IN in the middle
    "tx2_jp4": ("RAM 2020/7852MB (lfb 1164x4MB) CPU [9%@345,21%@345,25%@345,3%@345,1%@345,1%@345] EMC_FREQ 0% "
                "GR3D_FREQ 0% PLL@42.5C MCPU@42.5C PMIC@100C Tboard@40C GPU@41C BCPU@42.5C thermal@41.9C "
                "Tdiode@41.25C VDD_SYS_GPU 153/158 VDD_SYS_SOC 536/547 VDD_4V0_WIFI 633/527 VDD_IN 3140/3208 "
                "VDD_SYS_CPU 536/590 VDD_SYS_DDR 557/601"),
}

#: (watts, rails summed) per line: input rails alone; AGX Orin's three without VDDQ_VDD2_1V8AO or NC.
TEGRA_EXPECTED = {
    "agx_orin_jp5": (2.399 + 0.400 + 4.032, ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0")),
    "agx_orin_jp5_jtop": (2.390 + 0.796 + 3.522, ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0")),
    "agx_orin_jp6": (2.412 + 1.607 + 4.707, ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0")),
    "agx_orin_jp7": (5.139 + 3.268 + 5.500, ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0")),
    "orin_nx_jp6": (4.304, ("VDD_IN",)),
    "orin_nano_jp6": (12.479, ("VDD_IN",)),
    "agx_xavier_jp4": (0.463 + 0.618 + 2.936 + 0.0 + 0.309 + 3.306, ("GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V")),
    "nano_jp4": (4.122, ("POM_5V_IN",)),
    "tx2_jp4": (3.140, ("VDD_IN",)),
}


@pytest.mark.parametrize("name", sorted(TEGRA_LINES))
def test_module_power_from_real_tegrastats_lines(name):
    from sparoa_sim.real.measure.tegra_rails import board_power

    got = board_power(parse_tegrastats(TEGRA_LINES[name]))
    watts, rails = TEGRA_EXPECTED[name]
    assert got.watts == pytest.approx(watts, abs=1e-9) and got.rails == rails and not got.reason


def test_agx_orin_jp5_parses_every_rail_and_no_temperature_or_memory_field():
    rails = parse_tegrastats(TEGRA_LINES["agx_orin_jp5"])
    assert rails == {"VDD_GPU_SOC": 2.399, "VDD_CPU_CV": 0.4, "VIN_SYS_5V0": 4.032, "NC": 0.0, "VDDQ_VDD2_1V8AO": 0.301}


def test_a_sample_without_a_known_total_names_the_rails_seen():
    from sparoa_sim.real.measure.tegra_rails import board_power

    part = board_power({"VDD_GPU_SOC": 2.0, "VDD_CPU_CV": 0.4})  # VIN_SYS_5V0 missing
    assert part.watts is None and "VIN_SYS_5V0" in part.reason and "VDD_CPU_CV" in part.reason
    # the abridged beszel fragment (§7): one AGX Orin rail only
    frag = board_power(parse_tegrastats("11-14-2024 22:54:33 RAM 4300/30698MB GR3D_FREQ 45% tj@52.468C "
                                        "VDD_GPU_SOC 2171mW"))
    assert frag.watts is None  # "2171mW" alone is not a rail reading (no average): nothing seen
    odd = board_power({"VDD_FOO": 1.0, "NC": 0.0})
    assert odd.watts is None and "VDD_FOO" in odd.reason and "seen" in odd.reason


def _fed_meter(lines: list[str]) -> JetsonMeter:
    """A JetsonMeter fed ``lines`` as if tegrastats printed them during the block."""
    import time

    jet = JetsonMeter.__new__(JetsonMeter)
    jet.interval_ms, jet.available, jet.reason = 100, True, ""
    jet._exe, jet._jtop, jet._proc, jet._thread = None, None, None, None
    jet._samples, jet._seen, jet._why, jet._rule, jet._lines = [], set(), "", "", 0
    import threading

    jet._stop = threading.Event()
    jet._t0 = time.perf_counter()
    for line in lines:
        jet._take(line, time.perf_counter())
    return jet


def test_jetson_meter_integrates_agx_orin_and_names_its_rule():
    r = _fed_meter([TEGRA_LINES["agx_orin_jp6"]] * 3).stop()
    assert r.available and r.energy_j is not None and r.energy_j >= 0
    assert list(r.domains) == ["module (VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0)"]


def test_jetson_meter_without_a_known_total_says_which_rails_it_saw():
    r = _fed_meter(["RAM 1/2MB VDD_FOO 100mW/100mW VDD_BAR 50mW/50mW"]).stop()
    assert not r.available and r.energy_j is None
    assert "VDD_BAR" in r.reason and "VDD_FOO" in r.reason and "make the block longer" not in r.reason
