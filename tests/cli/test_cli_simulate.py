"""``sparoa simulate`` (JSON keys, exit status 2 on bad input) and the trace / Gantt outputs."""

from __future__ import annotations

import argparse
import json

import pytest

from sparoa_sim.cli import main
from sparoa_sim.cli.simulate import read_simulate_args
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.results import SUMMARY_KEYS
from sparoa_sim.sim.simulator import Simulator

W, P = "resnet18", "jetson-orin-nano-8gb"


def run_cli(argv, capsys):
    """``sparoa ARGV`` in-process: exit status, stdout, stderr."""
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_simulate_json_has_the_design_keys_and_writes_trace_and_gantt(tmp_path, capsys):
    tr, png = tmp_path / "t.json", tmp_path / "g.png"
    code, out, err = run_cli(["simulate", "--workload", W, "--platform", P, "--policy", "threshold", "--requests", "4",
                              "--arrival", "poisson:200", "--seed", "3", "--trace", str(tr), "--gantt", str(png),
                              "--json"], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    for key in SUMMARY_KEYS + ("cpu_util", "gpu_util", "transfers", "transfer_bytes", "n_requests", "placement",
                               "energy_j", "throughput_rps"):
        assert key in doc
    assert doc["n_requests"] == 4 and doc["trace"] == str(tr) and doc["gantt"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    chrome = json.loads(tr.read_text())
    names = {e["args"]["name"] for e in chrome["traceEvents"] if e["name"] == "thread_name"}
    assert {"CPU", "GPU", "host dispatch", "transfers"} <= names
    ops = [e for e in chrome["traceEvents"] if e.get("cat") == "op"]
    assert len(ops) == 4 * 68  # threshold splits nothing
    assert all({"requests", "batch", "job"} <= set(e["args"]) for e in ops)
    assert all(e["ph"] == "X" and e["dur"] >= 0 for e in ops)


def test_simulate_table_and_reference(capsys):
    code, out, _ = run_cli(["simulate", "--workload", W, "--platform", P, "--reference", "--policy", "cpu"], capsys)
    assert code == 0 and "latency mean" in out and "reference" in out


@pytest.mark.parametrize("argv, fragment", [
    (["--policy", "bogus"], "unknown policy 'bogus'"),
    (["--arrival", "poisson:-5"], "rate"),
    (["--batch", "0"], "--batch"),
    (["--batch", "auto"], "batch-size optimiser"),
    (["--requests", "0"], "--requests"),
    (["--policy", "cpu", "--tau-s", "0.3"], "threshold only"),
    (["--mode", "1W"], "power mode"),
    (["--arrival", "trace:/no/such/file"], "arrival trace"),
    (["--tf32", "matmul"], "--tf32"),
])
def test_simulate_bad_input_exits_2_with_one_line(argv, fragment, capsys):
    code, out, err = run_cli(["simulate", "--workload", W, "--platform", P, *argv], capsys)
    assert code == 2 and out == ""
    assert fragment in err and len(err.strip().splitlines()) == 1


def test_simulate_tf32_flag_reaches_the_twin_and_the_record(capsys):
    """--tf32: default from the profile ("conv"); "all" speeds FP32 GEMMs up on the GPU (TF32 tensor
    cores); "none" puts convolutions back on the CUDA cores; the record says which."""
    def lat(*extra):
        code, out, err = run_cli(["simulate", "--workload", "vit_b_16", "--platform", P, "--policy", "gpu",
                                  "--reference", "--json", *extra], capsys)
        assert code == 0, err
        doc = json.loads(out)
        return doc["tf32"], doc["latency_mean_s"]

    (t0, base), (t1, conv), (t2, full) = lat(), lat("--tf32", "conv"), lat("--tf32", "all")
    assert (t0, t1, t2) == ("conv", "conv", "all")
    assert base == conv and full < conv
    tn, _ = lat("--tf32", "none")
    assert tn == "none"
    code, out, _ = run_cli(["simulate", "--workload", W, "--platform", P, "--reference", "--tf32", "none"], capsys)
    assert code == 0 and "tf32 none" in out


def test_simulate_schedule_file(tmp_path, capsys, resnet18):
    from sparoa_sim.sim.policies import StaticSchedule

    path = StaticSchedule([1.0] * len(resnet18), workload="resnet18").save(tmp_path / "s.json")
    code, out, err = run_cli(["simulate", "--workload", W, "--platform", P, "--policy", str(path), "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["gpu_busy_s"] > 0
    bad = StaticSchedule([1.0] * 3).save(tmp_path / "bad.json")
    code, _, err = run_cli(["simulate", "--workload", W, "--platform", P, "--policy", str(bad)], capsys)
    assert code == 2 and "'placement' has 3 entries" in err


def test_options_are_read_once_and_the_namespace_is_left_as_given():
    """``--policy tensorrt`` resolves to the fused graph on the GPU at fp16_tc in a value, not by
    rewriting the parsed arguments; the workload is loaded once and the arrival parsed once."""
    from sparoa_sim.cli import build_parser

    args = build_parser().parse_args(["simulate", "--workload", W, "--platform", P, "--policy", "tensorrt",
                                      "--arrival", "poisson:50", "--requests", "3"])
    before = dict(vars(args))
    run = read_simulate_args(args)
    assert vars(args) == before and isinstance(args.workload, str)
    assert run.policy == "gpu" and run.precision == "fp16_tc" and run.batch == 1
    assert run.graph.name.startswith(W) and run.arrivals.n_requests == 3 and run.platform.name == P
    assert isinstance(args, argparse.Namespace)


def test_trace_is_deterministic_and_decodes(resnet18, platform):
    def once():
        sim = Simulator(resnet18, platform, "random", config=SimConfig(), seed=4)
        sim.run()
        return sim.trace()

    a, b = once(), once()
    assert a.to_json() == b.to_json()
    slices = a.slices()
    assert {s.kind for s in slices} >= {"op", "launch", "transfer"}
    assert len(a.ops()) == len(resnet18)
    assert sum(1 for s in slices if s.kind == "transfer") == Simulator(resnet18, platform, "random",
                                                                       seed=4).run().transfers
    counters = [e for e in a.to_chrome()["traceEvents"] if e["ph"] == "C"]
    assert counters  # background load shown as counters


def test_results_round_trip_json(resnet18, platform):
    res = Simulator(resnet18, platform, "gpu").run()
    doc = json.loads(res.to_json())
    assert doc["latencies_s"] == list(res.latencies_s)
    assert "latencies_s" not in res.to_dict(per_request=False)
    assert set(res.summary()) == set(SUMMARY_KEYS)
