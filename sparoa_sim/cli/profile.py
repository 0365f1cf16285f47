"""``sparoa profile``: time every operator of zoo workloads on this machine (docs/architecture.md §3, §9).

The result is a measurement table (JSON at ``-o``) that ``sparoa calibrate`` fits a profile to;
several ``--workload`` tables are merged into one.
"""

from __future__ import annotations

import argparse
from typing import Any

from sparoa_sim.cli.args import at_most, positive, positive_int
from sparoa_sim.limits import MAX_BANDWIDTH_MIB
from sparoa_sim.cli.output import emit, fmt, table

__all__ = ["add_profile_parser", "cmd_profile"]


def add_profile_parser(sub: Any) -> None:
    """Attach ``profile`` to the top-level sub-parsers."""
    p = sub.add_parser("profile", help="time every operator of a workload on this machine -> measurement table")
    p.add_argument("--workload", required=True, action="append", help="zoo workload (repeatable)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device to time on (default cpu)")
    p.add_argument("--batch", default="1", help="comma-separated batch sizes (default 1)")
    p.add_argument("--reduced", action="store_true", help="width-reduced model with 32x32 inputs (fast)")
    p.add_argument("--reps", type=at_most(positive_int("--reps"), "--reps", 100_000), default=30,
                   help="most repetitions per figure (default 30)")
    p.add_argument("--threads", type=at_most(positive_int("--threads"), "--threads", 4096), default=None,
                   help="torch threads (default: torch's)")
    p.add_argument("--time-budget", type=positive("--time-budget", float), default=None,
                   help="seconds per workload (approximate)")
    p.add_argument("--no-sparse", action="store_true", help="skip the dense-vs-CSR sweep")
    p.add_argument("--bandwidth-mib", type=at_most(positive("--bandwidth-mib", int), "--bandwidth-mib",
                                                   MAX_BANDWIDTH_MIB), default=None,
                   help=f"STREAM array size, MiB (default: 2x LLC; at most {MAX_BANDWIDTH_MIB})")
    p.add_argument("--clock", default="wall", choices=("wall", "thread_cpu"),
                   help="wall time (default) or the timing thread's CPU time (--threads 1; for shared hosts)")
    p.add_argument("--tf32", choices=("conv", "all", "none"), default="conv",
                   help="TF32 on CUDA: conv (PyTorch's default: cuDNN only), all, none (default conv)")
    p.add_argument("-o", "--output", required=True, help="measurement table JSON to write")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_profile)


def cmd_profile(args: argparse.Namespace) -> int:
    """Profile each workload, merge, write the table, print the end-to-end times."""
    from sparoa_sim.hwmodels.measurements import merge_tables
    from sparoa_sim.real.measure.profiler import DEFAULT_SPARSE_SHAPES, parse_batches, profile_workload, save_table

    batches = parse_batches(args.batch)
    tables = [
        profile_workload(w, reduced=args.reduced, device=args.device, batches=batches, reps=args.reps,
                         threads=args.threads, time_budget_s=args.time_budget, bandwidth=i == 0,
                         bandwidth_bytes=args.bandwidth_mib * 2**20 if args.bandwidth_mib else None, clock=args.clock, tf32=args.tf32,
                         sparse_shapes=None if args.no_sparse or i else DEFAULT_SPARSE_SHAPES,
                         progress=not args.json)
        for i, w in enumerate(args.workload)
    ]
    measured = tables[0] if len(tables) == 1 else merge_tables(tables)
    path = save_table(measured, args.output)
    e2e = [{"workload": e.workload, "batch": e.batch, "time_s": e.time_s, "sum_isolated_s": e.sum_isolated_s,
            "sum_graph_s": e.sum_graph_s} for e in measured.end_to_end]
    doc = {"path": str(path), "device": measured.device, "rows": len(measured.rows), "end_to_end": e2e}
    return emit(doc, args.json, lambda: [table(
        ("workload", "batch", "eager", "sum of isolated ops", "sum of in-graph ops"),
        [(e["workload"], e["batch"], fmt(e["time_s"], "s"), fmt(e["sum_isolated_s"], "s"), fmt(e["sum_graph_s"], "s"))
         for e in e2e],
        title=f"measured on {measured.device} — written to {path}", left=("workload",))])
