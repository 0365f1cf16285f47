"""benchmarks/reproduce.py and agents.experiments.result_diff: a re-run is held to its committed file."""

from __future__ import annotations

import json
import math

import pytest

from sparoa_sim.agents.experiments.result_diff import RUN_KEYS, diff_results, skip_for, tolerance_for

from bench_scripts import benchmark_script

DOC = {"provenance": {"date": "2026-12-07T09:00:00"}, "wall_s": 12.0,
       "summary": {"regret_mean": 0.0719, "met": False, "misses": ["a", "b"]},
       "rows": [{"id": "r1", "ratio": 1.5}, {"id": "r2", "ratio": 0.0}]}


def moved(**changes):
    doc = json.loads(json.dumps(DOC))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = doc
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[int(leaf) if leaf.isdigit() else leaf] = value
    return doc


def test_an_identical_document_and_run_keys_differ_nowhere():
    new = moved(provenance={"date": "2026-12-08"}, wall_s=99.0)
    assert diff_results(DOC, new) == []
    assert "provenance" in RUN_KEYS and "wall_s" in RUN_KEYS


def test_a_figure_within_the_tolerance_passes_and_beyond_it_is_named():
    new = moved(summary__regret_mean=0.0719 * 1.10)
    assert diff_results(DOC, new, rtol=0.25) == []
    (d,) = diff_results(DOC, new, rtol=0.05)
    assert d.path == "summary.regret_mean" and d.rel == pytest.approx(0.10)
    assert "+10.0%" in d.describe()


def test_exact_means_exact_but_a_zero_stays_zero():
    assert diff_results(DOC, moved(rows__1__ratio=1e-15)) == []  # below the absolute floor
    (d,) = diff_results(DOC, moved(rows__1__ratio=0.1))
    assert d.path == "rows[1].ratio" and math.isinf(d.rel)


def test_labels_keys_lengths_and_nan_are_differences():
    assert [d.path for d in diff_results(DOC, moved(summary__met=True))] == ["summary.met"]
    assert [d.path for d in diff_results(DOC, moved(summary__misses=["a"]))] == ["summary.misses[len]"]
    new = moved()
    del new["summary"]["met"]
    (d,) = diff_results(DOC, new)
    assert d.path == "summary.met" and d.new == "<absent>"
    (d,) = diff_results(DOC, moved(rows__0__ratio=float("nan")), rtol=0.25)
    assert d.path == "rows[0].ratio"


@pytest.mark.parametrize("rtol", [-0.1, float("nan"), float("inf")])
def test_a_bad_tolerance_is_refused(rtol):
    with pytest.raises(ValueError, match="rtol"):
        diff_results(DOC, DOC, rtol=rtol)


def test_each_file_has_the_noise_it_is_held_to():
    assert tolerance_for("predictor.json") == 0.0          # seeded training: exact
    assert tolerance_for("published.json") == 0.0
    assert tolerance_for("engine.json") == 0.25            # timed on this VM
    assert tolerance_for("sparsity_sweep.2.json") == 0.25
    assert tolerance_for("oracle.json") is None            # a time-limited search: its summary
    assert tolerance_for("something_new.json") == 0.0


@pytest.fixture
def reproduce(monkeypatch):
    with benchmark_script("reproduce") as mod:
        yield mod


def _run(reproduce, monkeypatch, tmp_path, name, old, new, capsys):
    path = tmp_path / name
    path.write_text(json.dumps(new), encoding="utf-8")
    monkeypatch.setattr(reproduce, "committed", lambda p, ref: old)
    rc = reproduce.main([str(path), "--json-out", str(tmp_path / "out.json")])
    return rc, capsys.readouterr().out, json.loads((tmp_path / "out.json").read_text())


def test_the_script_says_reproduced_outside_noise_or_not_re_run(reproduce, monkeypatch, tmp_path, capsys):
    rerun = moved(provenance={"date": "2026-12-08"})
    rc, out, js = _run(reproduce, monkeypatch, tmp_path, "predictor.json", DOC, rerun, capsys)
    assert rc == 0 and "reproduced" in out and js["files"][0]["verdict"] == "reproduced"
    worse = moved(provenance={"date": "2026-12-08"}, summary__regret_mean=0.08)
    rc, out, js = _run(reproduce, monkeypatch, tmp_path, "predictor.json", DOC, worse, capsys)
    assert rc == 1 and "outside noise" in out and "summary.regret_mean" in out
    assert "outside the noise: predictor.json" in out
    rc, out, js = _run(reproduce, monkeypatch, tmp_path, "engine.json", DOC, worse, capsys)
    assert rc == 0 and js["files"][0]["verdict"] == "reproduced"  # +11 % is within a timing's ±25 %
    rc, out, js = _run(reproduce, monkeypatch, tmp_path, "predictor.json", DOC, DOC, capsys)
    assert rc == 0 and js["files"][0]["verdict"] == "not re-run"


def test_a_search_is_compared_by_its_summary(reproduce, monkeypatch, tmp_path, capsys):
    rerun = moved(provenance={"date": "2026-12-08"}, rows__0__ratio=9.0, summary__regret_mean=0.08)
    rc, out, js = _run(reproduce, monkeypatch, tmp_path, "oracle.json", DOC, rerun, capsys)
    assert rc == 0 and js["files"][0]["compared"] == "summary"


def test_a_file_that_is_not_json_is_one_line_and_exit_2(reproduce, tmp_path, capsys):
    bad = tmp_path / "predictor.json"
    bad.write_text("{not json", encoding="utf-8")
    assert reproduce.main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "predictor.json: not JSON" in err


def test_raw_samples_and_a_ratio_files_absolute_times_are_not_figures():
    old = {"rows": [{"per_op_s": 1e-6, "rep_ratios": [4.0, 5.0], "verdict_ratio": 4.6}]}
    new = {"rows": [{"per_op_s": 2e-6, "rep_ratios": [9.0, 5.0], "verdict_ratio": 4.7}]}
    assert diff_results(old, new, rtol=0.25, skip=skip_for("engine.json")) == []
    assert [d.path for d in diff_results(old, new, rtol=0.25, skip=skip_for("hw_predict.json"))] == [
        "rows[0].per_op_s"]  # hw_predict's figure is an absolute time
