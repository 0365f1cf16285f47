"""`sparoa demo --quick` end to end (what CI runs of `make demo`): every step, every file indexed."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from sparoa_sim.cli.demo import EXAMPLE_HOST_PROFILE, run_demo


def test_quick_demo_writes_every_artifact_and_an_index(tmp_path):
    root = run_demo(tmp_path, quick=True, progress=False, say=lambda m: None)
    index = (root / "index.md").read_text()
    linked = re.findall(r"\]\(([^)]+)\)", index)
    assert linked, index
    for rel in linked:
        assert (root / rel).is_file(), rel
    for name in ("quadrants-resnet18.png", "gantt-resnet18.png", "trace-resnet18.json", "comparison/summary.md",
                 "comparison/speedup.png", "scheduler-resnet18/schedule.json", "scheduler-resnet18/policy.zip",
                 "predictor/predictor.pt", "validation-resnet18/report.md"):
        assert (root / name).is_file(), name
    # the comparison shows the learned scheduler against every baseline and the oracle
    table = json.loads((root / "comparison" / "summary.json").read_text())["summary"]
    pols = {r["policy"] for r in table}
    assert {"cpu", "gpu", "tensorrt", "threshold", "greedy", "heft", "coexec", "oracle", "learned (SAC)"} <= pols
    for w in ("resnet18", "mobilenetv3_small"):
        lat = {r["policy"]: r["latency_s"] for r in table if r["workload"] == w}
        best_baseline = min(v for k, v in lat.items() if k in ("cpu", "gpu", "threshold", "greedy", "heft"))
        assert lat["learned (SAC)"] <= best_baseline * (1 + 1e-9)
    trace = json.loads((root / "trace-resnet18.json").read_text())
    assert trace["traceEvents"]
    assert "Threshold predictor" in index and "Sim-to-real" in index


def test_example_host_profile_is_shipped_and_loads():
    from sparoa_sim.hwmodels import load_platform

    assert EXAMPLE_HOST_PROFILE.is_file()
    assert load_platform(EXAMPLE_HOST_PROFILE).name == "host"


def test_demo_cli_bad_option_exits_2():
    r = subprocess.run([sys.executable, "-m", "sparoa_sim.cli", "demo", "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
