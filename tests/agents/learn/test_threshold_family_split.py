"""The threshold predictor's held-out set holds out whole families (issue 24), and its report
gives the in-sample regret beside the held-out one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sparoa_sim.agents.learn.predictor import train_predictor
from sparoa_sim.agents.learn.threshold_data import (
    HELD_OUT,
    HELD_OUT_FAMILIES,
    build_samples,
    default_split,
    held_out_workloads,
    synthetic_graphs,
)
from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels.held_out import family_of
from sparoa_sim.workloads import list_workloads


def _families(graphs) -> set[str]:
    return {family_of(g.name) for g in graphs}


def test_no_family_is_on_both_sides_of_the_default_split() -> None:
    train, test = default_split(n_synthetic=2)
    assert _families(train).isdisjoint(_families(test))
    shipped_test = {g.name for g in test if not g.name.startswith("synthetic")}
    assert shipped_test == set(HELD_OUT) == set(held_out_workloads())
    assert {family_of(w) for w in shipped_test} == set(HELD_OUT_FAMILIES)
    # every shipped workload is on exactly one side
    shipped_train = {g.name for g in train if not g.name.startswith("synthetic")}
    assert shipped_train | shipped_test == set(list_workloads()) and not shipped_train & shipped_test


def test_holding_out_one_variant_holds_out_its_whole_family() -> None:
    assert held_out_workloads(("resnet50_pruned50",)) == ("resnet50", "resnet50_pruned50", "resnet50_pruned80")
    train, test = default_split(n_synthetic=1, held_out=("resnet50_pruned50", "swin_t"))
    assert {g.name for g in test if not g.name.startswith("synthetic")} == {
        "resnet50", "resnet50_pruned50", "resnet50_pruned80", "swin_t"}
    assert not any(family_of(g.name) in ("resnet50", "swin_t") for g in train)


def test_the_shipped_held_out_tuple_is_closed_under_families() -> None:
    """HELD_OUT lists every shipped member of its families: a family that leaks fails here."""
    for w in list_workloads():
        assert (w in HELD_OUT) == (family_of(w) in HELD_OUT_FAMILIES), w


def test_an_unknown_held_out_name_is_refused() -> None:
    with pytest.raises(SimulationError, match="held_out.*resnet5\\b"):
        default_split(n_synthetic=1, held_out=("resnet5",))


@pytest.fixture(scope="module")
def run():
    rng = np.random.default_rng(3)
    train = build_samples(synthetic_graphs(range(3)), 2, rng)  # 6 samples: a validation fifth exists
    test = build_samples(synthetic_graphs(range(300, 301)), 2, rng)
    pred, report = train_predictor(train, test, models=("mlp", "transformer_lstm"), epochs=2, seed=0)
    return train, test, pred, report


def test_the_report_gives_the_in_sample_regret_of_the_surfaces_fitted_on(run) -> None:
    train, _test, pred, rep = run
    fitted = [train[i] for i in range(len(train)) if i % 5 != 4]  # train less every fifth (validation)
    assert rep.n_fit == len(fitted) == 5
    cells = pred.predict_cells([(g, s.context) for g, s in fitted])
    regrets = [s.regret[k] for (_, s), k in zip(fitted, cells, strict=True)]
    assert rep.train_regret_mean == pytest.approx(float(np.mean(regrets)), rel=1e-6)
    assert rep.train_regret_max == pytest.approx(float(np.max(regrets)), rel=1e-6)
    const = np.mean([s.regret[rep.constant_cell] for _, s in fitted])
    assert rep.constant_train_regret_mean == pytest.approx(float(const), rel=1e-6)
    d = rep.to_dict()
    assert {"train_regret_mean", "regret_mean", "n_fit"} <= set(d)


def test_one_model_reports_in_sample_on_all_of_train(run) -> None:
    """Random surfaces (no cell wins everywhere): the in-sample regret is the kept model's own, > 0."""
    train, test, _, _ = run
    rng = np.random.default_rng(0)
    noisy = [(g, dataclasses.replace(s, latency=rng.uniform(1.0, 2.0, s.latency.shape))) for g, s in train]
    pred, rep = train_predictor(noisy, test, models=("mlp",), epochs=2, seed=0)
    assert rep.n_fit == len(noisy) and rep.selected_on == "test"
    cells = pred.predict_cells([(g, s.context) for g, s in noisy])
    own = float(np.mean([s.regret[k] for (_, s), k in zip(noisy, cells, strict=True)]))
    assert rep.train_regret_mean == pytest.approx(own, rel=1e-6) and rep.train_regret_mean > 0.0
