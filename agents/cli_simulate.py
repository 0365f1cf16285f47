"""``sparoa simulate``: one simulation from the command line (DESIGN §9).

``add_simulate_parser(subparsers)`` adds the sub-command; its handler is :func:`cmd_simulate`.
With ``--json`` exactly one JSON object goes to stdout (the results' keys plus the paths of any
trace and Gantt chart written); without it, a rich table. Bad input raises a ``SparOAError``
subclass, which the ``sparoa`` entry point turns into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from sparoa_sim.cliargs import BadArgument
from sparoa_sim.cliargs import console as cli_console
from sparoa_sim.cliargs import print_json
from sparoa_sim.cliargs import positive_int as _positive_int
from sparoa_sim.cliargs import seed as _seed
from sparoa_sim.errors import SimulationError

__all__ = ["add_simulate_parser", "cmd_simulate"]


def _at_most(parse, name: str, limit: int):
    """``parse``, then refuse values above ``limit`` (a simulated stream's arrivals are drawn up front)."""
    def check(text: str) -> int:
        v = parse(text)
        if v > limit:
            raise BadArgument(f"{name} must be at most {limit:,}, got {v:,}")
        return v
    return check


def add_simulate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``simulate`` to an argparse sub-parser collection; returns the new parser."""
    p = subparsers.add_parser("simulate", help="simulate a request stream of a workload under a placement policy")
    p.add_argument("--workload", required=True, help="shipped workload name or path to a graph .json")
    p.add_argument("--platform", required=True, help="hardware profile name or path to a TOML profile")
    p.add_argument("--mode", default=None, help="power mode (default: the profile's default)")
    p.add_argument("--policy", default="gpu",
                   help="placement policy: a registered name (cpu, gpu, random, threshold, greedy, heft, coexec, "
                        "threshold-best, oracle, …), tensorrt (fused graph, GPU, fp16_tc) or a schedule .json "
                        "(default gpu)")
    p.add_argument("--tau-s", type=float, default=None, help="threshold policy: sparsity threshold (default 0.5)")
    p.add_argument("--tau-i", type=float, default=None,
                   help="threshold policy: intensity threshold (default: the graph's median)")
    p.add_argument("--sparsity", choices=("act", "weight", "max"), default=None,
                   help="threshold policy: which sparsity (default act)")
    p.add_argument("--intensity", choices=("flop_per_byte", "flops"), default=None,
                   help="threshold policy: which intensity axis (default flop_per_byte)")
    p.add_argument("--batch", default="1",
                   help="batch size B (full batches of B requests; default 1), or 'auto': the batch size with the "
                        "highest throughput within --slo-ms at the --arrival poisson:RATE (batch-size optimiser)")
    p.add_argument("--slo-ms", type=float, default=None, metavar="MS", help="--batch auto: the latency SLO, ms")
    p.add_argument("--slo-stat", choices=("mean", "p50", "p95", "p99", "max"), default="p95",
                   help="--batch auto: the latency statistic the SLO bounds (default p95)")
    p.add_argument("--batch-candidates", default="1,2,4,8,16,32", metavar="B,B,…",
                   help="--batch auto: batch sizes to try (default 1,2,4,8,16,32)")
    p.add_argument("--batch-timeout", type=float, default=math.inf, metavar="S",
                   help="form a partial batch once its oldest request has waited S seconds (default: never)")
    p.add_argument("--max-inflight", type=_positive_int("--max-inflight"), default=1,
                   help="batches in the engine at once (default 1)")
    p.add_argument("--requests", type=_at_most(_positive_int("--requests"), "--requests", 10_000_000), default=None,
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
    if kw and args.policy not in ("threshold", "threshold-best"):
        raise SimulationError(f"--tau-s/--tau-i/--sparsity/--intensity apply to --policy threshold only, "
                              f"not {args.policy!r}")
    return kw


def _tensorrt(args: argparse.Namespace) -> None:
    """``--policy tensorrt``: the TensorRT-like baseline runs the fused graph, all on the GPU, FP16
    on tensor cores (fusion changes the graph, so it is resolved here rather than as a policy)."""
    if args.policy != "tensorrt":
        return
    from sparoa_sim.agents.baselines import TENSORRT_PRECISION, tensorrt_graph
    from sparoa_sim.workloads import load_workload

    if args.precision not in ("fp32", TENSORRT_PRECISION):
        raise SimulationError(f"--policy tensorrt runs at {TENSORRT_PRECISION}; --precision {args.precision} "
                              "contradicts it")
    args.workload = tensorrt_graph(load_workload(args.workload))
    args.policy = "gpu"
    args.precision = TENSORRT_PRECISION


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run the simulation ``args`` describe; print JSON or a table; write trace/Gantt if asked."""
    from sparoa_sim.arrivals import Batching, parse_arrival
    from sparoa_sim.engine import Simulator
    from sparoa_sim.simconfig import SimConfig

    _policy_kwargs(args)  # threshold options with another policy: named as the user gave it, before tensorrt's rewrite
    _tensorrt(args)
    auto = None
    if args.batch == "auto":
        auto = _auto_batch(args)
        batch = auto.batch
        n_requests = auto.requests  # the run the optimiser chose, reproduced
    else:
        if args.slo_ms is not None:
            raise SimulationError("--slo-ms applies to --batch auto only")
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
        if auto is not None:
            doc["batch_auto"] = auto.to_dict()
        print_json(doc)
        return 0
    _print_table(res, trace_path, gantt_path)
    if auto is not None:
        sys.stdout.write(f"batch auto: {auto.batch} (of {[c.batch for c in auto.candidates]}), {auto.stat} "
                         f"{auto.latency_s * 1e3:.4g} ms within the SLO {auto.slo_s * 1e3:.4g} ms at "
                         f"{auto.rate_rps:g} req/s, {auto.throughput_rps:.4g} req/s\n")
    return 0


def _auto_batch(args: argparse.Namespace):
    """The batch-size optimiser's choice for ``--batch auto`` (needs ``--slo-ms`` and Poisson arrivals)."""
    from sparoa_sim.agents.batchsize import optimise_batch
    from sparoa_sim.arrivals import Poisson, parse_arrival

    if args.slo_ms is None:
        raise SimulationError("--batch auto (the batch-size optimiser) needs --slo-ms (the latency SLO)")
    if not (math.isfinite(args.slo_ms) and args.slo_ms > 0):
        raise SimulationError(f"--slo-ms must be a positive number of milliseconds, got {args.slo_ms!r}")
    arr = parse_arrival(args.arrival, args.requests or 1)
    if not isinstance(arr, Poisson):
        raise SimulationError(f"--batch auto (the batch-size optimiser) needs --arrival poisson:RATE (the rate to "
                              f"serve), got {args.arrival!r}")
    cands = [_positive_int("--batch-candidates")(t) for t in args.batch_candidates.split(",") if t.strip()]
    if not cands:
        raise SimulationError(f"--batch-candidates must list batch sizes, got {args.batch_candidates!r}")
    print(f"batch auto: simulating batch sizes {cands} at {arr.rate:g} req/s ...", file=sys.stderr, flush=True)
    return optimise_batch(args.workload, args.platform, args.policy, rate_rps=arr.rate, slo_s=args.slo_ms / 1e3,
                          stat=args.slo_stat, candidates=cands, requests=args.requests,
                          batch_timeout_s=args.batch_timeout, max_inflight=args.max_inflight, seed=args.seed,
                          reference=args.reference, mode=args.mode, precision=args.precision,
                          policy_kwargs=_policy_kwargs(args) or None)


def _print_table(res, trace_path: str | None, gantt_path: str | None) -> None:
    from rich.table import Table

    console = cli_console()
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
