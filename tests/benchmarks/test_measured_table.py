"""The README's "What we measured" table is generated from the committed result files
(``agents.experiments.readme_tables``), and a README figure that disagrees with its file fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparoa_sim.agents.experiments.readme_tables import (
    BEGIN,
    END,
    ROWS,
    ResultFileError,
    measured_rows,
    measured_table,
    replace_block,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
PROV = {"command": "python benchmarks/x.py --quick", "git_commit": "0123456789abcdef", "git_dirty": False,
        "date": "2026-12-07T09:00:00+00:00",
        "machine": {"cores": 2, "cpu_model": "AMD EPYC", "torch": "2.5.0+cpu", "loadavg": [3.25, 2.0, 1.0]}}


def _docs() -> dict[str, dict]:
    s_in = {"n": 3, "mean": 0.02, "max": 0.04, "worst": "vgg16", "within": 1.0, "misses": []}
    s_ho = {"n": 3, "mean": 0.05, "max": 0.12, "worst": "resnet50_pruned80", "within": 2 / 3,
            "misses": ["resnet50_pruned80"]}
    return {
        "calibration.json": {
            "provenance": PROV, "quick": False, "budget_s": 40.0, "clock": "thread_cpu",
            "workloads_profiled": ["resnet50", "vgg16"],
            "end_to_end": [{"workload": "resnet50", "family": "resnet50", "family_profiled": True},
                           {"workload": "resnet50_pruned80", "family": "resnet50", "family_profiled": True},
                           {"workload": "googlenet", "family": "googlenet", "family_profiled": False}],
            "e2e_in_sample": s_in, "e2e_held_out": s_ho,
            "held_out": {"within_10pct": 0.3, "median_error": 0.2, "repeatability_within_10pct": 0.8},
            "held_out_isolated": {"within_10pct": 0.5, "median_error": 0.1},
            "graph_over_isolated": {"median": 1.65, "per_kind": {"conv": {"median": 1.2}, "pool": {"median": 9.0}}}},
        "sim_to_real.json": {
            "provenance": PROV, "reps": 12, "trained_families": ["resnet50", "vgg16"],
            "summary": {"lines": ["raw: 1 of 2 within 5%; worst a 7.0%; misses: a"],
                        "max_abs_held_out_shift": ["b", 0.031]},
            "rows": [{"workload": "a", "executor_over_eager": 1.25, "other_processes_cpu_share": 0.5},
                     {"workload": "b", "executor_over_eager": 0.95, "other_processes_cpu_share": 0.7}]},
        "predictor.json": {
            "provenance": PROV, "model": "mlp", "per_model": {"mlp": 0.0123, "transformer_lstm": 0.04},
            "regret_mean": 0.0123, "regret_max": 0.2, "constant_regret_mean": 0.5, "train_regret_mean": 0.001,
            "constant_train_regret_mean": 0.45, "held_out_families": ["swin_t", "vit_b_16"], "target_regret": 0.03,
            "met": True, "args": {"quick": True, "synthetic": 12, "contexts": 3, "epochs": 15}},
        "hw_predict.json": {
            "provenance": PROV, "n_ops": 174, "summary": "target < 1 ms per call: met (worst 500.0 µs)",
            "cases": [{"residual": False, "predict_s": 1e-4}, {"residual": False, "predict_s": 2e-4},
                      {"residual": True, "predict_s": 3e-4}]},
        "host_quick_calibration.json": {
            "provenance": PROV, "clock": "thread_cpu",
            "runs": [{"run": 1, "in_sample": {"resnet18": {"error": -0.024}, "mobilenetv2": {"error": 0.062}},
                      "conditions": {"disturbed": False, "noisy": True}}]},
        "env_speed.json": {
            "provenance": PROV, "target_ratio": 0.5, "clock": "cpu", "rounds": 5,
            "rows": [{"config": "default", "ratio_to_cartpole": 0.366, "median_round_ratio": 0.35},
                     {"config": "reference", "ratio_to_cartpole": 0.52, "median_round_ratio": 0.5}]},
        "engine.json": {
            "provenance": PROV, "workload": "resnet50", "requests": 300, "repeat": 5, "clock": "cpu",
            "rows": [{"policy": "gpu", "reference": False, "ratio": 5.9, "target_ratio": 5.0},
                     {"policy": "random", "reference": False, "ratio": 7.5, "target_ratio": 8.0}]},
    }


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    for name, doc in _docs().items():
        (tmp_path / name).write_text(json.dumps(doc))
    return tmp_path


def test_every_row_is_built_from_its_file(results: Path) -> None:
    rows = measured_rows(results)
    by = {r.what: r for r in rows}
    cal = next(r for r in rows if r.what.startswith("twin vs this CPU, CPU-only end to end, 3 workloads"))
    assert ("held out (leave one family out): mean |error| 5.0 %, worst resnet50_pruned80 12.0 %, 2 of 3 "
            "within 5 % (misses: resnet50_pruned80)") in cal.result
    assert "in sample: mean |error| 2.0 %, worst vgg16 4.0 %, 3 of 3 within 5 % (misses: none)" in cal.result
    assert "googlenet never profiled, so held out in both" in cal.result
    assert cal.command == PROV["command"]
    assert cal.source == ("`benchmarks/results/calibration.json` (0123456, 2026-12-07, 2-core AMD EPYC, "
                          "torch 2.5.0+cpu, load 3.2)")
    pred = by["threshold predictor (quick form)"]
    assert "mean regret 1.2 % (mlp; transformer_lstm 4.0 %)" in pred.result
    assert "in sample (the training surfaces): 0.1 %" in pred.result and ": met" in pred.result
    assert "families swin_t, vit_b_16" in pred.result
    assert by["in-graph / isolated time per operator"].result == "median 1.65 × (conv 1.20)"
    assert by["executor overhead over eager, CPU-only (timed pass)"].result == (
        "median 1.10 × eager, from 0.95 (b) to 1.25 (a)")
    hw = by["all 174 ResNet-50 operators on both devices, one call"].result
    assert hw.startswith("0.10–0.20 ms per call (0.30–0.30 ms with the shape-feature residual)")
    s2r = next(r for r in rows if r.what.startswith("twin vs the hybrid executor"))
    assert "misses: a" in s2r.result and "median 60.0 % of the CPU" in s2r.result
    assert "moves the twin's own figure by at most 3.1 % (b)" in s2r.result
    env = by["`SparOA-v0` step rate vs `CartPole-v1`, one core"].result
    assert env.startswith("default 0.37 × (median round 0.35 ×): missed; reference 0.52 × (median round 0.50 ×);")
    eng = by["engine cost per simulated operator, resnet50, 300 requests (× one bare SimPy timeout)"].result
    assert eng.startswith("gpu full 5.9 × (target ≤ 5: missed); random full 7.5 × (")
    table = measured_table(results)
    assert table.count("\n") == 2 + len(rows) and table.endswith("|\n")
    assert "mean \\|error\\| 5.0 %" in table and "\\\\|" not in table  # escaped once for markdown


def test_a_changed_figure_changes_the_table(results: Path) -> None:
    before = measured_table(results)
    doc = json.loads((results / "predictor.json").read_text())
    doc["regret_mean"] = 0.0456
    (results / "predictor.json").write_text(json.dumps(doc))
    after = measured_table(results)
    assert before != after and "mean regret 4.6 %" in after


def test_a_missing_file_or_field_is_named(results: Path) -> None:
    (results / "hw_predict.json").unlink()
    with pytest.raises(ResultFileError, match=r"hw_predict\.json: result file missing"):
        measured_rows(results)
    doc = _docs()["predictor.json"]
    del doc["provenance"]
    (results / "predictor.json").write_text(json.dumps(doc))
    with pytest.raises(ResultFileError, match=r"predictor\.json: field 'provenance"):
        measured_rows(results, [r for r in ROWS if r[0] == "predictor.json"])
    doc = _docs()["predictor.json"]
    doc["regret_mean"] = float("nan")
    (results / "predictor.json").write_text(json.dumps(doc))
    with pytest.raises(ResultFileError, match="field 'regret_mean' must be a finite number, got nan"):
        measured_rows(results, [r for r in ROWS if r[0] == "predictor.json"])
    (results / "predictor.json").write_text("[1, 2]")
    with pytest.raises(ResultFileError, match="must hold a JSON object"):
        measured_rows(results, [r for r in ROWS if r[0] == "predictor.json"])


def test_replace_block_swaps_only_the_block() -> None:
    text = f"intro\n{BEGIN}\nold | table\n{END}\noutro\n"
    assert replace_block(text, "new\n") == f"intro\n{BEGIN}\nnew\n{END}\noutro\n"
    for bad in ("no markers", f"{END}\n{BEGIN}\n", f"{BEGIN}\n{BEGIN}\n{END}"):
        with pytest.raises(ResultFileError, match="expected one"):
            replace_block(bad, "x\n")


def test_every_committed_result_file_behind_the_table_has_its_provenance() -> None:
    for name, _ in ROWS:
        doc = json.loads((RESULTS / name).read_text())
        prov = doc["provenance"]
        assert prov["command"].startswith("python benchmarks/"), name
        assert prov["git_commit"] and prov["date"] and prov["machine"]["cores"] >= 1, name


def test_the_readme_table_is_the_generator_s_output() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert BEGIN in readme and END in readme, "README lacks the generated 'What we measured' block"
    block = readme.split(BEGIN + "\n", 1)[1].split(END, 1)[0]
    assert block == measured_table(RESULTS)


def test_the_quick_calibration_row_names_its_worst_error_against_the_target(results: Path) -> None:
    row = next(r for r in measured_rows(results) if r.what.startswith("first-use (quick) host calibration"))
    assert "run 1 (noisy): resnet18 -2.4 %, mobilenetv2 +6.2 %" in row.result
    assert row.result.endswith("worst 6.2 %, target ≤ 5 % in sample: missed (thread_cpu clock)")


def test_speed_rows_judge_the_median_of_paired_rounds_where_the_file_has_it(results: Path) -> None:
    env = json.loads((results / "env_speed.json").read_text())
    for r in env["rows"]:
        r["verdict_ratio"] = r["median_round_ratio"]
    (results / "env_speed.json").write_text(json.dumps(env))
    eng = json.loads((results / "engine.json").read_text())
    eng["rows"][0].update(verdict_ratio=4.6)   # best-of 5.9 misses, the paired median meets 5
    eng["rows"][1].update(verdict_ratio=8.4)   # best-of 7.5 meets 8, the paired median misses
    (results / "engine.json").write_text(json.dumps(eng))
    by = {r.what: r.result for r in measured_rows(results)}
    e = by["`SparOA-v0` step rate vs `CartPole-v1`, one core"]
    assert e.startswith("default 0.35 × (best round 0.37 ×): missed; reference 0.50 × (best round 0.52 ×);")
    assert "median of 5 paired rounds" in e
    g = by["engine cost per simulated operator, resnet50, 300 requests (× one bare SimPy timeout)"]
    assert g.startswith("gpu full 4.6 × (best-of 5.9 ×); random full 8.4 × (target ≤ 8: missed) (best-of 7.5 ×)")
    assert "median of 5 paired repetitions" in g
