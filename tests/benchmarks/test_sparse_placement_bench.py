"""benchmarks/sparsity_placement.py: the cases it evaluates and one case's record."""

from __future__ import annotations


import pytest
from bench_scripts import benchmark_script



@pytest.fixture(scope="module")
def bench():
    with benchmark_script("sparsity_placement", "sparsity_placement_bench") as mod:
        yield mod


def test_cases_cover_every_source_that_exists(bench):
    cases = {(w, s) for w, s, _ in bench.graphs()}
    assert {(w, "init") for w in bench.WORKLOADS} <= cases
    assert ("vit_b_16", "published") not in cases  # no published figure for ViT
    assert ("resnet18", "published") in cases and ("vgg16", "measured (substitute)") in cases
    measured = next(g for w, s, g in bench.graphs() if s.startswith("measured"))
    assert min(measured.ops[i].act_sparsity for i in (32, 34, 36)) >= 0.9 and measured.records_sparsity


@pytest.mark.slow
def test_one_case_moves_fc2_only_with_the_kernel_on(bench):
    off, on, rep = bench.platforms()
    assert rep["n"] >= 80 and on.cpu.latency.act_kinds and not off.cpu.latency.act_kinds
    g = next(g for w, s, g in bench.graphs() if s.startswith("measured"))
    a, b = bench.evaluate_case(g, off, ils_evals=200), bench.evaluate_case(g, on, ils_evals=200)
    assert a["oracle_cpu_ops"] == [] and b["oracle_cpu_ops"] == [34] and b["ils_cpu_ops"] == [34]
    assert b["oracle_ms"] < a["oracle_ms"] and b["threshold_best_ms"] <= a["threshold_best_ms"]
