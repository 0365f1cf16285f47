"""benchmarks/calibration.py reports the end-to-end error held out by family beside in sample,
both labelled, with its provenance and a headline that names every miss (issue 24)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparoa_sim.hwmodels import load_platform
from sparoa_sim.hwmodels.held_out import fit_without_families, host_base
from sparoa_sim.hwmodels.measurements import load_table
from sparoa_sim.hwmodels.profile_io import DATA_ENV_VAR
from sparoa_sim.real.measure.host_calibration import workload_graphs
from bench_scripts import benchmark_script

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("calibration", "calibration_bench_ho") as mod:
        yield mod


def test_error_summary_and_headline_name_the_worst_row_and_every_miss(bench) -> None:
    s = bench.error_summary([0.01, -0.08, None, 0.06], ["a", "b", "c", "d"])
    assert s["n"] == 3 and s["worst"] == "b" and s["max"] == pytest.approx(0.08)
    assert s["misses"] == ["b", "d"] and s["within"] == pytest.approx(1 / 3)
    line = bench.headline("held out", s)
    assert "worst b 8.0%" in line and "1 of 3 within" in line and "misses: b, d" in line
    assert bench.headline("x", bench.error_summary([None], ["a"])) == "x: no workload scored"
    assert "misses: none" in bench.headline("in", bench.error_summary([0.0], ["a"]))


def test_the_benchmark_scores_each_family_on_a_fit_without_it(bench, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "data"))
    out = tmp_path / "calibration.json"
    assert bench.main(["--quick", "--tables", str(FIXTURES), "--json-out", str(out), "--no-store"]) == 0
    doc = json.loads(out.read_text())
    prov = doc["provenance"]
    assert prov["command"].startswith("python benchmarks/calibration.py --quick --tables")
    assert {"git_commit", "date", "machine"} <= set(prov) and prov["machine"]["cores"] >= 1
    table = load_table(FIXTURES / "host_table.json")
    rows = {r["workload"]: r for r in doc["end_to_end"]}
    assert set(rows) == {"resnet18", "mobilenetv3_small"}
    graphs = workload_graphs(("mobilenetv3_small", "resnet18"))
    for w, r in rows.items():
        # the held-out figure is the engine on the profile fitted without the workload's family,
        # anchored end to end to the other family's eager pass only
        held = fit_without_families(lambda ts: host_base(ts, load_platform("jetson-orin-nano-8gb")), [table], [w],
                                    anchor=graphs)
        assert doc["e2e_held_out_folds"][w]["anchor"]["workloads"] == sorted(set(rows) - {w})
        assert r["held_out_predicted_s"] == pytest.approx(bench.end_to_end(held.platform, {
            w: next(e for e in table.end_to_end if e.workload == w)}, [w])[0]["predicted_s"], rel=1e-12)
        assert r["held_out_error"] != pytest.approx(r["error"], abs=1e-6)  # a different profile scored it
        assert r["family"] == w and r["family_profiled"] is True
    assert doc["e2e_held_out"]["n"] == doc["e2e_in_sample"]["n"] == 2
    assert doc["e2e_held_out"]["max"] == pytest.approx(max(abs(r["held_out_error"]) for r in rows.values()))
    assert doc["summary"][0].startswith("in sample:") and doc["summary"][1].startswith("held out (leave one family")
    assert set(doc["e2e_held_out_folds"]) == {"resnet18", "mobilenetv3_small"}
    assert set(doc["e2e_anchor"]["passes"]) == set(rows)  # in sample: both eager passes
