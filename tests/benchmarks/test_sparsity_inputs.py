"""benchmarks/sparsity_inputs.py on a tiny setting: sweeps, the measured graph and the executor check run
and write what the committed evidence files hold (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparoa_sim.hwmodels.act_sparse import load_act_sweep
from sparoa_sim.ir.graph import load_graph
from bench_scripts import benchmark_script

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = str(ROOT / "tests" / "fixtures" / "host.toml")  # a fresh machine has no calibrated "host" profile


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("sparsity_inputs", "sparsity_inputs_bench") as mod:
        yield mod


@pytest.fixture(scope="module")
def sparse(bench):
    """The zoo's small VGG-16 with the issue's plan applied on 2 images."""
    return bench.sparse_vgg16(reduced=True, batch=2)


@pytest.fixture(scope="module")
def graph(bench, sparse):
    model, xs, _ = sparse
    return bench.measured_graph(model, xs)


def test_cold_shapes_leave_out_1x1_convolutions(bench):
    shapes = bench.cold_shapes()
    assert shapes and all(s[0] != "conv1x1" for s in shapes)
    assert {s[0] for s in shapes} >= {"linear", "matmul"}


def test_sweeps_cli_writes_one_file_per_seed_atomically(bench, tmp_path):
    rc = bench.main(["sweeps", "--cold-out", str(tmp_path / "cold.json"), "--seeds", "3", "5",
                     "--max-shapes", "1", "--sparsities", "0.0", "0.9", "--target-s", "0.002", "--patterns", "2"])
    assert rc == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cold.1.json", "cold.2.json"]  # no temporaries left
    for i, seed in ((1, 3), (2, 5)):
        doc = json.loads((tmp_path / f"cold.{i}.json").read_text())
        assert doc["meta"]["seed"] == seed and doc["meta"]["patterns"] == 2
        assert "sweeps" in doc["meta"]["provenance"]["command"]
        pts = load_act_sweep(tmp_path / f"cold.{i}.json")
        assert [(p.kind, p.sparsity) for p in pts] == [(bench.cold_shapes()[0][0], 0.0),
                                                        (bench.cold_shapes()[0][0], 0.9)]
        assert all(p.dense_s > 0 and p.sparse_s > 0 for p in pts)


def test_sweeps_cli_without_an_output_is_exit_2(bench, capsys):
    assert bench.main(["sweeps"]) == 2
    assert "--cold-out" in capsys.readouterr().err


def test_sparse_vgg16_reaches_the_plan_and_the_graph_measures_it(bench, sparse, graph):
    _, _, reached = sparse
    assert set(reached) == set(bench.VGG_CLASSIFIER)
    for _, consumer, target in bench.VGG_PLAN:
        assert target - 0.01 <= reached[consumer] < 1.0
    acts = {op.name: op.act_sparsity for op in graph.ops if op.kind.value == "linear"}
    for consumer in bench.VGG_CLASSIFIER:
        assert acts[consumer.replace(".", "_")] == pytest.approx(reached[consumer], abs=0.02)


@pytest.mark.slow  # ~5 s on a loaded 2-core host: two oracle solves and the executor timing
def test_validate_records_the_check(bench, sparse, graph):
    model, xs, reached = sparse
    g = graph
    doc = bench.validate(model, xs, g, reached, list(bench.DEFAULT_SWEEPS), oracle_time_limit_s=0.5,
                         runs=2, calls=2, log=lambda _: None, platform=FIXTURE)
    lin = [i for i, op in enumerate(g.ops) if op.kind.value == "linear"]
    assert [str(i) for i in lin] == sorted(doc["check"]["thread_cpu"], key=int)
    assert {o["op"] for o in doc["check"]["ops"]} >= set(lin) | set(doc["oracle_cpu_ops_sparse"])
    assert all(o["measured_ms"] > 0 and o["twin_ms"] > 0 for o in doc["check"]["ops"])
    assert len(doc["load_avg"]) == 3 and doc["reached"] == reached
    assert doc["sweeps"] == [str(p.relative_to(ROOT)) for p in bench.DEFAULT_SWEEPS]
    assert {"act_eta", "act_gather", "act_launch", "median_speedup_error"} <= set(doc["fit"])
    assert doc["sweep_reuse"] == [0.0] * (len(bench.DEFAULT_SWEEPS) - 1) + [1.0]  # the warm sweep last
    for i, r in doc["pattern_reuse"].items():  # ρ of each classifier input, and the twin told it
        assert 0.0 <= r <= 1.0 and doc["check"]["thread_cpu"][i]["reuse"] == r
        assert doc["check"]["thread_cpu"][i]["twin_ms_reuse"] > 0
    json.dumps(doc, default=float)  # the record serialises


def test_measured_graph_cli_writes_a_loadable_graph(bench, sparse, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(bench, "sparse_vgg16", lambda **kw: asked.append(kw) or sparse)  # reuse the fixture's model
    out = tmp_path / "g.json"
    assert bench.main(["measured-graph", "--reduced", "--batch", "2", "--out", str(out)]) == 0
    assert asked == [{"reduced": True, "batch": 2}]
    g = load_graph(out)
    assert g.name == "vgg16_sparse" and any(op.act_sparsity > 0.8 for op in g.ops if op.kind.value == "linear")


def test_user_files_are_what_validate_takes(bench, sparse, tmp_path):
    """The state_dict, images and profile it writes load back: the weights are the sparsified model's,
    the images its inputs, and the profile carries the fitted activation-sparse kernel."""
    import numpy as np

    from sparoa_sim.hwmodels import load_platform

    model, xs, _ = sparse
    files = bench.user_files(model, xs, tmp_path / "uf", bench.DEFAULT_SWEEPS, platform=FIXTURE)
    state = torch.load(files["weights"], weights_only=True)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert np.array_equal(np.load(files["inputs"]), xs.numpy())
    plat, base = load_platform(files["platform"]), load_platform(FIXTURE)
    assert plat.cpu.latency.g_a > 0 and plat.cpu.latency.act_eta != base.cpu.latency.act_eta
    assert not list((tmp_path / "uf").glob("*.tmp*"))


def test_validate_cli_runs_sparoa_validate_on_those_files(bench, sparse):
    """The CLI's validation.json: measured sparsity from the user's inputs, the CPU placement measured."""
    model, xs, _ = sparse
    doc = bench.validate_cli(model, xs, bench.DEFAULT_SWEEPS, FIXTURE, runs=2, reduced=True)
    assert doc["workload"] == "vgg16" and doc["meta"]["sparsity_source"].startswith("measured")
    assert doc["meta"]["inputs"]["samples"] == len(xs)
    (cpu,) = [p for p in doc["placements"] if p["name"] == "cpu"]
    assert cpu["measured_s"] > 0 and cpu["predicted_s"] > 0
