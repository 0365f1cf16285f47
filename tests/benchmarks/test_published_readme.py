"""The README's published-latency figures are those of the committed result file (issue 24)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = json.loads((ROOT / "benchmarks" / "results" / "published.json").read_text(encoding="utf-8"))
README = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())  # line breaks as spaces


def _check(kind: str) -> dict:
    return DOC["target_check"][kind]


def test_gpu_rows_within_2x_and_median_as_in_the_readme():
    g = _check("gpu")
    within = g["rows"] - len(g["misses"])
    assert f"{within} of {g['rows']} rows are within 2×" in README
    assert f"|twin/published − 1| is {g['median_abs_dev']:.1%}".replace("%", " %") in README


def test_cpu_rows_within_2x_in_sample_and_out_of_sample_as_in_the_readme():
    c = _check("cpu")
    oos = c["out_of_sample"]
    within, within_oos = c["rows"] - len(c["misses"]), oos["rows"] - len(oos["misses"])
    assert f"{within} of {c['rows']} rows within 2× (median |r − 1| {c['median_abs_dev']:.1%}".replace(
        "%", " %") in README
    assert f"{within_oos} of {oos['rows']} (median |r − 1| {oos['median_abs_dev']:.1%})".replace("%", " %") in README
    assert re.search(rf"PyTorch CPU statement timings on Orin Nano: {within} within 2×", README)
