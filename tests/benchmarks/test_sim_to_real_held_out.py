"""benchmarks/sim_to_real.py: with calibration tables it fits the profile itself and scores each
workload held out by family beside in sample; its headline names every miss (issue 24). The
executor is replaced by a stub here (``validate`` has its own tests); the twin's side is real."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from sparoa_sim.hwmodels import load_platform
from sparoa_sim.hwmodels.errors import CalibrationError
from sparoa_sim.hwmodels.held_out import fit_without_families, host_base
from sparoa_sim.hwmodels.measurements import load_table
from sparoa_sim.hwmodels.profile_io import DATA_ENV_VAR
from bench_scripts import benchmark_script

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("sim_to_real", "sim_to_real_bench") as mod:
        yield mod


@pytest.fixture(scope="module")
def fits(bench):
    return bench.HeldOutProfiles(FIXTURES)


def test_summary_lines_give_the_worst_row_and_every_miss(bench) -> None:
    rows = [{"workload": "a", "executor_error": 0.02, "drift_corrected_error": None, "held_out_error": -0.09},
            {"workload": "b", "executor_error": -0.07, "drift_corrected_error": None, "held_out_error": 0.01}]
    assert bench.summary_lines(rows) == [
        "raw: 1 of 2 within 5%; worst b 7.0%; misses: b",
        "held out (leave one family out): 1 of 2 within 5%; worst a 9.0%; misses: a"]


def test_held_out_profiles_are_fitted_without_the_family(bench, fits) -> None:
    assert fits.trained == {"resnet18", "mobilenetv3_small"}
    table = load_table(FIXTURES / "host_table.json")
    expect = fit_without_families(lambda ts: host_base(ts, load_platform("jetson-orin-nano-8gb")), [table],
                                  ["resnet18"]).platform
    # (a fitted residual compares by identity: compare the parameters' full text)
    assert repr(fits.held_out("resnet18_pruned50").cpu.latency) == repr(expect.cpu.latency)
    assert fits.held_out("resnet18") is fits.held_out("resnet18_pruned50")  # one fit per family
    assert fits.held_out("googlenet") is fits.in_sample  # never measured: already held out
    assert repr(fits.in_sample.cpu.latency) != repr(expect.cpu.latency)


def test_no_tables_is_refused(bench, tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="no measurement tables"):
        bench.HeldOutProfiles(tmp_path)


def test_each_row_carries_both_errors_against_one_executor_timing(bench, fits, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "data"))
    measured = {"resnet18": 0.05, "mobilenetv3_small": 0.008}
    seen = []

    def fake_validate(w, platform, **kw):
        seen.append(platform)
        pred = bench.twin_cpu_only(platform, w)
        cpu = {"predicted_s": pred, "executor_s": measured[w], "executor_error": (pred - measured[w]) / measured[w],
               "executor_repeatability": 0.01, "eager_s": measured[w] * 0.98, "host_drift": None,
               "drift_corrected_error": None}
        return SimpleNamespace(to_dict=lambda: {"cpu_only": cpu, "within_10pct": 0.5,
                                                "meta": {"other_processes_cpu_share": 0.25}})

    monkeypatch.setattr(bench, "validate", fake_validate)
    monkeypatch.setattr(bench, "HeldOutProfiles", lambda path: fits)
    out = tmp_path / "s2r.json"
    assert bench.main(["--workloads", "resnet18", "mobilenetv3_small", "--reps", "2", "--tables", str(FIXTURES),
                       "-o", str(out)]) == 0
    assert all(p is fits.in_sample for p in seen)  # the executor side runs the in-sample profile
    doc = json.loads(out.read_text())
    assert doc["trained_families"] == ["mobilenetv3_small", "resnet18"]
    assert doc["provenance"]["command"].startswith("python benchmarks/sim_to_real.py --workloads resnet18")
    for r in doc["rows"]:
        w = r["workload"]
        held = bench.twin_cpu_only(fits.held_out(w), w)
        assert r["held_out_predicted_s"] == pytest.approx(held, rel=1e-12)
        assert r["held_out_error"] == pytest.approx((held - measured[w]) / measured[w], rel=1e-12)
        assert r["held_out_error"] != pytest.approx(r["executor_error"], abs=1e-6)
        assert r["family_in_training"] is True
        assert r["held_out_shift"] == pytest.approx(held / r["predicted_s"] - 1.0, rel=1e-12)
    s = doc["summary"]
    assert s["n_held_out"] == 2 and s["max_abs_error_held_out"] == pytest.approx(
        max(abs(r["held_out_error"]) for r in doc["rows"]))
    assert any(line.startswith("held out (leave one family out):") for line in s["lines"])
