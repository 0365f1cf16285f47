"""``sparoa doctor``: the device state off a Jetson (exit 0, "not a Jetson"), and the GPU check's CPU path."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sparoa_sim.cli.app import main

ROOT = Path(__file__).resolve().parents[2]


def test_doctor_reports_not_a_jetson_and_exits_zero(capsys):
    assert main(["doctor", "--json", "--no-tegrastats"]) == 0
    doc = json.loads(capsys.readouterr().out)
    st = doc["state"]
    assert doc["jetson"] is False and st["jetson"] is False and st["torch"]
    assert set(st) >= {"cuda_available", "gpu_integrated", "cudnn_allow_tf32", "matmul_allow_tf32", "l4t", "jetpack",
                       "nvpmodel", "jetson_clocks_show", "tegrastats", "tegrastats_rails", "cpu_governor",
                       "energy_meters"}
    assert any("not a Jetson" in w for w in doc["warnings"])
    assert main(["doctor", "--no-tegrastats"]) == 0
    assert "not a Jetson" in capsys.readouterr().out


def test_state_warnings_name_each_skewing_item():
    from sparoa_sim.real.measure.device_state import state_warnings

    st = {"jetson": True, "cuda_available": True, "cudnn_allow_tf32": True, "matmul_allow_tf32": True,
          "cpu_governor": ["schedutil"], "cpu_cur_hz": [729_600_000], "cpu_max_hz": [2_201_600_000],
          "nvpmodel": None, "jetson_clocks_show": None, "gpu_cur_hz": 306_000_000, "gpu_max_hz": 1_300_500_000,
          "tegrastats": "/usr/bin/tegrastats", "tegrastats_reason": "no known total rail", "energy_meters": {}}
    text = "\n".join(state_warnings(st))
    for needle in ("cuDNN TF32", "matmul TF32", "governor schedutil", "CPU clocks below max", "nvpmodel",
                   "jetson_clocks", "GPU clock below max", "no known total rail", "no energy meter"):
        assert needle in text, needle


def test_gpu_check_cpu_path_runs_and_passes(capsys):
    assert main(["doctor", "--check", "--dry-run", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and not doc["cuda"] and doc["timing_problems"] == 0
    assert set(doc["errors"]) == {"resnet18", "swin_t"}
    assert set(doc["errors"]["resnet18"]) == {"fp32, tf32 none", "fp32, tf32 conv", "fp16"}
    assert doc["lines"][-1] == "gpu_check: PASS"


def test_gpu_check_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / "gpu_check.sh")], check=True)


def test_timing_problems_catch_reversed_times_and_early_gpu_ops():
    from sparoa_sim.real.run.gpu_check import timing_problems
    from sparoa_sim.real.run.results import OpTiming, RunResult, TransferTiming

    from types import SimpleNamespace

    G = lambda: SimpleNamespace(ops=[SimpleNamespace(deps=()), SimpleNamespace(deps=(0,))])  # noqa: E731

    ops = (OpTiming(0, "a", "cpu", 0.0, 1.0, 0.0), OpTiming(1, "b", "gpu", 1.5, 3.5, 1.0))
    xfer = (TransferTiming(0, "a", "cpu", "gpu", 1.0, 2.0, 4),)
    res = RunResult(None, ops, xfer, wall_s=3.0, batch=1, placement=(0.0, 1.0))
    probs = timing_problems(res, G())
    assert any("before its input" in p for p in probs) and not any("busy" in p for p in probs)
    ok = RunResult(None, (ops[0], OpTiming(1, "b", "gpu", 2.0, 2.5, 1.0)), xfer, 3.0, 1, (0.0, 1.0))
    assert timing_problems(ok, G()) == []
    bad = RunResult(None, (OpTiming(1, "b", "gpu", 2.0, 1.0, 1.0),), (), 0.5, 1, (1.0,))
    assert timing_problems(bad, G())
