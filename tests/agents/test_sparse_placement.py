"""Placement follows sparsity (issue 19, done-when): on VGG-16 with >= 90 % zero inputs to its three
classifier layers, the twin, the oracle and the learned scheduler (ILS) move to the CPU exactly the
operators the kernel measurements say win there — and nothing moves without the sparse kernel.

The platform is the shipped host example (this 2-core CPU, the Orin Nano's GPU) with the
activation-sparse kernel fitted to the committed cache-cold sweeps of this host
(``benchmarks/results/sparsity_sweep_cold.*.json``, ``sparsity_sweep_vgg.json``). "Win there":
the measured activation-sparse time at the operator's shape and sparsity beats both the measured
dense CPU time and the GPU's time (the twin's: there is no GPU on this host).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sparoa_sim.agents.exact.oracle import solve_oracle
from sparoa_sim.agents.exact.refsched import RefProblem
from sparoa_sim.agents.learn.placement_search import TrainingState, train_placement
from sparoa_sim.agents.learn.placement_train import teachers_at
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.hwmodels.act_sparse import fit_act_sparse, load_act_sweep, median_points, sweep_lookup
from sparoa_sim.hwmodels.calibrate import ACT_OFFERED_KINDS
from sparoa_sim.hwmodels.latency import KERNELS, predict
from sparoa_sim.ir.sparsity import act_sweep_shape, with_act_sparsity
from sparoa_sim.plots import device_preference
from sparoa_sim.workloads import load_workload

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
HOST = ROOT / "hwmodels" / "profiles" / "examples" / "host-example.toml"
#: VGG-16's classifier layers (fc1, fc2, fc3) and the share of zeros in their inputs.
PLAN = {32: 0.90, 34: 0.97, 36: 0.95}


def _points():
    """One point per (shape, sparsity): the medians over the committed cold sweeps (offered kinds)."""
    files = sorted(RESULTS.glob("sparsity_sweep_cold.*.json")) + [RESULTS / "sparsity_sweep_vgg.json"]
    return [p for p in median_points([load_act_sweep(f) for f in files]) if p.kind in ACT_OFFERED_KINDS]


@pytest.fixture(scope="module")
def case():
    points = _points()
    dense = load_platform(HOST)
    sparse, _ = fit_act_sparse(dense, points, kinds=ACT_OFFERED_KINDS)
    graph = load_workload("vgg16")
    for i, s in PLAN.items():
        graph = with_act_sparsity(graph, s, ops=[i], label="vgg16_sparse")
    return graph, dense, sparse, points


def measured_winners(graph, platform, points) -> set[int]:
    """Operators whose measured activation-sparse CPU time beats dense and the GPU (swept shapes only)."""
    gpu = predict(platform, graph.hw_ops).latency[:, 1]
    won = set()
    for i, op in enumerate(graph.ops):
        shape = act_sweep_shape(op)
        pt = None if shape is None else sweep_lookup(points, *shape, op.act_sparsity)
        if pt is not None and pt.sparse_s < min(pt.dense_s, gpu[i]):
            won.add(i)
    return won


def cpu_ops(placement) -> set[int]:
    return {i for i, x in enumerate(placement) if x < 1.0}


def test_the_case_is_swept_and_the_measurements_pick_fc2_only(case):
    graph, dense, sparse, points = case
    assert all(graph.ops[i].kind.value == "linear" and graph.ops[i].act_sparsity >= 0.9 for i in PLAN)
    for i in PLAN:  # every classifier layer was measured at its shape and sparsity
        assert sweep_lookup(points, *act_sweep_shape(graph.ops[i]), PLAN[i]).sparsity == PLAN[i]
    # fc1 at 90 %: the sparse kernel beats dense but not the GPU; fc3 at 95 %: not the GPU either
    assert measured_winners(graph, sparse, points) == {34}


def test_the_twin_prefers_the_cpu_exactly_where_measured(case):
    graph, dense, sparse, points = case
    pref = device_preference(graph, sparse)
    assert set(pref.moved) == measured_winners(graph, sparse, points)
    assert not device_preference(graph, dense).moved  # no activation-sparse kernel: nothing changes
    kern = predict(sparse, graph.hw_ops).kernels_chosen[:, 0]
    assert all(KERNELS[kern[i]] == "act_sparse" for i in PLAN)  # on the CPU each would run it


def test_the_oracle_moves_exactly_the_winners(case):
    graph, dense, sparse, points = case
    off = solve_oracle(graph, dense, time_limit_s=20)
    on = solve_oracle(graph, sparse, time_limit_s=20)
    assert off.optimal and on.optimal
    assert cpu_ops(off.schedule.placement) == set()
    assert cpu_ops(on.schedule.placement) == measured_winners(graph, sparse, points)
    assert on.latency_s < off.latency_s


def test_the_learned_scheduler_moves_exactly_the_winners(case):
    graph, dense, sparse, points = case
    moved = []
    for plat in (dense, sparse):
        p = RefProblem.build(graph, plat)
        heur = teachers_at(p, graph.name)
        name = min(heur, key=lambda h: (heur[h][0], h))
        r = train_placement([TrainingState(p, heur[name][1], name, heur[name][0])], graph.name, time_budget_s=None,
                            max_evaluations=400, seed=0)
        moved.append(cpu_ops(r.policy.schedule(p).placement))
    assert moved[0] == set()
    assert moved[1] == measured_winners(graph, sparse, points)


def test_at_the_init_sparsity_the_sparse_kernel_moves_nothing(case):
    _graph, dense, sparse, _points = case
    graph = load_workload("vgg16")  # random-init sparsity: far below any break-even
    assert not device_preference(graph, sparse).moved
    assert cpu_ops(solve_oracle(graph, sparse, time_limit_s=20).schedule.placement) == set()
