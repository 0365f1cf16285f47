"""Scenario benchmark (issue 25): where CPU-GPU hybrid placement pays, per scenario × workload × Jetson.

For every scenario × workload × platform/mode: the best single device, the best baseline (the TensorRT-like
baseline listed apart: it changes precision), the learned load-aware policy's own schedules (worst of
``--learn-seeds`` seeds, ≤ ``--learn-budget`` s of training each), the oracle at a fixed load or the best known
schedule (stochastic scenarios: ``--crn-seeds`` common random numbers, 95 % CIs), latency p50/p95, throughput,
energy per inference and each stream's deadline satisfaction. Prints the table and the targets, writes
``benchmarks/results/scenarios.json`` and ``scenarios.md`` (committed; the README's "When does CPU-GPU hybrid
pay?" table comes from them).

    python benchmarks/scenarios.py [--quick] [--workers 2] [--learn-budget 20] [--oracle-time-limit 30]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from sparoa_sim.agents.experiments.evaluate import MIN_GAIN
from sparoa_sim.agents.experiments.provenance import provenance
from sparoa_sim.agents.experiments.scenario_bench import groups, markdown, run_groups
from sparoa_sim.hwmodels.fileio import atomic_write_text

SCENARIOS = ("idle", "gpu-shared-moderate", "gpu-shared-heavy", "gpu-shared-varying", "camera-30fps", "bursts",
             "clients-8", "detector-classifier")
WORKLOADS = ("resnet18", "mobilenetv3_small", "googlenet", "squeezenet1_1")
PLATFORM_MODES = (("jetson-agx-orin-64gb", "MAXN"), ("jetson-orin-nano-8gb", "15W"))
OUT = Path(__file__).resolve().parent / "results"


def targets(rows: list[dict]) -> dict:
    """The issue's done-when, computed from the rows (the policy's own schedules, never the teacher's)."""
    s = [r["summary"] for r in rows]
    gain = [x for x in s if x["achievable_gain"] >= MIN_GAIN]
    realised = [x["gain_realised"] for x in gain]
    by_platform = {}
    for r in rows:
        if r["summary"]["achievable_gain"] >= MIN_GAIN:
            by_platform[r["platform"]] = by_platform.get(r["platform"], 0) + 1
    own_behind = max(x["learned_vs_best_baseline"] for x in s)
    shipped_behind = max(x["shipped_vs_best_baseline"] for x in s)
    return {
        "cells": len(s), "cells_with_gain": len(gain), "cells_with_gain_by_platform": by_platform,
        "policy_own_worst_vs_best_baseline": own_behind, "policy_own_within_1pct": own_behind <= 0.01,
        "shipped_worst_vs_best_baseline": shipped_behind, "shipped_never_behind": shipped_behind <= 1e-9,
        "gain_realised_mean": sum(realised) / len(realised) if realised else None,
        "gain_realised_min": min(realised) if realised else None,
        "gain_realised_met": bool(realised) and sum(realised) / len(realised) >= 0.9 and min(realised) >= 0.75,
        "gain_on_both_boards": all(by_platform.get(p, 0) > 0 for p, _ in PLATFORM_MODES),
    }


def merge(paths: list[str], out: Path) -> int:
    """Combine result files of several runs (e.g. scenario sets run at different times) into one."""
    cells: dict[tuple, dict] = {}
    runs = []
    for p in paths:
        doc = json.loads(Path(p).read_text())
        runs.append({"file": str(p), "provenance": doc["provenance"], "settings": doc["settings"]})
        for r in doc["rows"]:
            cells[(r["scenario"], r["workload"], r["platform"], r["mode"])] = r
    order = {s: i for i, s in enumerate(SCENARIOS)}
    rows = sorted(cells.values(), key=lambda r: (r["platform"], WORKLOADS.index(r["workload"])
                                                 if r["workload"] in WORKLOADS else 99, order.get(r["scenario"], 99)))
    t = targets(rows)
    doc = {"provenance": {"merged": runs}, "settings": runs[-1]["settings"], "targets": t, "rows": rows}
    atomic_write_text(out / "scenarios.json", json.dumps(doc, indent=1, allow_nan=False))
    atomic_write_text(out / "scenarios.md", markdown(rows))
    print(markdown(rows))
    for k, v in t.items():
        print(f"  {k}: {v}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one workload, one board, three scenarios, small budgets")
    ap.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--learn-budget", type=float, default=20.0, help="training seconds per seed and load set")
    ap.add_argument("--learn-seeds", type=int, default=3)
    ap.add_argument("--crn-seeds", type=int, default=5)
    ap.add_argument("--oracle-time-limit", type=float, default=30.0)
    ap.add_argument("--budget-clock", choices=("wall", "cpu"), default="wall",
                    help="what --learn-budget counts: wall seconds (default) or CPU seconds of the worker process "
                         "(the same search on a busy host as on a quiet one)")
    ap.add_argument("--workloads", default=None, help="comma-separated (default: %s)" % ",".join(WORKLOADS))
    ap.add_argument("--scenarios", default=None, help="comma-separated (default: the shipped set)")
    ap.add_argument("-o", "--output", default=None, help="folder for scenarios.json/.md (default benchmarks/results)")
    ap.add_argument("--resume-dir", default=None, help="folder for groups.jsonl (resume an interrupted run)")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                    help="combine earlier runs' scenarios.json files (a later file's cell replaces an earlier one's) "
                         "into one result, each run's provenance kept; runs nothing")
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args.merge, Path(args.output) if args.output else OUT)
    if args.quick:
        workloads, pms, scenarios = ("squeezenet1_1",), PLATFORM_MODES[1:], ("idle", "gpu-shared-heavy", "camera-30fps")
        opts = dict(seeds=2, learn_seeds=2, learn_budget_s=2.0, oracle_time_limit_s=5.0, requests=20)
    else:
        workloads = tuple(args.workloads.split(",")) if args.workloads else WORKLOADS
        scenarios = tuple(args.scenarios.split(",")) if args.scenarios else SCENARIOS
        pms = PLATFORM_MODES
        opts = dict(seeds=args.crn_seeds, learn_seeds=args.learn_seeds, learn_budget_s=args.learn_budget,
                    oracle_time_limit_s=args.oracle_time_limit)
        if args.budget_clock != "wall":
            opts["budget_clock"] = args.budget_clock
    gs = groups(workloads, pms, scenarios, **opts)
    with tqdm(total=len(gs), desc="scenario groups", unit="group", file=sys.stderr) as bar:
        rows = run_groups(gs, args.resume_dir, workers=args.workers, progress=bar.update)
    table = markdown(rows)
    t = targets(rows)
    out = Path(args.output) if args.output else OUT
    doc = {"provenance": provenance("benchmarks/scenarios.py", argv), "settings": opts, "targets": t, "rows": rows}
    atomic_write_text(out / "scenarios.json", json.dumps(doc, indent=1, allow_nan=False))
    atomic_write_text(out / "scenarios.md", table)
    print(table)
    print("targets (the policy's own schedules, worst seed):")
    for k, v in t.items():
        print(f"  {k}: {v}")
    print(f"wrote {out / 'scenarios.json'} and {out / 'scenarios.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
