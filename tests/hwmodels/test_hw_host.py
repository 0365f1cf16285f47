"""The host platform: CPU detection from /proc/cpuinfo text, the base profile, storage, the fixture.

Nothing here measures or calibrates on the live machine: CPU descriptions are literal text, and
the fitted profile is the committed fixture ``tests/fixtures/host.toml`` (fitted once to
``tests/fixtures/host_table.json``, in-graph rows of two workloads measured on a 2-core VM).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sparoa_sim.hwmodels import CalibrationError, ProfileError, load_platform, predict
from sparoa_sim.hwmodels.calibrate import cross_validate, fit, rows_for_device, rows_to_ops
from sparoa_sim.hwmodels.host import (
    HOST_MODE,
    PEAK_HEADROOM,
    HostCPU,
    achieved_flops_per_core,
    flop_per_cycle,
    host_platform,
    parse_cpuinfo,
    store_host_profile,
)
from sparoa_sim.hwmodels.measurements import load_table, table_from_dict
from sparoa_sim.hwmodels.profile_io import DATA_ENV_VAR, host_profile_path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TABLE = FIXTURES / "host_table.json"
PROFILE = FIXTURES / "host.toml"
BASE = load_platform("jetson-orin-nano-8gb")

ZEN4 = "\n".join(
    f"processor\t: {p}\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2596.134\n"
    f"physical id\t: 0\ncore id\t\t: {p}\nflags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512bw\n"
    for p in (0, 1)
)


def _intel_ht(n_phys: int = 2) -> str:
    blocks = []
    for p in range(2 * n_phys):  # two hyper-threads per core
        blocks.append(f"processor\t: {p}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel name\t: Xeon\n"
                      f"cpu MHz\t\t: {2000 + p}.0\nphysical id\t: 0\ncore id\t\t: {p // 2}\n"
                      "flags\t\t: sse avx fma avx2 avx512f avx512_fp16\n")
    return "\n".join(blocks)


JETSON = "processor\t: 0\nFeatures\t: fp asimd asimdhp\n\nprocessor\t: 1\nFeatures\t: fp asimd asimdhp\n\n" \
         "Hardware\t: Jetson\n"


def _cpu(text: str, clock: float | None = None) -> HostCPU:
    model, vendor, family, cores, flags, mhz = parse_cpuinfo(text)
    return HostCPU(model=model, vendor=vendor, family=family, cores=cores, clock_hz=clock or mhz or 1.5e9,
                   clock_source="test", flags=flags, memory_bytes=16e9)


def test_parse_cpuinfo_counts_physical_cores_and_reads_flags() -> None:
    model, vendor, family, cores, flags, hz = parse_cpuinfo(ZEN4)
    assert (model, vendor, family, cores) == ("AMD EPYC", "AuthenticAMD", 25, 2)
    assert hz == pytest.approx(2596.134e6) and "avx512f" in flags
    _, vendor, _, cores, _, hz = parse_cpuinfo(_intel_ht(2))
    assert vendor == "GenuineIntel" and cores == 2 and hz == pytest.approx(2003e6)  # 4 threads, 2 cores
    _, _, _, cores, flags, hz = parse_cpuinfo(JETSON)
    assert cores == 2 and "asimd" in flags and hz is None  # no core ids: every processor counts


@pytest.mark.parametrize(("text", "fp32", "fp16"), [
    (ZEN4, 32.0, 32.0),  # Zen 4: AVX-512 double-pumped on 256-bit pipes, no FP16 arithmetic
    (_intel_ht(), 64.0, 128.0),  # Intel server AVX-512 with FP16
    (JETSON, 16.0, 32.0),  # NEON FMA with FP16 arithmetic
    (ZEN4.replace("avx512f avx512bw", "").replace(" fma avx2", ""), 16.0, 16.0),  # AVX only
    ("processor\t: 0\nflags\t\t: sse sse2\n", 8.0, 8.0),
])
def test_flop_per_cycle_from_flags(text: str, fp32: float, fp16: float) -> None:
    got32, got16, note = flop_per_cycle(_cpu(text))
    assert (got32, got16) == (fp32, fp16) and note


def test_host_platform_cpu_from_host_gpu_from_base() -> None:
    cpu = _cpu(ZEN4)
    p = host_platform(cpu, BASE, 2.5e10, threads=1)
    assert p.name == "host" and p.default_mode == HOST_MODE and p.mode("MAXN").name == HOST_MODE
    assert p.cpu.units == 2 and p.mode().cpu_cores == 1
    assert p.peak_flops("cpu") == pytest.approx(1 * 2596.134e6 * 32)  # one active core
    assert p.cpu.peak_flops.fp32 == pytest.approx(2 * 2596.134e6 * 32)
    assert p.cpu.latency.mem_bw == 2.5e10 and p.origin("cpu.latency.mem_bw").origin == "measured"
    assert p.gpu == BASE.gpu and "no GPU measured on this host" in p.origin("gpu.units").note
    assert "no GPU measured here" in p.description
    assert p.cpu.latency.residual is None
    # a sparse kernel only where the profiler's sweep measures one (CSR matmuls: linear layers)
    assert [k.value for k in p.cpu.latency.sparse_kinds] == ["linear"]
    assert p.gpu.latency.sparse_kinds == BASE.gpu.latency.sparse_kinds
    with pytest.raises(ProfileError, match="mem_bw"):
        host_platform(cpu, BASE, 0.0)


def test_clock_is_raised_when_operators_beat_the_nominal_peak() -> None:
    cpu = _cpu(ZEN4)
    nominal = host_platform(cpu, BASE, 2.5e10, achieved_per_core=50e9)  # below 95 % of 83 GF/s: kept
    assert nominal.cpu.max_clock_hz == cpu.clock_hz
    fast = host_platform(cpu, BASE, 2.5e10, achieved_per_core=100e9)
    assert fast.cpu.max_clock_hz == pytest.approx(100e9 / (PEAK_HEADROOM * 32))
    assert "raised from the nominal 2596 MHz" in fast.origin("cpu.max_clock_hz").note


def test_achieved_flops_per_core_of_the_fixture() -> None:
    table = load_table(TABLE)
    a = table.arrays("graph")
    gemm = np.isin(a.kind, ["conv", "linear", "matmul", "attention"])
    want = float(np.max(a.flops[gemm] * a.batch[gemm] / a.time_s[gemm])) / table.host["torch_threads"]
    assert achieved_flops_per_core([table]) == pytest.approx(want)


def test_store_host_profile_in_the_user_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "data"))
    fitted = load_platform(PROFILE)
    path = store_host_profile(fitted)
    assert path == host_profile_path() == tmp_path / "data" / "profiles" / "host.toml"
    host = load_platform("host")
    ops, batch, _ = rows_to_ops(rows_for_device(load_table(TABLE)))
    np.testing.assert_array_equal(predict(host, ops, batch).latency, predict(fitted, ops, batch).latency)
    repo = Path(__file__).resolve().parents[2]
    with pytest.raises(ProfileError, match="inside the repository"):
        store_host_profile(fitted, repo / "hwmodels" / "profiles" / "host.toml")


def test_fixture_profile_has_a_fitted_residual_that_helps() -> None:
    p = load_platform(PROFILE)
    res = p.cpu.latency.residual
    assert res is not None and p.gpu.latency.residual is None
    assert p.origin("cpu.latency.t_launch").origin == "fitted"
    table = load_table(TABLE)
    ops, batch, t = rows_to_ops(rows_for_device(table))
    with_res = np.median(np.abs(predict(p, ops, batch).cpu - t) / t)
    import dataclasses

    plain = p.with_latency("cpu", dataclasses.replace(p.cpu.latency, residual=None))
    without = np.median(np.abs(predict(plain, ops, batch).cpu - t) / t)
    assert with_res < without


def test_calibrate_the_fixture_table() -> None:
    table = load_table(TABLE)
    base = host_platform(_cpu(ZEN4), BASE, table.bandwidth.sustained_bytes_per_s, threads=1,
                         achieved_per_core=achieved_flops_per_core([table]))
    res = fit(base, table, joint=False)
    rep = res.report
    assert rep["n"] == len(table.arrays("graph")) and rep["residual_features"]
    assert rep["median_error"] < rep["roofline_only"]["median_error"]
    cv = cross_validate(base, table, joint=False)
    assert cv["n_folds"] == 2 and {f["held_out"][0] for f in cv["folds"]} == {"resnet18", "mobilenetv3_small"}
    # every row is held out exactly once, and the pooled figures are the folds' rows together
    folds = {f["held_out"][0]: f for f in cv["folds"]}
    assert cv["overall"]["n"] == rep["n"] == sum(f["report"]["n"] for f in cv["folds"])
    over = cv["overall"]
    assert 0 <= over["within_10pct"] <= over["within_20pct"] <= 1 and over["median_error"] > 0
    # mobilenet's depthwise convolutions and multiplies occur in no resnet18 row: said, not hidden
    assert folds["mobilenetv3_small"]["unseen_kinds"] == ["dwconv", "mul"] and not cv["every_kind_trained"]
    assert folds["resnet18"]["unseen_kinds"] == []
    # held out means held out: on resnet18's rows a fit that never saw them is clearly worse than
    # the in-sample fit (0.30 against 0.11 median error) ...
    rows = [r for r in rows_for_device(table) if r.workload == "resnet18"]
    ops, batch, t = rows_to_ops(rows)

    def median_error(platform) -> float:
        return float(np.median(np.abs(predict(platform, ops, batch).cpu - t) / t))

    held = folds["resnet18"]["report"]
    assert held["n"] == len(rows) == 68
    assert held["median_error"] > 2 * median_error(res.platform)
    # ... yet calibrating on mobilenet alone still beats the uncalibrated profile on resnet18
    # (0.30 against 0.50), and stays within the thresholds this fixture was committed with.
    assert held["median_error"] < 0.8 * median_error(base)
    assert held["median_error"] < 0.35 and held["within_20pct"] > 0.25


@pytest.mark.parametrize("bad", [math.nan, 0.0, -2e-6])
def test_fixture_table_with_a_bad_time_is_refused(bad: float, tmp_path: Path) -> None:
    doc = json.loads(TABLE.read_text())
    doc["rows"][3]["time_s"] = bad
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))  # NaN is written as the JSON extension NaN
    with pytest.raises(CalibrationError, match=r"bad\.json: rows\[3\].*time_s"):
        load_table(path)
    with pytest.raises(CalibrationError, match="time_s"):
        table_from_dict(doc)


def test_calibration_benchmark_runs_on_the_fixture_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/calibration.py end to end on stored tables (no profiling, no timing)."""
    import importlib.util

    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "data"))
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "calibration.py"
    spec = importlib.util.spec_from_file_location("calibration_bench", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "calibration.json"
    assert mod.main(["--quick", "--tables", str(FIXTURES), "--json-out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert {r["workload"] for r in doc["end_to_end"]} == {"resnet18", "mobilenetv3_small"}
    assert doc["held_out"]["n"] == doc["train"]["n"] == len(load_table(TABLE).arrays("graph"))
    assert load_platform("host").cpu.latency.residual is not None  # stored where --platform host finds it
    from sparoa_sim.hwmodels.host import load_host_anchors

    assert set(load_host_anchors()) == {"resnet18", "mobilenetv3_small"}  # eager figures kept for validate
    assert "held-out workloads" in capsys.readouterr().out


def test_calibration_benchmark_reports_the_kernel_level_fit_and_the_graph_context(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """With isolated rows in the tables, the benchmark also holds out kernels timed alone and
    reports how much slower the graph runs them."""
    import importlib.util

    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "data"))
    doc = json.loads(TABLE.read_text())
    doc["rows"] += [dict(r, context="isolated", time_s=r["time_s"] / 1.25, time_s_a=r["time_s_a"] / 1.25,
                         time_s_b=r["time_s_b"] / 1.25) for r in doc["rows"]]
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "host_table.json").write_text(json.dumps(doc))
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "calibration.py"
    spec = importlib.util.spec_from_file_location("calibration_bench", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "calibration.json"
    assert mod.main(["--quick", "--tables", str(tables), "--json-out", str(out), "--no-store"]) == 0
    res = json.loads(out.read_text())
    n = len(load_table(TABLE).arrays("graph"))
    assert res["held_out_isolated"]["n"] == res["held_out"]["n"] == n
    assert 0.0 <= res["held_out_isolated"]["within_10pct"] <= 1.0
    ctx = res["graph_over_isolated"]
    assert ctx["n"] == n and ctx["median"] == pytest.approx(1.25) and ctx["within_10pct"] == 0.0
    assert "kernel-level" in capsys.readouterr().out


def test_host_anchors_round_trip_and_refuse_bad_values(tmp_path) -> None:
    from sparoa_sim.hwmodels.host import load_host_anchors, store_host_anchors

    path = tmp_path / "host.anchors.json"
    store_host_anchors({"resnet18": 0.05, "vgg16": 0.3}, clock="thread_cpu", threads=1, path=path)
    assert load_host_anchors(path) == {"resnet18": 0.05, "vgg16": 0.3}
    with pytest.raises(ProfileError, match="positive seconds"):
        store_host_anchors({"resnet18": float("nan")}, clock="wall", threads=1, path=path)
    assert load_host_anchors(path) == {"resnet18": 0.05, "vgg16": 0.3}  # the failed write changed nothing
    path.write_text("{not json", encoding="utf-8")
    assert load_host_anchors(path) == {} and load_host_anchors(tmp_path / "missing.json") == {}
    with pytest.raises(ProfileError, match="positive seconds"):
        store_host_anchors({"resnet18": True}, clock="wall", threads=1, path=path)
    # one bad entry leaves the others
    path.write_text('{"eager_s": {"a": Infinity, "b": "x", "c": true, "d": -1, "ok": 0.1}}', encoding="utf-8")
    assert load_host_anchors(path) == {"ok": 0.1}
    # tied to the profile beside them: a profile written later makes them stale
    profile = path.with_name(host_profile_path().name)
    profile.write_text("# profile A\n", encoding="utf-8")
    store_host_anchors({"resnet18": 0.05}, clock="thread_cpu", threads=1, path=path)
    assert load_host_anchors(path) == {"resnet18": 0.05}
    profile.write_text("# profile B (sparoa calibrate -o over it)\n", encoding="utf-8")
    assert load_host_anchors(path) == {}


def test_assess_conditions_limits_and_reasons() -> None:
    """Each limit flags the calibration on its own, with a reason naming it; at the limit it is quiet."""
    from sparoa_sim.hwmodels.host import (
        E2E_SPREAD_LIMIT,
        NOISY_E2E_SPREAD,
        NOISY_ROW_SPREAD,
        OTHERS_SHARE_LIMIT,
        ROW_SPREAD_LIMIT,
        assess_conditions,
    )

    quiet = assess_conditions(OTHERS_SHARE_LIMIT, 0.3, "test", {"a": E2E_SPREAD_LIMIT}, ROW_SPREAD_LIMIT, "redo it")
    assert not quiet.disturbed and quiet.reason.startswith("quiet") and quiet.redo == "redo it"
    busy = assess_conditions(0.25, 0.5, "test", {"a": 0.01}, 0.02, "redo it")
    assert busy.disturbed and busy.reason == "other processes used 25% of the CPU while calibrating (limit 10%, " \
                                             "50% at the busiest phase)"
    halves = assess_conditions(0.0, 0.0, "test", {"a": 0.01, "b": 0.18}, 0.02, "r")
    assert halves.disturbed and halves.reason == "the two halves of b's eager time differ by 18.0% (limit 15%)"
    rows = assess_conditions(None, None, "none", {}, 0.30, "r")
    assert rows.disturbed and rows.reason == "the operators' two halves differ by 30.0% at the median (limit 25%)"
    # between the targets and the disturbed limits: a noisy-measurement note, not a disturbed verdict
    noisy = assess_conditions(0.0, 0.0, "test", {"a": 0.01, "b": 0.08}, 0.15, "r")
    assert not noisy.disturbed and noisy.noisy and noisy.reason.startswith("quiet")
    assert noisy.note == ("noisy measurement, not a busy machine (other processes' CPU share 0%): the two halves of "
                          "b's eager time differ by 8.0% (limit 5%); the operators' two halves differ by 15.0% at "
                          "the median (limit 10%); a longer profiling budget averages more")
    clean = assess_conditions(0.0, 0.0, "test", {"a": NOISY_E2E_SPREAD}, NOISY_ROW_SPREAD, "r")
    assert not clean.disturbed and not clean.noisy and clean.note == "" and clean.reason.startswith("quiet: every")
    assert not assess_conditions(None, None, "none", {}, None, "r").disturbed  # nothing measured: nothing to flag
    with pytest.raises(ProfileError, match="others_share"):
        assess_conditions(-0.1, None, "test", {}, None, "r")
    with pytest.raises(ProfileError, match="row_spread_median"):
        assess_conditions(0.0, None, "test", {}, math.nan, "r")


def test_table_spreads_of_the_fixture() -> None:
    from sparoa_sim.hwmodels.host import table_spreads

    table = load_table(TABLE)
    e2e, rows = table_spreads([table])
    assert e2e == {e.workload: abs(e.time_s_a - e.time_s_b) / e.time_s for e in table.end_to_end}
    assert rows == pytest.approx(float(np.median([r.rel_spread for r in table.rows if r.context == "graph"])))
    assert table_spreads([]) == ({}, None)


def test_conditions_stored_with_the_anchors_and_tied_to_the_profile(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from sparoa_sim.hwmodels.host import (
        CalibrationConditions,
        assess_conditions,
        host_anchors_path,
        load_host_conditions,
        store_host_anchors,
    )

    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "data"))
    store_host_profile(load_platform(PROFILE))
    cond = assess_conditions(0.3, 0.6, "/proc/stat", {"resnet18": 0.02}, 0.04, "delete it")
    store_host_anchors({"resnet18": 0.03}, clock="thread_cpu", threads=1, conditions=cond)
    assert load_host_conditions() == cond
    doc = json.loads(host_anchors_path().read_text())
    assert doc["conditions"]["limits"]["others_cpu_share"] == 0.10 and doc["conditions"]["disturbed"] is True
    assert CalibrationConditions.from_dict(doc["conditions"]) == cond
    with pytest.raises(ProfileError, match="malformed"):
        CalibrationConditions.from_dict({"disturbed": True})
    store_host_anchors({"resnet18": 0.03}, clock="thread_cpu", threads=1)  # no conditions recorded
    assert load_host_conditions() is None
    store_host_anchors({"resnet18": 0.03}, clock="thread_cpu", threads=1, conditions=cond)
    host_profile_path().write_text(host_profile_path().read_text() + "\n# edited\n")  # another profile now
    assert load_host_conditions() is None
    host_anchors_path().write_text("{not json")
    assert load_host_conditions() is None
