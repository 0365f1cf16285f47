"""Threshold space, regret surfaces and the threshold predictor (train, save, load, policy)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.agents.learn.predictor import (
    PredictedThresholdPolicy,
    best_constant_cell,
    load_predictor,
    train_predictor,
)
from sparoa_sim.agents.learn.threshold_data import HardwareContext, build_samples, surface, synthetic_graphs
from sparoa_sim.sim.simulator import simulate
from sparoa_sim.errors import PolicyError, SimulationError
from sparoa_sim.sim.policies import ThresholdPolicy
from sparoa_sim.sim.thresholds import S_MAX, default_grid, from_action, rule_placements, to_action
from sparoa_sim.workloads import load_workload


@given(st.floats(-1, 1), st.floats(-1, 1))
def test_action_round_trip(a0, a1):
    ts, ti = from_action([a0, a1])
    assert 0.0 <= ts <= S_MAX and ti > 0
    assert (ts, ti) == from_action([a0, a1], "flop_per_byte")
    np.testing.assert_allclose(to_action(ts, ti), [a0, a1], atol=1e-6)


@pytest.mark.parametrize("bad", [[0.0], [0.0, 1.5], [np.nan, 0.0], [0.0, -np.inf], [[0, 0], [0, 0]]])
def test_bad_actions_rejected(bad):
    with pytest.raises(SimulationError, match="action"):
        from_action(bad)


def test_rule_placements_match_the_policy():
    g = load_workload("resnet18")
    grid = default_grid()
    places = rule_placements(g, grid)
    for k in (0, 17, 77, grid.size - 1):
        ts, ti = grid.pair(k)
        np.testing.assert_array_equal(places[k], ThresholdPolicy(ts, ti).placement(g))
    assert (places[-1] == 1).all()  # τ_s above every sparsity: everything on the GPU


def test_surface_equals_direct_simulation():
    """Each cell's latency is the threshold rule's own run (dedup of placements maps back right)."""
    from sparoa_sim.sim.simulator import Simulator

    g = load_workload("mobilenetv3_small")
    ctx = HardwareContext("jetson-agx-orin-64gb", "MAXN", 0.5, "gpu")
    s = surface(g, ctx)
    grid = default_grid()
    assert s.regret.min() == 0.0 and (s.regret >= 0).all()
    assert len(np.unique(s.latency)) > 1
    for k in (0, 40, 100, grid.size - 1):
        ts, ti = grid.pair(k)
        direct = Simulator(g, "jetson-agx-orin-64gb", ThresholdPolicy(ts, ti), config=ctx.config()).run()
        assert s.latency[k] == direct.latency_mean_s
    gpu = Simulator(g, "jetson-agx-orin-64gb", "gpu", config=ctx.config()).run()
    assert s.latency[-1] == gpu.latency_mean_s  # the top τ_s cell is GPU-only


def test_context_validation():
    with pytest.raises(SimulationError, match="load_on"):
        HardwareContext("jetson-orin-nano-8gb", "15W", 0.5, "disk")
    with pytest.raises(SimulationError, match="load"):
        HardwareContext("jetson-orin-nano-8gb", "15W", 1.5, "cpu")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    rng = np.random.default_rng(0)
    train = build_samples(synthetic_graphs(range(8)), 3, rng)
    test = build_samples(synthetic_graphs(range(100, 103)), 2, rng)
    pred, report = train_predictor(train, test, models=("mlp", "transformer_lstm"), epochs=3, seed=0)
    out = pred.save(tmp_path_factory.mktemp("pred"))
    return pred, report, out, train, test


def test_training_report_is_consistent(tiny_run):
    pred, report, _, train, test = tiny_run
    assert report.model in ("mlp", "transformer_lstm")
    if report.selected_on == "validation":  # chosen on a fifth of train, not on the test it reports
        assert report.per_model_validation[report.model] == min(report.per_model_validation.values())
    else:
        assert report.per_model[report.model] == min(report.per_model.values())
    assert report.regret_mean >= 0 and report.regret_max >= report.regret_mean
    c = best_constant_cell([s for _, s in train])
    assert report.constant_cell == c
    assert report.constant_regret_mean == pytest.approx(np.mean([s.regret[c] for _, s in test]))
    # the report's regret is the regret of the predictor's own picks
    cells = pred.predict_cells([(g, s.context) for g, s in test])
    assert report.regret_mean == pytest.approx(np.mean([s.regret[k] for (_, s), k in zip(test, cells)]), rel=1e-6)


def test_save_load_round_trip_and_policy(tiny_run):
    pred, _, out, _, test = tiny_run
    again = load_predictor(out)
    items = [(g, s.context) for g, s in test]
    np.testing.assert_array_equal(pred.predict_cells(items), again.predict_cells(items))
    g = test[0][0]
    pol = PredictedThresholdPolicy(out)
    r = simulate(g, "jetson-orin-nano-8gb", pol, reference=True)
    ts, ti = pol.thresholds
    want = simulate(g, "jetson-orin-nano-8gb", "threshold", tau_s=ts, tau_i=ti, reference=True)
    assert r.latency_mean_s == want.latency_mean_s
    assert r.placement == want.placement


def test_load_errors(tiny_run, tmp_path):
    _, _, out, _, _ = tiny_run
    with pytest.raises(PolicyError, match="metadata"):
        load_predictor(tmp_path)
    meta = json.loads((out / "metadata.json").read_text())
    (tmp_path / "metadata.json").write_text(json.dumps(dict(meta, feature_version=99)))
    with pytest.raises(PolicyError, match="feature_version"):
        load_predictor(tmp_path)
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    (tmp_path / "predictor.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(PolicyError, match="corrupt"):
        load_predictor(tmp_path)
    with pytest.raises(PolicyError, match="reset"):
        PredictedThresholdPolicy(predictor=load_predictor(out)).decide(None)


def test_bad_temperature_is_refused_and_the_global_generator_is_left_alone(tiny_run):
    import torch

    from sparoa_sim.agents.learn.predictor import train_predictor
    from sparoa_sim.errors import SparOAError

    _, _, _, train, test = tiny_run
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(SparOAError, match="temperature"):
            train_predictor(train, test, epochs=1, temperature=bad)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_predictor(train, test, models=("mlp",), epochs=1, seed=7)
    assert torch.equal(torch.rand(3), expected)
