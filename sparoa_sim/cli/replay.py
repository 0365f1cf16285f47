"""``sparoa replay``: serve a request stream of a shipped workload on this machine under a placement.

``add_replay_parser(subparsers)`` adds the sub-command; its handler is :func:`cmd_replay`. With
``--json`` exactly one JSON object goes to stdout (the keys of docs/architecture.md §9;
``energy_per_inference_j`` is null where no meter exists); bad input raises a ``SparOAError``
subclass (exit 2, one line). The executor and the replay loop are :mod:`sparoa_sim.real.run` (§7).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from sparoa_sim.cli.args import positive_int, seed
from sparoa_sim.cli.output import emit, table

__all__ = ["add_replay_parser", "cmd_replay"]


def add_replay_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``replay`` to an argparse sub-parser collection; returns the new parser."""
    p = subparsers.add_parser("replay", help="serve requests on this machine's CPU/GPU under a placement")
    p.add_argument("--workload", required=True, help="shipped workload name (e.g. resnet18, resnet50_pruned80)")
    p.add_argument("--policy", default="cpu",
                   help="cpu | gpu | a schedule .json | a training directory (policy.zip + metadata.json: the SB3 "
                        "scheduler, queried per operator with the live hardware state; trusted files only) "
                        "(default cpu)")
    p.add_argument("--requests", type=positive_int("--requests"), default=8, help="requests to serve (default 8)")
    p.add_argument("--arrival", default="closed", help="closed | closed:C | poisson:RATE | trace:FILE (default closed)")
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
            if r not in inputs:
                inputs[r] = torch.randn(x1.shape, generator=gen)
            return inputs[r]

        report, trace = replay(ex, placement, make_input, arrivals, batching, seed=args.seed, trace_path=args.trace,
                               torch_trace_path=args.torch_trace, warmup=args.warmup)
    doc = report.to_dict()
    doc["policy"] = args.policy
    doc["trace"] = None if trace is None else str(trace)
    doc["torch_trace"] = args.torch_trace
    from sparoa_sim.real.measure.device_state import device_state

    doc["device_state"] = device_state(probe_tegrastats=False)  # power mode, clocks, versions ("not a Jetson" with the reason elsewhere)
    return emit(doc, args.json, lambda: _render(doc))


def _render(doc: dict[str, Any]) -> list[Any]:
    e = doc["energy_per_inference_j"]
    interrupted = " (interrupted)" if doc["interrupted"] else ""
    rows = [
        ("completed / failed", f"{doc['completed']} / {doc['failed']}{interrupted}"),
        ("latency mean", f"{doc['latency_mean_s'] * 1e3:.4g} ms"),
        ("latency p50 / p95 / p99", f"{doc['latency_p50_s'] * 1e3:.4g} / {doc['latency_p95_s'] * 1e3:.4g} / "
                                    f"{doc['latency_p99_s'] * 1e3:.4g} ms"),
        ("throughput", f"{doc['throughput_rps']:.4g} req/s"),
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
