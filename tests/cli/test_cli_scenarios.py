"""The scenario options on the command line: ``sparoa scenarios``, ``--scenario``, ``--background``, ``--corun``."""

from __future__ import annotations

import json

import pytest

from sparoa_sim.cli import main

W, P = "resnet18", "jetson-orin-nano-8gb"


def run_cli(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_scenarios_list_and_show_round_trip(tmp_path, capsys):
    code, out, _ = run_cli(["scenarios", "list", "--json"], capsys)
    names = [r["name"] for r in json.loads(out)["scenarios"]]
    assert code == 0 and {"idle", "gpu-shared-heavy", "camera-30fps", "detector-classifier"} <= set(names)
    code, out, _ = run_cli(["scenarios", "show", "gpu-shared-heavy"], capsys)
    assert code == 0 and 'gpu = 0.8' in out
    f = tmp_path / "mine.toml"
    f.write_text(out)
    code, out2, _ = run_cli(["scenarios", "show", str(f), "--json"], capsys)
    assert code == 0 and json.loads(out2)["background"] == {"kind": "fixed", "cpu": 0.0, "gpu": 0.8}


def test_oracle_at_a_fixed_load_is_replayed_exactly(capsys):
    code, out, _ = run_cli(["oracle", "--workload", W, "--platform", P, "--mode", "15W", "--background", "gpu=0.8",
                            "--time-limit", "5", "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["load"] == [0.0, 0.8]
    assert doc["replay_latency_s"] == doc["latency_s"]
    assert doc["baselines_s"]["gpu"] > doc["latency_s"]  # GPU-only pays the whole 80 % share
    code, out, _ = run_cli(["oracle", "--workload", W, "--platform", P, "--mode", "15W", "--scenario",
                            "gpu-shared-heavy", "--time-limit", "5", "--json"], capsys)
    assert code == 0 and json.loads(out)["latency_s"] == doc["latency_s"]


@pytest.mark.parametrize("argv, needle", [
    (["oracle", "--scenario", "gpu-shared-varying"], "changing background load"),
    (["oracle", "--scenario", "camera-30fps"], "runs a request stream"),
    (["oracle", "--scenario", "nope"], "unknown scenario 'nope'"),
    (["oracle", "--background", "gpu=1.2"], "background.gpu: 1.2 is outside"),
    (["simulate", "--scenario", "camera-30fps", "--arrival", "poisson:10"], "sets the request stream"),
    (["simulate", "--scenario", "gpu-shared-varying", "--reference"], "random (Markov) background"),
    (["simulate", "--corun", "resnet18"], "WORKLOAD@RATE"),
    (["simulate", "--corun", "nosuchmodel@30fps"], "unknown workload 'nosuchmodel'"),
])
def test_bad_scenario_options_are_one_line(argv, needle, capsys):
    code, out, err = run_cli([argv[0], "--workload", W, "--platform", P, *argv[1:]], capsys)
    assert code == 2 and needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_simulate_in_a_scenario_reports_each_stream(capsys):
    code, out, _ = run_cli(["simulate", "--workload", W, "--platform", P, "--mode", "15W", "--scenario",
                            "detector-classifier", "--requests", "20", "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["scenario"] == "detector-classifier"
    names = [s["name"] for s in doc["streams"]]
    assert names[0] == W and "detector" in names
    det = doc["streams"][names.index("detector")]
    assert det["deadline_s"] == pytest.approx(0.1) and 0.0 <= det["slo_met"] <= 1.0
    assert doc["streams"][0]["n_requests"] == 20


def test_background_flag_slows_gpu_only_as_the_formula_says(capsys):
    def lat(extra):
        code, out, _ = run_cli(["simulate", "--workload", W, "--platform", P, "--mode", "15W", "--reference",
                                "--json", *extra], capsys)
        assert code == 0
        return json.loads(out)["latency_mean_s"]

    idle, busy = lat([]), lat(["--background", "gpu=0.5"])
    assert busy > idle * 1.3  # compute-bound operators take twice as long; copies and launches do not
    assert lat(["--scenario", "gpu-shared-moderate"]) == busy


def test_train_in_a_scenario_trains_the_load_aware_policy_at_its_load(tmp_path, capsys):
    code, out, _ = run_cli(["train", "scheduler", "--workload", "squeezenet1_1", "--platform", P, "--mode", "15W",
                            "--scenario", "gpu-shared-heavy", "--time-budget", "2", "-o", str(tmp_path / "t"),
                            "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["algo"] == "ils"
    meta = json.loads((tmp_path / "t" / "metadata.json").read_text())
    assert "0.8" in json.dumps(meta)  # the load it trained at is recorded


@pytest.mark.parametrize("extra, needle", [
    (["--scenario", "gpu-shared-heavy", "--algo", "sac"], "--algo sac trains on SparOA-v0's own load"),
    (["--scenario", "camera-30fps", "--background", "gpu=0.5"], "write the combination to a scenario file"),
])
def test_train_refuses_inconsistent_scenario_flags(extra, needle, tmp_path, capsys):
    code, _, err = run_cli(["train", "scheduler", "--workload", W, "--platform", P, "-o", str(tmp_path / "x"),
                            *extra], capsys)
    assert code == 2 and needle in err


@pytest.mark.parametrize("command, needle", [("workloads", "googlenet"), ("platforms", "jetson-orin-nano-8gb"),
                                             ("scenarios", "gpu-shared-heavy")])
def test_listing_commands_list_without_an_action(command, needle, capsys):
    code, out, _ = run_cli([command], capsys)
    assert code == 0 and needle in out


def test_oracle_hint_starts_the_solver_and_a_foreign_one_is_refused(tmp_path, capsys):
    sched = tmp_path / "s.json"
    # under a half-busy GPU, where a 2 s solve beats every heuristic (so the start it writes is the best one)
    args = ["oracle", "--workload", "squeezenet1_1", "--platform", P, "--mode", "15W", "--background", "gpu=0.5",
            "--time-limit", "2"]
    code, out, _ = run_cli([*args, "-o", str(sched), "--json"], capsys)
    first = json.loads(out)
    assert first["latency_s"] < first["hint_latency_s"]
    code, out, _ = run_cli([*args, "--hint", str(sched), "--json"], capsys)
    again = json.loads(out)
    assert code == 0 and again["hint_policy"] == "given" and again["latency_s"] <= first["latency_s"]
    code, _, err = run_cli(["oracle", "--workload", W, "--platform", P, "--hint", str(sched)], capsys)
    assert code == 2 and "hint" in err and "68 operators" in err


def test_simulate_says_which_cpu_kernels_the_twin_chooses(capsys):
    code, out, _ = run_cli(["simulate", "--workload", "vit_b_16_pruned80", "--platform", P, "--json"], capsys)
    doc = json.loads(out)
    k = doc["cpu_kernels"]
    assert code == 0 and set(k) == {"dense", "csr", "act_sparse"} and sum(k.values()) == doc["n_ops"]
    assert k["csr"] > 0  # pruned 80 %: the CSR weight kernel wins on some linear layers
