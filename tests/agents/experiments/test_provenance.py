"""Every committed result records where it came from (``agents.experiments.provenance``)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest

from sparoa_sim.agents.experiments.provenance import provenance

ROOT = Path(__file__).resolve().parents[3]


def test_the_record_names_command_commit_date_and_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    p = provenance("benchmarks/x.py", ["--quick", "--reps", "3"], root=ROOT)
    assert p["command"] == "python benchmarks/x.py --quick --reps 3"
    assert p["env"] == {"OMP_NUM_THREADS": "1"} | (
        {k: os.environ[k] for k in ("SPAROA_SIM_DATA", "CUDA_VISIBLE_DEVICES") if k in os.environ})
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert p["git_commit"] == head and isinstance(p["git_dirty"], bool)
    age = dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(p["date"])
    assert dt.timedelta(0) <= age < dt.timedelta(minutes=5)
    m = p["machine"]
    assert m["cores"] == os.cpu_count() and m["cpu_model"] and m["python"].count(".") == 2
    assert m["torch"] is None or m["torch"][0].isdigit()
    assert len(m["loadavg"]) == 3


def test_outside_a_repository_commit_and_dirtiness_are_unknown(tmp_path: Path) -> None:
    p = provenance("b.py", [], root=tmp_path)
    assert p["git_commit"] is None and p["git_dirty"] is None
