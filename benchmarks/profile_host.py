"""Profile this host: how repeatable are per-operator timings, and do they add up to a pass?

Profiles ResNet-18 (reduced and full size, batch 1 by default) on the CPU and prints, per
operator kind and context, the median relative spread of each figure's two independent medians
and the share of operators whose two medians agree within 10 % — the yardstick the twin's
per-operator fit is shown beside — and the eager end-to-end latency next to the sums of the
isolated and in-graph operator times. Writes ``benchmarks/results/profile_host.json``.

    python benchmarks/profile_host.py [--workloads resnet18,resnet50] [--batch 1] [--threads N] [--tables DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sparoa_sim.ir.graph import atomic_write_text
from sparoa_sim.hwmodels.measurements import MeasurementTable
from sparoa_sim.real.measure.profiler import profile_workload, save_table

RESULTS = Path(__file__).resolve().parent / "results"


def kind_summary(table: MeasurementTable, context: str) -> dict[str, dict[str, float]]:
    """Per kind: operator count, median rel. spread, share within 10 % and 20 %."""
    a = table.arrays(context)
    out: dict[str, dict[str, float]] = {}
    for kind in ["all", *sorted(set(a.kind.tolist()))]:
        spread = a.rel_spread if kind == "all" else a.rel_spread[a.kind == kind]
        out[kind] = {
            "ops": int(spread.size),
            "median_rel_spread": float(statistics.median(spread.tolist())),
            "within_10pct": float((spread <= 0.10).mean()),
            "within_20pct": float((spread <= 0.20).mean()),
        }
    return out


def profile_one(
    name: str, reduced: bool, batches: tuple[int, ...], threads: int | None, first: bool, tables: Path | None
) -> dict[str, Any]:
    """Profile one workload; return its summary (timings, repeatability, sums)."""
    t0 = time.perf_counter()
    table = profile_workload(
        name, reduced=reduced, batches=batches, threads=threads, bandwidth=first,
        sparse_shapes=None, progress=sys.stderr.isatty(),
    )  # fmt: skip
    elapsed = time.perf_counter() - t0
    label = table.end_to_end[0].workload
    if tables is not None:
        save_table(table, tables / f"{label}.json")
    e2e = [
        {
            "batch": e.batch, "eager_s": e.time_s, "eager_rel_spread": e.rel_spread,
            "sum_isolated_s": e.sum_isolated_s, "sum_graph_s": e.sum_graph_s,
            "isolated_over_eager": e.sum_isolated_s / e.time_s, "graph_over_eager": e.sum_graph_s / e.time_s,
        }
        for e in table.end_to_end
    ]  # fmt: skip
    out = {
        "workload": label,
        "ops": len(table.rows) // (2 * len(batches)),
        "profile_s": elapsed,
        "end_to_end": e2e,
        "isolated": kind_summary(table, "isolated"),
        "graph": kind_summary(table, "graph"),
        "host": dict(table.host),
    }
    if table.bandwidth is not None:
        out["bandwidth_copy_GBps"] = table.bandwidth.copy.bytes_per_s / 1e9
    return out


def print_summary(s: dict[str, Any]) -> None:
    """A plain-text table of one workload's summary."""
    print(f"\n{s['workload']}: {s['ops']} ops, profiled in {s['profile_s']:.1f} s")
    for e in s["end_to_end"]:
        print(
            f"  batch {e['batch']}: eager {e['eager_s'] * 1e3:8.3f} ms (spread {e['eager_rel_spread']:.1%}) | "
            f"sum isolated {e['sum_isolated_s'] * 1e3:8.3f} ms ({e['isolated_over_eager']:.2f}x) | "
            f"sum in graph {e['sum_graph_s'] * 1e3:8.3f} ms ({e['graph_over_eager']:.2f}x)"
        )
    print(f"  {'':13s} | {'isolated':^26s} | {'in graph':^26s}")
    print(f"  {'kind':8s} {'ops':>4s} |" + f" {'med spread':>12s} {'≤10%':>6s} {'≤20%':>6s} |" * 2)
    for kind, iso in s["isolated"].items():
        g = s["graph"][kind]
        cells = "".join(
            f" {f['median_rel_spread']:12.1%} {f['within_10pct']:6.0%} {f['within_20pct']:6.0%} |" for f in (iso, g)
        )
        print(f"  {kind:8s} {iso['ops']:4d} |{cells}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="resnet18", help="comma-separated zoo names")
    p.add_argument("--batch", default="1")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-reduced", action="store_true", help="full-size models only")
    p.add_argument("--tables", type=Path, default=None, help="also write each measurement table to this folder")
    args = p.parse_args()
    batches = tuple(int(b) for b in args.batch.split(","))
    runs = [(w, True) for w in args.workloads.split(",") if not args.no_reduced]
    runs += [(w, False) for w in args.workloads.split(",")]
    summaries = []
    load_before = os.getloadavg()
    for i, (name, reduced) in enumerate(runs):
        s = profile_one(name, reduced, batches, args.threads, first=i == 0, tables=args.tables)
        print_summary(s)
        summaries.append(s)
    load_after = os.getloadavg()
    print(f"\nload average (1, 5, 15 min) before {load_before}, after {load_after}: other work on the host "
          "shows up as spread between the two medians")  # fmt: skip
    doc = {
        "benchmark": "profile_host", "batches": list(batches), "results": summaries,
        "loadavg_before": list(load_before), "loadavg_after": list(load_after),
    }  # fmt: skip
    path = atomic_write_text(RESULTS / "profile_host.json", json.dumps(doc, indent=1) + "\n")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
