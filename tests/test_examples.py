"""Every example under examples/ runs in its quick mode (as the README promises)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
EXPECT = {"train_sb3_agent.py": "× GPU-only", "custom_model.py": "oracle", "calibrate_from_table.py": "predicted CPU-only"}
#: What each example leaves in its working directory (and nowhere else: no temp-dir litter).
WRITES = {"train_sb3_agent.py": set(), "custom_model.py": {"tinynet.json"}, "calibrate_from_table.py": {"my-host.toml"}}


def test_every_example_is_covered():
    assert {p.name for p in EXAMPLES} == set(EXPECT)


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_quick(script, tmp_path):
    r = subprocess.run([sys.executable, str(script), "--quick"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert EXPECT[script.name] in r.stdout
    assert {p.name for p in tmp_path.iterdir()} == WRITES[script.name]
