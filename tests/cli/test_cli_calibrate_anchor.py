"""`sparoa calibrate` ends with the end-to-end anchor on the CPU where the tables hold eager passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparoa_sim.cli.app import main

TABLE = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "calibration_tables" / "mobilenetv3_small.json"


def _calibrate(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    out = tmp_path / "fitted.toml"
    assert main(["calibrate", str(TABLE), "--base", "jetson-orin-nano-8gb", "-o", str(out), "--device", "cpu",
                 "--json", *extra]) == 0
    assert out.is_file()
    return json.loads(capsys.readouterr().out)


def test_one_eager_pass_is_matched_by_the_compute_scale(tmp_path, capsys):
    doc = _calibrate(tmp_path, capsys)
    anchor = doc["e2e_anchor"]
    assert list(anchor["passes"]) == ["mobilenetv3_small"]
    assert anchor["fitted"] == ["scale"]  # one workload: the scale alone, the overhead kept
    assert anchor["t_launch"] == anchor["t_launch_before"]
    p = anchor["passes"]["mobilenetv3_small"]
    assert abs(p["error_after"]) < 1e-3 < abs(p["error_before"])


def test_no_anchor_keeps_the_rows_fit(tmp_path, capsys):
    assert _calibrate(tmp_path, capsys, "--no-anchor")["e2e_anchor"] is None
