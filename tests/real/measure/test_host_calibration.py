"""The first-use host calibration: other processes' CPU share (``real.measure.quiet``) and the
disturbed verdict stored with the profile and said on stderr.

Nothing here profiles a model: the tables are the committed fixture (returned by a stand-in for
the profiler); the busy host is simulated either by known counters or by a child process spinning
on a core for about a second.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sparoa_sim.hwmodels import calibrate
from sparoa_sim.hwmodels.host import (
    E2E_SPREAD_LIMIT,
    OTHERS_SHARE_LIMIT,
    load_host_anchors,
    load_host_conditions,
)
from sparoa_sim.hwmodels.measurements import load_table
from sparoa_sim.hwmodels.profile_io import DATA_ENV_VAR, host_profile_path
from sparoa_sim.real.measure import host_calibration as hc
from sparoa_sim.real.measure.quiet import CpuCounters, LoadMonitor, others_share, parse_proc_stat, read_counters

TABLE = load_table(Path(__file__).resolve().parents[2] / "fixtures" / "host_table.json")
QUIET = None  # built on first use by _quiet_table
STAT = ("cpu  100 5 50 1000 20 3 2 10 0 0\n"
        "cpu0 50 5 25 500 10 3 2 5 0 0\ncpu1 50 0 25 500 10 0 0 5 0 0\nintr 1 2 3\nctxt 99\n")


def _quiet_table():
    """The fixture with both halves of every figure equal (repeatability 0): only the CPU share can flag it."""
    global QUIET
    if QUIET is None:
        QUIET = dataclasses.replace(
            TABLE, rows=tuple(dataclasses.replace(r, time_s_a=r.time_s, time_s_b=r.time_s) for r in TABLE.rows),
            end_to_end=tuple(dataclasses.replace(e, time_s_a=e.time_s, time_s_b=e.time_s) for e in TABLE.end_to_end))
    return QUIET


def _scripted(shares_busy: list[float], ncpu: int = 2, phase_s: float = 10.0):
    """A counter reader: each phase lasts ``phase_s`` and others keep ``busy`` CPU-seconds per second busy."""
    readings = [CpuCounters(0.0, 0.0, 0.0, ncpu)]
    for busy in shares_busy:
        last = readings[-1]
        own = phase_s  # the calibration's own thread: one core
        readings.append(CpuCounters(last.wall_s + phase_s, last.busy_s + own + busy * phase_s * ncpu,
                                    last.own_s + own, ncpu))
    it = iter(readings)
    return lambda: next(it)


def test_parse_proc_stat_counts_busy_fields_and_cpus() -> None:
    busy, ncpu = parse_proc_stat(STAT, 100.0)
    assert ncpu == 2 and busy == pytest.approx((100 + 5 + 50 + 3 + 2 + 10) / 100.0)  # idle, iowait left out
    with pytest.raises(ValueError):
        parse_proc_stat("intr 1 2\n", 100.0)


def test_others_share_subtracts_this_process_and_is_clamped() -> None:
    a = CpuCounters(0.0, 10.0, 1.0, 2)
    assert others_share(a, CpuCounters(4.0, 14.0, 3.0, 2)) == pytest.approx((4.0 - 2.0) / 8.0)
    assert others_share(a, CpuCounters(4.0, 10.0, 3.0, 2)) == 0.0  # own time exceeds the counted busy time
    assert others_share(a, a) == 0.0
    live = read_counters()
    assert live is None or (live.ncpu >= 1 and live.busy_s > 0)


def test_load_monitor_phases_overall_and_peak() -> None:
    mon = LoadMonitor(_scripted([0.05, 0.40, 0.0]))
    shares = [mon.mark(w).others_share for w in ("a", "b", "c")]
    assert shares == pytest.approx([0.05, 0.40, 0.0])
    assert mon.overall() == pytest.approx(0.15) and mon.peak() == pytest.approx(0.40)
    blind = LoadMonitor(lambda: None)
    assert blind.mark("a").others_share is None and blind.overall() is None and blind.peak() is None
    assert blind.source == "none"


_FITS: dict[int, object] = {}


def _calibrate(monkeypatch, tmp_path, table, reader, spin_s: float = 0.0):
    """calibrate_host on ``table`` (one per workload) with counters from ``reader``; the fit of a
    table is computed once per session (it does not depend on the conditions)."""
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "data"))
    real_fit = calibrate.fit

    def cached_fit(base, tables, **kw):
        key = id(tables[0])
        if key not in _FITS:
            _FITS[key] = real_fit(base, tables, **kw)
        return _FITS[key]

    monkeypatch.setattr(calibrate, "fit", cached_fit)

    def fake_profile(name, **kw):
        assert kw["clock"] == hc.QUICK_CLOCK and kw["threads"] == 1
        if spin_s:
            time.sleep(spin_s)
        return table

    return hc.calibrate_host(progress=False, names=("resnet18", "mobilenetv3_small"), profile=fake_profile,
                             monitor=LoadMonitor(reader))


def test_quiet_calibration_is_not_flagged(tmp_path, monkeypatch, capsys) -> None:
    res = _calibrate(monkeypatch, tmp_path, _quiet_table(), _scripted([0.01, 0.02]))
    c = res.conditions
    assert not c.disturbed and c.others_cpu_share == pytest.approx(0.015) and c.others_cpu_share_peak == pytest.approx(0.02)
    assert c.e2e_spread == {"resnet18": 0.0, "mobilenetv3_small": 0.0} and c.row_spread_median == 0.0
    assert set(res.in_sample) == {"resnet18", "mobilenetv3_small"}
    for w, (m, t, e) in res.in_sample.items():
        assert m == next(x.time_s for x in TABLE.end_to_end if x.workload == w) and e == pytest.approx((t - m) / m)
    assert load_host_conditions() == c and res.path == host_profile_path()
    assert hc.ensure_host_profile(progress=False).name == "host"
    assert "disturbed" not in capsys.readouterr().err


def test_busy_host_is_reported_with_the_reason_and_the_redo_command(tmp_path, monkeypatch, capsys) -> None:
    """Other processes took 40 % of the CPU during the second workload (injected counters)."""
    res = _calibrate(monkeypatch, tmp_path, _quiet_table(), _scripted([0.02, 0.40]))
    c = res.conditions
    assert c.disturbed and c.others_cpu_share == pytest.approx(0.21) and c.others_cpu_share > OTHERS_SHARE_LIMIT
    assert c.reason.startswith("other processes used 21% of the CPU") and "40% at the busiest" in c.reason
    assert str(host_profile_path()) in c.redo and "benchmarks/calibration.py" in c.redo
    stored = load_host_conditions()
    assert stored == c and load_host_anchors()  # anchors still stored: the profile is usable, but said so
    capsys.readouterr()
    hc.ensure_host_profile(progress=False)  # loading the stored profile says it again
    err = capsys.readouterr().err
    assert "disturbed machine" in err and c.reason in err and str(host_profile_path()) in err


def test_halves_that_disagree_flag_the_calibration(tmp_path, monkeypatch) -> None:
    """The fixture's resnet18 eager halves differ by 94 %: the host's speed moved while it was timed."""
    res = _calibrate(monkeypatch, tmp_path, TABLE, _scripted([0.0, 0.0]))
    c = res.conditions
    assert c.disturbed and c.e2e_spread["resnet18"] > E2E_SPREAD_LIMIT
    assert "resnet18's eager time differ by 94.3%" in c.reason and "other processes" not in c.reason


def test_a_spinning_process_during_calibration_is_measured_and_flagged(tmp_path, monkeypatch) -> None:
    """A real busy host: a child spins on a core while the (stand-in) profiling sleeps ~1 s per workload."""
    if read_counters() is None:
        pytest.skip("no /proc/stat here: the CPU share cannot be measured")
    ncpu = read_counters().ncpu
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<8: pass"])
    try:
        time.sleep(0.3)  # the child is spinning before the first reading
        res = _calibrate(monkeypatch, tmp_path, _quiet_table(), read_counters, spin_s=1.0)
    finally:
        spinner.kill()
        spinner.wait()
    c = res.conditions
    # one spinning core of ncpu; the stand-in profiler sleeps, so at least most of it is "others"
    assert c.others_cpu_share is not None and c.others_cpu_share >= 0.6 / ncpu
    if 0.6 / ncpu > OTHERS_SHARE_LIMIT:
        assert c.disturbed and c.reason.startswith("other processes used")
