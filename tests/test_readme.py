"""The README's Python snippet runs as written, and every `sparoa` sub-command it lists exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_gymnasium_snippet_runs():
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    snippet = next(b for b in blocks if 'gym.make("SparOA-v0"' in b)
    r = subprocess.run([sys.executable, "-c", snippet], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "faster than CPU-only" in r.stdout


def test_cli_reference_lists_only_real_commands():
    from sparoa_sim.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    listed = set(re.findall(r"^sparoa (\w+)", README, flags=re.M))
    assert listed <= set(sub.choices), listed - set(sub.choices)
    assert set(sub.choices) <= listed, set(sub.choices) - listed


def test_changelog_lists_every_moved_module():
    from sparoa_sim.compat import MOVED

    block = README.split("<!-- moved:begin -->", 1)[1].split("<!-- moved:end -->", 1)[0]
    listed = dict(re.findall(r"^\| `([\w.]+)` \| `([\w.]+)` \|$", block, flags=re.M))
    assert listed == MOVED


def test_the_hybrid_table_is_generated_from_the_committed_result():
    import json

    from sparoa_sim.agents.experiments.scenario_bench import readme_table

    doc = json.loads((ROOT / "benchmarks" / "results" / "scenarios.json").read_text())
    block = README.split("<!-- scenarios:begin -->\n", 1)[1].split("<!-- scenarios:end -->", 1)[0]
    assert block == readme_table(doc["rows"])
    t = doc["targets"]
    for key in ("cells", "cells_with_gain"):  # the prose quotes these counts
        assert f"{t[key]} " in README.split("## When does CPU-GPU hybrid pay?", 1)[1].split("\n## ", 1)[0]


def test_the_limits_table_is_the_one_the_code_checks():
    from sparoa_sim.limits import limits_markdown

    section = README.split("\n## Limits\n", 1)[1].split("\n## ", 1)[0]
    assert limits_markdown() in section
