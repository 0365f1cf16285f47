"""``evaluate``'s ``learned`` cells and ``sparoa evaluate --lams``: the real scheduler trains (on a
tiny budget, with fewer behaviour-cloning steps), and the row reports what it trained and shipped."""

from __future__ import annotations

import dataclasses
import json

import pytest

import sparoa_sim.agents.experiments.evaluate as ev
from sparoa_sim.cli import main

W, P, M = "mobilenetv3_small", "jetson-orin-nano-8gb", "15W"


@pytest.fixture
def trained(monkeypatch):
    """Wrap the real ``train_scheduler`` to train briefly and keep each config and result it gave."""
    import sparoa_sim.agents.learn.scheduler as sch

    real, runs = sch.train_scheduler, []

    def brief(cfg, *args, **kwargs):
        cfg = dataclasses.replace(cfg, bc_episodes=1, bc_steps=50, n_steps=64, eval_every=64)
        result = real(cfg, *args, **kwargs)
        runs.append((cfg, result))
        return result

    monkeypatch.setattr(sch, "train_scheduler", brief)
    return runs


def test_a_learned_cell_trains_for_its_case_and_reports_the_shipped_schedule(trained):
    from sparoa_sim.sim.simulator import simulate

    cell = ev.Cell(W, P, M, "learned", seed=2, lam=0.25, learn_budget_s=0.5)
    row = ev.run_cell(cell)
    [(cfg, tr)] = trained
    assert (cfg.workloads, cfg.platform, cfg.mode, cfg.seed, cfg.lam, cfg.time_budget_s, cfg.algo) == \
        ((W,), P, M, 2, 0.25, 0.5, "maskable-ppo")
    shipped = simulate(W, P, tr.schedule(W), reference=True, mode=M, batch=1, requests=1, seed=2)
    assert row["latency_s"] == shipped.latency_mean_s
    assert row["energy_per_inference_j"] == shipped.energy_per_inference_j
    assert (row["gpu_ops"], row["split_ops"]) == (shipped.gpu_ops, shipped.split_ops)
    assert row["timesteps"] == tr.timesteps and row["train_s"] == tr.train_s > 0
    assert row["teacher"] == tr.teacher[W][0] and row["source"] == tr.final[W]["source"]
    assert row["policy_latency_s"] == tr.best_latency_s[W]
    assert {k: row[k] for k in ("workload", "platform", "mode", "policy", "seed", "lam")} == \
        {"workload": W, "platform": P, "mode": M, "policy": "learned", "seed": 2, "lam": 0.25}
    json.dumps(row, allow_nan=False)  # a row is a JSON line of cells.jsonl


def test_evaluate_lams_adds_learned_cells_per_weight_and_a_pareto_plot(trained, tmp_path, capsys):
    out = tmp_path / "ev"
    code = main(["evaluate", "--workloads", W, "--platforms", P, "--modes", M, "--policies", "cpu,gpu",
                 "--lams", "0,0.5", "--learn-budget", "0.5", "-o", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    # λ = 0 adds no learned cell ("learned" is not among --policies); λ = 0.5 adds one, trained at 0.5
    assert [cfg.lam for cfg, _ in trained] == [0.5]
    rows = [json.loads(line) for line in (out / "cells.jsonl").read_text().splitlines()]
    assert sorted((r["policy"], r["lam"]) for r in rows) == [("cpu", 0.0), ("gpu", 0.0), ("learned", 0.5)]
    assert doc["cells"] == 3
    # the printed table is the λ = 0 one; the λ sweep goes to the Pareto plot of the case
    assert sorted(r["policy"] for r in doc["summary"]) == ["cpu", "gpu"]
    assert all(r["lam"] == 0.0 for r in doc["summary"])
    plot = doc["files"][f"pareto[{W}/{P}/{M}]"]
    assert plot.endswith(".png") and open(plot, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert ("learned", 0.5) in {(r["policy"], r["lam"]) for r in summary["summary"]}


@pytest.mark.parametrize("lams, fragment", [("-1", "must be >= 0"), ("0,x", "comma-separated numbers"),
                                            ("nan", "must be >= 0")])
def test_evaluate_refuses_bad_lams(lams, fragment, tmp_path, capsys):
    code = main(["evaluate", "--workloads", W, "--platforms", P, "--policies", "cpu", "--lams", lams,
                 "-o", str(tmp_path / "ev")])
    err = capsys.readouterr().err
    assert code == 2 and "--lams" in err and fragment in err
    assert not (tmp_path / "ev").exists()
