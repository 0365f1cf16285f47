"""``sparoa replay``: serve a request stream of a shipped workload on this machine under a placement.

``add_replay_parser(subparsers)`` adds the sub-command; its handler is :func:`cmd_replay`. With
``--json`` exactly one JSON object goes to stdout (the keys of docs/architecture.md §9;
``energy_per_inference_j`` is null where no meter exists); bad input raises a ``SparOAError``
subclass (exit 2, one line). The executor and the replay loop are :mod:`sparoa_sim.real.run` (§7).

Notices go to stderr, one line each: the fallback of a GPU placement to the CPU (``--fallback cpu``
on a host without CUDA), and an open-loop stream offered faster than the host served it (the
latency then measures a growing queue; ``overloaded`` in the JSON).
"""

from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path
from typing import Any

from sparoa_sim.cli.args import at_most, positive_int, seed
from sparoa_sim.cli.output import emit, error_line, table
from sparoa_sim.errors import SparOAError
from sparoa_sim.limits import MAX_REPLAY_TRACE_EVENTS, MAX_REQUESTS

__all__ = ["MAX_REPLAY_REQUESTS", "MAX_TRACE_EVENTS", "add_replay_parser", "cmd_replay", "overload_notice"]

#: Most requests one replay serves: the simulation's limit (``sparoa_sim.limits.MAX_REQUESTS``); a
#: replay is served in real time, so this is days of a camera stream.
MAX_REPLAY_REQUESTS = MAX_REQUESTS
#: Most executor events (requests x operators) one ``--trace`` holds in memory (about 150 bytes each).
MAX_TRACE_EVENTS = MAX_REPLAY_TRACE_EVENTS


def add_replay_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``replay`` to an argparse sub-parser collection; returns the new parser."""
    p = subparsers.add_parser("replay", help="serve requests on this machine's CPU/GPU under a placement")
    p.add_argument("--workload", required=True, help="shipped workload name (e.g. resnet18, resnet50_pruned80)")
    p.add_argument("--policy", default="cpu",
                   help="cpu | gpu | a schedule .json | a training directory (policy.zip + metadata.json: the SB3 "
                        "scheduler, queried per operator with the live hardware state; trusted files only) "
                        "(default cpu)")
    p.add_argument("--requests", type=at_most(positive_int("--requests"), "--requests", MAX_REPLAY_REQUESTS), default=8,
                   help=f"requests to serve (default 8; at most {MAX_REPLAY_REQUESTS:,})")
    p.add_argument("--arrival", default="closed",
                   help="closed | closed:C | poisson:RATE | periodic:FPS | trace:FILE (default closed)")
    p.add_argument("--max-batch", type=positive_int("--max-batch"), default=1, help="largest batch (default 1)")
    p.add_argument("--batch-timeout", type=float, default=math.inf, metavar="S",
                   help="serve a partial batch once its oldest request has waited S seconds (default: never)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (model weights, inputs, arrivals; default 0)")
    p.add_argument("--reduced", action="store_true", help="use the width-reduced model (32×32 inputs)")
    p.add_argument("--gpu", choices=("cuda", "none"), default="cuda",
                   help="GPU role: the CUDA device, or none to emulate it with a second CPU worker (default cuda)")
    p.add_argument("--fallback", choices=("error", "cpu"), default="error",
                   help="no CUDA device while the placement needs one: fail (default) or run on the CPU")
    p.add_argument("--tf32", choices=("conv", "all", "none"), default="conv",
                   help="TF32 on CUDA: conv (PyTorch's default: cuDNN only), all, none (default conv)")
    p.add_argument("--precision", choices=("fp32", "fp16", "fp16_tc"), default="fp32",
                   help="GPU operators in fp32, or float16 for fp16/fp16_tc (default fp32)")
    p.add_argument("--warmup", type=int, default=3, help="untimed warm-up batches before the stream (default 3)")
    p.add_argument("--trace", metavar="JSON", default=None, help="write a Chrome/Perfetto trace here")
    p.add_argument("--torch-trace", metavar="JSON", default=None,
                   help="also record the stream with torch.profiler and write its Chrome trace here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_replay)
    return p


def cmd_replay(args: argparse.Namespace) -> int:
    """Build the model and executor, replay the stream, print JSON or a table."""
    import torch

    from sparoa_sim.real.models import zoo
    from sparoa_sim.real.models.extract import magnitude_prune
    from sparoa_sim.real.run.executor import HybridExecutor
    from sparoa_sim.real.run.replay import replay
    from sparoa_sim.sim.arrivals import Batching, parse_arrival
    from sparoa_sim.sim.policies import StaticSchedule

    base, prune = zoo.resolve_workload(args.workload)
    model = zoo.build(base, seed=args.seed, reduced=args.reduced)
    if prune:
        magnitude_prune(model, prune)
    x1 = zoo.example_input(base, reduced=args.reduced, seed=args.seed)
    arrivals = parse_arrival(args.arrival, args.requests)
    batching = Batching(max_batch=args.max_batch, timeout_s=args.batch_timeout)
    with HybridExecutor(model, x1, gpu_device=None if args.gpu == "none" else "cuda", fallback=args.fallback,
                        name=args.workload, tf32=args.tf32, precision=args.precision) as ex:
        n = len(ex.graph)
        if args.trace and arrivals.n_requests * n > MAX_TRACE_EVENTS:
            raise SparOAError(f"--trace: {arrivals.n_requests:,} requests x {n} operators = "
                              f"{arrivals.n_requests * n:,} events, more than the {MAX_TRACE_EVENTS:,} a trace holds; "
                              f"trace a shorter stream (--requests)")
        if args.policy in ("cpu", "gpu"):
            placement: Any = [0.0 if args.policy == "cpu" else 1.0] * n
        elif Path(args.policy).is_dir():
            from sparoa_sim.real.run.policy_placer import SB3Placer

            placement = SB3Placer(args.policy, ex.graph)
        else:
            placement = StaticSchedule.load(args.policy)
        gen = torch.Generator().manual_seed(args.seed + 1)
        inputs: dict[int, torch.Tensor] = {}

        def make_input(r: int) -> torch.Tensor:
            x = inputs.get(r)
            if x is None:
                x = torch.randn(x1.shape, generator=gen)
                if r < args.max_batch:  # only the warm-up's requests are asked for again: memory stays bounded
                    inputs[r] = x
            return x

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)  # the fallback notice, whatever was shown before
            report, trace = replay(ex, placement, make_input, arrivals, batching, seed=args.seed,
                                   trace_path=args.trace, torch_trace_path=args.torch_trace, warmup=args.warmup)
    _show_warnings(caught)
    notice = overload_notice(report.offered_rate_rps, report.service_rate_rps)
    if notice:
        error_line(notice)
    doc = report.to_dict()
    doc["policy"] = args.policy
    doc["trace"] = None if trace is None else str(trace)
    doc["torch_trace"] = args.torch_trace
    from sparoa_sim.real.measure.device_state import device_state

    doc["device_state"] = device_state(probe_tegrastats=False)  # power mode, clocks, versions ("not a Jetson" with the reason elsewhere)
    return emit(doc, args.json, lambda: _render(doc))


def overload_notice(offered_rps: float | None, service_rps: float | None) -> str | None:
    """The one-line warning for a stream offered faster than the host served it, else None."""
    if offered_rps is None or service_rps is None or offered_rps <= service_rps:
        return None
    return (f"sparoa replay: warning: requests arrived at {offered_rps:.4g}/s but this host served "
            f"{service_rps:.4g}/s, so a queue built up and the latencies measure it, not the placement "
            f"(lower the rate below {service_rps:.3g}/s, or use --arrival closed)")


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    """The executor's CPU fallback as one notice line; other warnings shown once each, as Python would."""
    seen: set[tuple[type, str]] = set()
    for w in caught:
        key = (w.category, str(w.message))
        if key in seen:
            continue
        seen.add(key)
        if issubclass(w.category, RuntimeWarning) and "falling back to the CPU" in str(w.message):
            error_line(f"sparoa replay: notice: {w.message}")
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _render(doc: dict[str, Any]) -> list[Any]:
    e = doc["energy_per_inference_j"]
    interrupted = " (interrupted)" if doc["interrupted"] else ""
    rows = [
        ("completed / failed", f"{doc['completed']} / {doc['failed']}{interrupted}"),
        ("latency mean", f"{doc['latency_mean_s'] * 1e3:.4g} ms"),
        ("latency p50 / p95 / p99", f"{doc['latency_p50_s'] * 1e3:.4g} / {doc['latency_p95_s'] * 1e3:.4g} / "
                                    f"{doc['latency_p99_s'] * 1e3:.4g} ms"),
        ("throughput", f"{doc['throughput_rps']:.4g} req/s"),
        ("offered / served rate", "- (closed loop)" if doc["offered_rate_rps"] is None else
         f"{doc['offered_rate_rps']:.4g} / {doc['service_rate_rps'] or 0:.4g} req/s"
         + (" (overloaded)" if doc["overloaded"] else "")),
        ("energy per inference", "no meter on this host" if e is None else f"{e * 1e3:.4g} mJ"),
        ("CPU / GPU busy", f"{doc['cpu_busy_s'] * 1e3:.4g} / {doc['gpu_busy_s'] * 1e3:.4g} ms"),
        ("batches (mean size)", f"{doc['batches']} ({doc['mean_batch']:.3g})"),
        ("policy queries", f"{doc['policy_decisions']} in {doc['policy_decide_s'] * 1e3:.4g} ms"
                           if doc["policy_decisions"] else "- (fixed placement)"),
    ]
    out: list[Any] = [table(
        ("metric", "value"), rows, left=("metric",),
        title=f"replay {doc['workload']} on {doc['devices'].get('cpu', 'cpu')} + {doc['devices'].get('gpu', '-')}, "
              f"policy {doc['policy']}",
        caption=f"{doc['n_requests']} request(s), arrival {doc['arrival']}, max batch {doc['max_batch']}")]
    out += [f"request {f['request']} failed: {f['message']}" for f in doc["failures"][:5]]
    out += [f"{key.replace('_', ' ')} written to {doc[key]}" for key in ("trace", "torch_trace") if doc[key]]
    return out
