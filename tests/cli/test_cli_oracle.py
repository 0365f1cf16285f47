"""``sparoa oracle``: one JSON object, a schedule file ``sparoa simulate`` replays, one-line errors."""

from __future__ import annotations

import json

import pytest

from sparoa_sim.cli import main
from sparoa_sim.ir.graph import save_graph
from sparoa_sim.ir.synthetic import generate


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("oracle") / "g.json"
    save_graph(generate(11, target_ops=24), path)
    return path


def test_oracle_json_and_schedule_file(graph_file, tmp_path, capsys):
    out = tmp_path / "schedule.json"
    rc = main(["oracle", "--workload", str(graph_file), "--platform", "jetson-agx-orin-64gb", "--time-limit", "20",
               "--workers", "1", "--seed", "0", "-o", str(out), "--json"])
    assert rc == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    for key in ("latency_s", "bound_s", "optimal", "gap_vs_best_baseline", "best_baseline", "baselines_s"):
        assert key in doc
    assert doc["optimal"] is True
    assert doc["gap_vs_best_baseline"] == pytest.approx(doc["latency_s"] / doc["best_baseline_s"] - 1)
    assert doc["replay_latency_s"] == pytest.approx(doc["latency_s"], rel=1e-12)
    assert "oracle:" in cap.err  # progress on stderr
    for name in ("cpu", "gpu", "greedy", "heft", "threshold"):
        assert doc["latency_s"] <= doc["baselines_s"][name] * (1 + 1e-3)
    rc = main(["simulate", "--workload", str(graph_file), "--platform", "jetson-agx-orin-64gb", "--policy", str(out),
               "--reference", "--json"])
    assert rc == 0
    sim = json.loads(capsys.readouterr().out)
    assert sim["latency_mean_s"] == pytest.approx(doc["latency_s"], rel=1e-12)


def test_oracle_table(graph_file, capsys):
    assert main(["oracle", "--workload", str(graph_file), "--platform", "jetson-orin-nano-8gb", "--time-limit", "20"]) == 0
    out = capsys.readouterr().out
    assert "oracle lower bound" in out and "heft" in out


@pytest.mark.parametrize("args, match", [
    (["--time-limit", "0"], "--time-limit"), (["--time-limit", "inf"], "--time-limit"), (["--workers", "0"], "--workers"),
    (["--seed", "-1"], "--seed"), (["--batch", "x"], "--batch"), (["--mode", "TURBO"], "TURBO")])
def test_oracle_bad_input_is_one_line(graph_file, capsys, args, match):
    rc = main(["oracle", "--workload", str(graph_file), "--platform", "jetson-orin-nano-8gb", *args])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]


def test_oracle_levers_reach_the_solver(graph_file, capsys, monkeypatch):
    """--search-evals, --subsolvers and --chain-bound are passed to solve_oracle as given (the real solve runs)."""
    from sparoa_sim.agents.exact import oracle as omod

    seen = {}
    real = omod.solve_oracle

    def spy(*a, **k):
        seen.update(k)
        return real(*a, **k)

    monkeypatch.setattr(omod, "solve_oracle", spy)
    rc = main(["oracle", "--workload", str(graph_file), "--platform", "jetson-agx-orin-64gb", "--time-limit", "20",
               "--workers", "2", "--search-evals", "200", "--subsolvers", "objective_lb_search", "--chain-bound",
               "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert (seen["search_evals"], seen["subsolvers"], seen["chain_bound"]) == (200, ("objective_lb_search",), True)
    assert doc["latency_s"] >= doc["bound_s"] * (1 - 1e-3)


@pytest.mark.parametrize("args, match", [(["--search-evals", "0"], "--search-evals"),
                                         (["--subsolvers", "nope_solver", "--workers", "2"], "nope_solver")])
def test_oracle_bad_lever_is_one_line(graph_file, capsys, args, match):
    rc = main(["oracle", "--workload", str(graph_file), "--platform", "jetson-orin-nano-8gb", *args])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0]
