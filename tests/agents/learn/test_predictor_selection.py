"""How ``train_predictor`` picks its model: on a validation fifth of the training samples, or —
where no fifth can be kept (fewer than five samples) or there is nothing to choose (one model) —
on the held-out set, which the report then says (``selected_on="test"``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sparoa_sim.agents.learn.predictor import train_predictor
from sparoa_sim.agents.learn.threshold_data import build_samples, synthetic_graphs

MODELS = ("mlp", "transformer_lstm")


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(1)
    train = build_samples(synthetic_graphs(range(3)), 2, rng)  # 6 samples: a validation fifth exists
    test = build_samples(synthetic_graphs(range(200, 202)), 2, rng)
    return train, test


@pytest.fixture(scope="module")
def scrambled(samples):
    """The held-out samples with random surfaces: on the real ones every model picks a winning cell
    (regret 0, a tie), so which model the fallback keeps would not show."""
    _, test = samples
    rng = np.random.default_rng(0)
    return [(g, dataclasses.replace(s, latency=rng.uniform(1.0, 2.0, s.latency.shape))) for g, s in test]


def _own_regret(pred, test) -> float:
    cells = pred.predict_cells([(g, s.context) for g, s in test])
    return float(np.mean([s.regret[k] for (_, s), k in zip(test, cells)]))


@pytest.mark.parametrize("models", [MODELS, MODELS[::-1]], ids=["mlp-first", "transformer-first"])
def test_too_few_samples_fall_back_to_the_held_out_set_and_say_so(samples, scrambled, models):
    train, test = samples[0], scrambled
    pred, report = train_predictor(train[:4], test, models=models, epochs=3, seed=0)
    assert report.selected_on == "test" and report.per_model_validation == {}
    assert set(report.per_model) == set(MODELS)
    # the model kept is the one with the lower held-out regret, whichever order they were given in
    assert report.per_model[report.model] < min(v for m, v in report.per_model.items() if m != report.model)
    assert report.regret_mean == report.per_model[report.model]
    assert report.regret_mean == pytest.approx(_own_regret(pred, test), rel=1e-6)
    assert report.n_train == 4


def test_one_model_is_kept_without_a_choice(samples):
    train, test = samples
    pred, report = train_predictor(train, test, models=("mlp",), epochs=3, seed=0)
    assert (report.model, report.selected_on, report.per_model_validation) == ("mlp", "test", {})
    assert report.regret_mean == pytest.approx(_own_regret(pred, test), rel=1e-6)


def test_five_or_more_samples_choose_on_validation_not_on_the_test(samples):
    train, test = samples
    _, report = train_predictor(train, test, models=MODELS, epochs=3, seed=0)
    assert report.selected_on == "validation" and set(report.per_model_validation) == set(MODELS)
    assert report.model == min(MODELS, key=lambda m: report.per_model_validation[m])
    assert all(v >= 0 for v in report.per_model_validation.values())
