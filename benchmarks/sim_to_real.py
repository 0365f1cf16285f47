"""Sim-to-real on this machine: the twin's CPU-only prediction against the hybrid executor, every workload.

For each shipped workload (or ``--workloads``), ``real.validate`` runs the CPU-only placement
through the twin (this machine's calibrated ``host`` profile, calibrated first when there is
none) and through the executor, with eager PyTorch timed in the same rounds. Reported per
workload: twin, executor and eager latency, the executor's error and repeatability, the
executor's overhead over eager, and — where the host profile stored the eager latencies of its
calibration — the host's drift since then and the twin's error once scaled by it (a shared
host's speed moves between the two moments; the drift is a ratio of two timings of one model).
docs/architecture.md §8 target: |error| ≤ 5 % for every workload.

Prints a table and writes ``benchmarks/results/sim_to_real.json``.

    python benchmarks/sim_to_real.py [--workloads resnet18 vgg16] [--reps 12]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from sparoa_sim.hwmodels.fileio import atomic_write_text
from sparoa_sim.real.measure.host_calibration import ensure_host_profile
from sparoa_sim.real.run.validate import validate
from sparoa_sim.workloads import list_workloads

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sim_to_real.json"
TARGET = 0.05
_KEYS = ("predicted_s", "executor_s", "executor_error", "executor_repeatability", "eager_s", "eager_error",
         "calibration_eager_s", "host_drift", "drift_corrected_error")


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:+.1%}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=None, help="default: every shipped workload")
    ap.add_argument("--reps", type=int, default=12, help="executor runs per workload, in two halves")
    ap.add_argument("-o", "--output", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    names = args.workloads or list_workloads()
    host = ensure_host_profile(progress=True)
    rows: list[dict[str, Any]] = []
    for w in names:
        rep = validate(w, host, policies=["cpu"], reps=args.reps, threads=1)
        d = rep.to_dict()
        c = d["cpu_only"] or {}
        row = {"workload": w, **{k: c.get(k) for k in _KEYS}, "per_op_within_10pct": d["within_10pct"],
               "other_processes_cpu_share": d["meta"].get("other_processes_cpu_share")}
        row["executor_over_eager"] = (row["executor_s"] / row["eager_s"]) if row["executor_s"] and row["eager_s"] else None
        rows.append(row)
        print(f"  {w:20s} twin {row['predicted_s'] * 1e3:9.2f} ms  executor {row['executor_s'] * 1e3:9.2f} ms "
              f"({_pct(row['executor_error'])})", file=sys.stderr)

    print(f"\n{'workload':20s} {'twin ms':>9s} {'exec ms':>9s} {'error':>7s} {'repeat':>7s} {'eager ms':>9s} "
          f"{'exec/eager':>10s} {'drift':>6s} {'scaled':>7s}")
    for r in rows:
        drift = "–" if r["host_drift"] is None else f"×{r['host_drift']:.2f}"
        print(f"{r['workload']:20s} {r['predicted_s'] * 1e3:9.2f} {r['executor_s'] * 1e3:9.2f} "
              f"{_pct(r['executor_error']):>7s} {r['executor_repeatability']:7.1%} {r['eager_s'] * 1e3:9.2f} "
              f"{r['executor_over_eager']:10.3f} {drift:>6s} {_pct(r['drift_corrected_error']):>7s}")
    raw = [abs(r["executor_error"]) for r in rows]
    scaled = [abs(r["drift_corrected_error"]) for r in rows if r["drift_corrected_error"] is not None]
    summary = {"within_5pct_raw": sum(e <= TARGET for e in raw), "max_abs_error_raw": max(raw),
               "within_5pct_drift_scaled": sum(e <= TARGET for e in scaled) if scaled else None,
               "max_abs_error_drift_scaled": max(scaled) if scaled else None, "n": len(rows)}
    print(f"\nwithin {TARGET:.0%}: {summary['within_5pct_raw']} of {len(rows)} raw (max {max(raw):.1%})"
          + (f", {summary['within_5pct_drift_scaled']} of {len(scaled)} drift-scaled (max {max(scaled):.1%})"
             if scaled else ""))
    doc = {"benchmark": "sim_to_real", "platform": host.name, "profile": str(host.source), "reps": args.reps,
           "target": TARGET, "rows": rows, "summary": summary,
           "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    out = atomic_write_text(args.output, json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
