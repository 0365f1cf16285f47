"""``sparoa simulate``: one simulation from the command line (DESIGN §9).

``add_simulate_parser(subparsers)`` adds the sub-command; its handler is :func:`cmd_simulate`.
With ``--json`` exactly one JSON object goes to stdout (the results' keys plus the paths of any
trace and Gantt chart written); without it, a rich table. Bad input raises a ``SparOAError``
subclass, which the ``sparoa`` entry point turns into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from sparoa_sim.errors import SimulationError

__all__ = ["add_simulate_parser", "cmd_simulate"]


def _positive_int(name: str):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise SimulationError(f"{name} must be an integer, got {text!r}") from None
        if v < 1:
            raise SimulationError(f"{name} must be >= 1, got {v}")
        return v
    return parse


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise SimulationError(f"--seed must be a non-negative integer, got {text!r}") from None
    if v < 0:
        raise SimulationError(f"--seed must be a non-negative integer, got {v}")
    return v


def add_simulate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``simulate`` to an argparse sub-parser collection; returns the new parser."""
    p = subparsers.add_parser("simulate", help="simulate a request stream of a workload under a placement policy")
    p.add_argument("--workload", required=True, help="shipped workload name or path to a graph .json")
    p.add_argument("--platform", required=True, help="hardware profile name or path to a TOML profile")
    p.add_argument("--mode", default=None, help="power mode (default: the profile's default)")
    p.add_argument("--policy", default="gpu",
                   help="placement policy: a registered name (cpu, gpu, random, threshold, …) or a schedule .json "
                        "(default gpu)")
    p.add_argument("--tau-s", type=float, default=None, help="threshold policy: sparsity threshold (default 0.5)")
    p.add_argument("--tau-i", type=float, default=None,
                   help="threshold policy: intensity threshold (default: the graph's median)")
    p.add_argument("--sparsity", choices=("act", "weight", "max"), default=None,
                   help="threshold policy: which sparsity (default act)")
    p.add_argument("--intensity", choices=("flop_per_byte", "flops"), default=None,
                   help="threshold policy: which intensity axis (default flop_per_byte)")
    p.add_argument("--batch", default="1", help="batch size B (full batches of B requests; default 1)")
    p.add_argument("--batch-timeout", type=float, default=math.inf, metavar="S",
                   help="form a partial batch once its oldest request has waited S seconds (default: never)")
    p.add_argument("--max-inflight", type=_positive_int("--max-inflight"), default=1,
                   help="batches in the engine at once (default 1)")
    p.add_argument("--requests", type=_positive_int("--requests"), default=None,
                   help="requests to simulate (default: one batch)")
    p.add_argument("--arrival", default="closed", help="closed | closed:C | poisson:RATE | trace:FILE (default closed)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    p.add_argument("--reference", action="store_true",
                   help="reference setting: noise, background load, contention and dispatch interference off")
    p.add_argument("--precision", choices=("fp32", "fp16", "fp16_tc"), default="fp32", help="precision (default fp32)")
    p.add_argument("--trace", metavar="JSON", default=None, help="write a Chrome/Perfetto trace here")
    p.add_argument("--gantt", metavar="PNG", default=None, help="write a Gantt chart here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_simulate)
    return p


def _policy_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw = {k: v for k, v in (("tau_s", args.tau_s), ("tau_i", args.tau_i), ("sparsity", args.sparsity),
                            ("intensity", args.intensity)) if v is not None}
    if kw and args.policy != "threshold":
        raise SimulationError(f"--tau-s/--tau-i/--sparsity/--intensity apply to --policy threshold only, "
                              f"not {args.policy!r}")
    return kw


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run the simulation ``args`` describe; print JSON or a table; write trace/Gantt if asked."""
    from sparoa_sim.arrivals import Batching, parse_arrival
    from sparoa_sim.engine import Simulator
    from sparoa_sim.simconfig import SimConfig

    if args.batch == "auto":
        raise SimulationError("--batch auto needs the batch-size optimiser, which is not available yet; give a number")
    batch = _positive_int("--batch")(args.batch)
    n_requests = batch if args.requests is None else args.requests
    arrivals = parse_arrival(args.arrival, n_requests)
    record = bool(args.trace or args.gantt)
    sim = Simulator(args.workload, args.platform, args.policy, arrivals=arrivals,
                    batching=Batching(max_batch=batch, timeout_s=args.batch_timeout, max_inflight=args.max_inflight),
                    config=SimConfig(mode=args.mode, precision=args.precision, reference=args.reference,
                                     record_trace=record),
                    seed=args.seed, policy_kwargs=_policy_kwargs(args) or None)
    res = sim.run()
    trace_path = gantt_path = None
    if record:
        tr = sim.trace()
        if args.trace:
            trace_path = str(tr.save(args.trace))
        if args.gantt:
            gantt_path = str(tr.gantt(args.gantt))
    if args.json:
        doc = res.to_dict(per_request=False)
        doc["trace"] = trace_path
        doc["gantt"] = gantt_path
        sys.stdout.write(json.dumps(doc, allow_nan=False) + "\n")
        return 0
    _print_table(res, trace_path, gantt_path)
    return 0


def _print_table(res, trace_path: str | None, gantt_path: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=200)
    setting = "reference setting" if res.reference else "noise, background load and contention on"
    table = Table(title=f"{res.workload} on {res.platform} ({res.mode}, {res.precision}), policy {res.policy}",
                  caption=f"{res.n_requests} request(s), arrival {res.arrival}, batch {res.max_batch}, "
                          f"seed {res.seed}, {setting}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("latency mean", f"{res.latency_mean_s * 1e3:.4g} ms"),
        ("latency p50 / p95 / p99", f"{res.latency_p50_s * 1e3:.4g} / {res.latency_p95_s * 1e3:.4g} / "
                                    f"{res.latency_p99_s * 1e3:.4g} ms"),
        ("throughput", f"{res.throughput_rps:.4g} req/s"),
        ("energy per inference", f"{res.energy_per_inference_j * 1e3:.4g} mJ"),
        ("makespan", f"{res.makespan_s * 1e3:.4g} ms"),
        ("CPU busy (utilisation)", f"{res.cpu_busy_s * 1e3:.4g} ms ({res.cpu_util:.1%})"),
        ("GPU busy (utilisation)", f"{res.gpu_busy_s * 1e3:.4g} ms ({res.gpu_util:.1%})"),
        ("host dispatch busy", f"{res.host_busy_s * 1e3:.4g} ms"),
        ("transfers", f"{res.transfers} ({res.transfer_bytes / 1e6:.4g} MB)"),
        ("operators on GPU (first batch)", f"{res.gpu_ops} of {res.n_ops} ({res.split_ops} split)"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    if trace_path:
        console.print(f"trace written to {trace_path}")
    if gantt_path:
        console.print(f"Gantt chart written to {gantt_path}")
