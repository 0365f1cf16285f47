"""The speed benchmarks judge the median of paired measurements (engine: repetitions; env: rounds)."""

from __future__ import annotations

import pytest

from bench_scripts import benchmark_script


@pytest.fixture(scope="module")
def engine():
    with benchmark_script("engine", "engine_verdict_test") as mod:
        yield mod


@pytest.fixture(scope="module")
def env_speed():
    with benchmark_script("env_speed", "env_speed_verdict_test") as mod:
        yield mod


def _row(policy, reference, best, median):
    return {"policy": policy, "reference": reference, "ratio": best, "median_rep_ratio": median}


def test_engine_verdict_is_the_median_of_paired_repetitions(engine):
    rows = [_row("gpu", False, 7.1, 4.6), _row("threshold", False, 5.1, 4.9), _row("random", False, 8.7, 7.5),
            _row("cpu", False, 4.0, 5.2), _row("random", True, 99.0, 99.0)]
    headline, misses = engine.judge(rows)
    assert [r["met"] for r in rows] == [True, True, True, False, False]
    assert [r["verdict_ratio"] for r in rows] == [4.6, 4.9, 7.5, 5.2, 99.0]
    assert [m["policy"] for m in misses] == ["cpu"]  # full setting only; the best-of 4.0 does not rescue it
    assert headline["policy"] == "cpu"
    _, none = engine.judge(rows[:3])
    assert none == []


def test_env_verdict_is_the_median_of_paired_rounds(env_speed):
    best = {"CartPole-v1": 100.0, "default": 45.0, "reference": 60.0}
    rounds = {"default": [0.40, 0.55, 0.52], "reference": [0.2, 0.45, 0.7]}
    rows = env_speed.result_rows(best, rounds, "resnet50")
    by = {r["config"]: r for r in rows}
    assert by["default"]["ratio_to_cartpole"] == pytest.approx(0.45)
    assert by["default"]["verdict_ratio"] == 0.52 and by["default"]["meets_target"]
    assert by["reference"]["verdict_ratio"] == 0.45 and not by["reference"]["meets_target"]
    line = env_speed.summary_line(rows)
    assert "worst reference 0.450" in line and "MISSED by 1: reference 0.450" in line
