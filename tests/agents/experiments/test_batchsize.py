"""Batch-size optimiser: the highest throughput within the SLO, infeasible SLOs refused; CLI wiring."""

from __future__ import annotations

import json

import pytest

from sparoa_sim.agents.experiments.batchsize import optimise_batch
from sparoa_sim.cli import main
from sparoa_sim.sim.simulator import simulate
from sparoa_sim.errors import SimulationError
from sparoa_sim.ir.graph import save_graph
from sparoa_sim.ir.synthetic import generate

PLATFORM = "jetson-agx-orin-64gb"


@pytest.fixture(scope="module")
def small():
    """A small, launch-bound graph: batching raises its capacity almost linearly."""
    return generate(0, target_ops=20, size_scale=0.25)


@pytest.fixture(scope="module")
def cap1(small):
    return 1.0 / simulate(small, PLATFORM, "gpu", reference=True).latency_mean_s


def test_overload_at_batch_1_is_served_by_batching(small, cap1):
    """At twice batch 1's capacity batch 1 misses a tight SLO (7 batch-1 latencies); a larger batch meets it."""
    slo = 7.0 / cap1
    c = optimise_batch(small, PLATFORM, rate_rps=2 * cap1, slo_s=slo, reference=True, requests=200)
    by = {e.batch: e for e in c.candidates}
    assert not by[1].feasible and by[1].latency_s > slo
    assert c.batch > 1 and by[c.batch].feasible
    feasible = [e for e in c.candidates if e.feasible]
    assert c.throughput_rps >= max(e.throughput_rps for e in feasible) * 0.99
    assert c.latency_s <= c.slo_s
    assert c.requests == 200 and c.to_dict()["batch"] == c.batch


def test_lightly_loaded_prefers_the_lowest_latency(small, cap1):
    """Far below capacity every batch size carries the rate; waiting to fill a batch only adds latency."""
    c = optimise_batch(small, PLATFORM, rate_rps=0.05 * cap1, slo_s=10.0, reference=True, candidates=(1, 4, 16),
                       requests=100)
    assert c.batch == 1
    lat = [e.latency_s for e in c.candidates]
    assert lat == sorted(lat)


def test_infeasible_slo_is_a_clear_error(small, cap1):
    with pytest.raises(SimulationError, match=r"infeasible at .* req/s.*best p95 latency"):
        optimise_batch(small, PLATFORM, rate_rps=cap1 / 2, slo_s=1e-6, reference=True, candidates=(1, 2), requests=50)


@pytest.mark.parametrize("kw, match", [({"rate_rps": 0}, "rate_rps"), ({"slo_s": -1.0}, "slo_s"),
                                       ({"stat": "p42"}, "stat"), ({"candidates": (0, 2)}, "candidates"),
                                       ({"candidates": ()}, "candidates")])
def test_bad_arguments(small, kw, match):
    args = {"rate_rps": 10.0, "slo_s": 1.0, **kw}
    with pytest.raises(SimulationError, match=match):
        optimise_batch(small, PLATFORM, requests=10, **args)


def test_cli_batch_auto(small, cap1, tmp_path, capsys):
    path = tmp_path / "g.json"
    save_graph(small, path)
    argv = ["simulate", "--workload", str(path), "--platform", PLATFORM, "--reference", "--batch", "auto",
            "--slo-ms", f"{7e3 / cap1:.6g}", "--arrival", f"poisson:{2 * cap1}", "--requests", "200", "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    auto = doc["batch_auto"]
    assert doc["max_batch"] == auto["batch"] > 1
    assert doc["latency_p95_s"] == pytest.approx(auto["latency_s"], rel=1e-12)  # the chosen run, reproduced
    for bad, match in ((["--slo-ms", "5"], "poisson"), (["--arrival", "poisson:10"], "--slo-ms")):
        rc = main(["simulate", "--workload", str(path), "--platform", PLATFORM, "--batch", "auto", *bad])
        assert rc == 2 and match in capsys.readouterr().err
    rc = main(["simulate", "--workload", str(path), "--platform", PLATFORM, "--batch", "auto", "--slo-ms", "0.0001",
               "--arrival", "poisson:100", "--requests", "20", "--batch-candidates", "1,2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and "infeasible" in err[-1]


def test_cli_tensorrt_and_baselines_by_name(capsys):
    base = ["simulate", "--workload", "resnet18", "--platform", "jetson-orin-nano-8gb", "--reference", "--json"]
    assert main(base + ["--policy", "tensorrt"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["precision"] == "fp16_tc" and doc["workload"] == "resnet18_fused"
    assert main(base + ["--policy", "heft"]) == 0
    assert json.loads(capsys.readouterr().out)["policy"] == "heft"
    assert main(base + ["--policy", "tensorrt", "--precision", "fp16"]) == 2
