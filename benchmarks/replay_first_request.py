"""Replay's first timed request against its median, after the warm-up (issue 23's cold-start check).

Runs ``sparoa replay`` (CPU placement, closed loop, batch 1) several times per workload in fresh
processes and records each run's first timed request, median, p95 and warm-up batches; prints a
table and writes JSON. On a GPU host pass ``--policy gpu --gpu cuda`` through ``--extra``.

    python benchmarks/replay_first_request.py [--workloads mobilenetv2,resnet18] [--runs 3] [-o PATH]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="mobilenetv2,resnet18")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--extra", default="--gpu none --policy cpu", help="more replay arguments")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "benchmarks" / "results" / "replay_first_request.json")
    a = ap.parse_args(argv)
    rows = []
    for w in a.workloads.split(","):
        for r in range(a.runs):
            cmd = [sys.executable, "-m", "sparoa_sim.cli", "replay", "--workload", w, "--requests", str(a.requests),
                   "--max-batch", "1", "--json", *a.extra.split()]
            d = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600).stdout)
            rows.append({"workload": w, "run": r, "latency_first_s": d["latency_first_s"],
                         "latency_p50_s": d["latency_p50_s"], "latency_p95_s": d["latency_p95_s"],
                         "first_over_median": d["first_over_median"], "p95_over_p50": d["latency_p95_s"] / d["latency_p50_s"],
                         "warmup_s": d["warmup_s"]})
            print(f"{w:14} run {r}: first {d['latency_first_s'] * 1e3:7.2f} ms  median {d['latency_p50_s'] * 1e3:7.2f} ms"
                  f"  first/median {d['first_over_median']:.3f}  p95/p50 {d['latency_p95_s'] / d['latency_p50_s']:.3f}")
    # the check: the first timed request is no slower than the median by more than the run's own noise (p95/p50)
    misses = [r for r in rows if r["first_over_median"] > r["p95_over_p50"]]
    worst = max(r["first_over_median"] for r in rows)
    spread = max(r["p95_over_p50"] for r in rows)
    print(f"slowest first/median = {worst:.3f}; largest p95/p50 (the noise) = {spread:.3f}; "
          f"runs whose first request is slower than their p95: {len(misses)} of {len(rows)}")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    doc = {"command": " ".join(sys.argv), "commit": commit, "date": datetime.datetime.now().isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine()},
           "rows": rows, "max_first_over_median": worst, "max_p95_over_p50": spread,
           "runs_first_above_p95": len(misses)}
    a.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.output.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(a.output)
    print(f"JSON: {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
