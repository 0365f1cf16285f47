"""``sparoa simulate``: one simulation from the command line (docs/architecture.md §4, §9).

``add_simulate_parser(subparsers)`` adds the sub-command; its handler is :func:`cmd_simulate`.
The options are read once into a :class:`SimulateRun` (the workload and profile loaded, the
arrival process parsed, ``--policy tensorrt`` resolved to the fused graph on the GPU at FP16),
then simulated. With ``--json`` exactly one JSON object goes to stdout (the results' keys plus
the paths of any trace and Gantt chart written); without it, a rich table. Bad input raises a
``SparOAError`` subclass, which the ``sparoa`` entry point turns into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparoa_sim.cli.args import add_tf32, at_most, finite, positive_int, seed
from sparoa_sim.cli.output import emit, table
from sparoa_sim.cli.scenario_args import add_scenario_args, read_scenario
from sparoa_sim.errors import SimulationError
from sparoa_sim.limits import MAX_REQUESTS

if TYPE_CHECKING:  # annotations only: the engine is imported when a command runs
    from sparoa_sim.hwmodels import Platform
    from sparoa_sim.ir.graph import OpGraph
    from sparoa_sim.sim.arrivals import Arrivals

__all__ = ["MAX_REQUESTS", "SimulateRun", "add_simulate_parser", "cmd_simulate", "read_simulate_args"]


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
    p.add_argument("--tau-s", type=finite("--tau-s", 0.0, 1.0), default=None,
                   help="threshold policy: sparsity threshold (default 0.5)")
    p.add_argument("--tau-i", type=finite("--tau-i", 0.0), default=None,
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
    p.add_argument("--max-inflight", type=positive_int("--max-inflight"), default=1,
                   help="batches in the engine at once (default 1)")
    p.add_argument("--requests", type=at_most(positive_int("--requests"), "--requests", MAX_REQUESTS), default=None,
                   help="requests to simulate (default: one batch)")
    p.add_argument("--arrival", default="closed", help="closed | closed:C | poisson:RATE | trace:FILE (default closed)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--reference", action="store_true",
                   help="reference setting: noise, background load, contention and dispatch interference off")
    p.add_argument("--precision", choices=("fp32", "fp16", "fp16_tc"), default=None,
                   help="precision (default fp32; --policy tensorrt: fp16_tc, and no other)")
    add_tf32(p)
    add_scenario_args(p)
    p.add_argument("--trace", metavar="JSON", default=None, help="write a Chrome/Perfetto trace here")
    p.add_argument("--gantt", metavar="PNG", default=None, help="write a Gantt chart here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_simulate)
    return p


@dataclass(frozen=True)
class SimulateRun:
    """What ``sparoa simulate``'s options describe, read once; the argparse Namespace stays as given.

    ``--policy tensorrt`` is resolved here: the fused graph, policy ``gpu``, precision ``fp16_tc``
    (fusion changes the graph, so it is not a placement policy). ``batch`` is None for
    ``--batch auto``; ``arrivals`` then counts ``--requests`` (or 1) until the optimiser's run is known.
    """

    graph: OpGraph
    platform: Platform
    policy: str
    precision: str
    policy_kwargs: dict[str, Any] | None
    arrivals: Arrivals
    batch: int | None
    candidates: tuple[int, ...] = ()
    scenario: Any = None
    engine: Any = None
    #: What the run is reported as where that is not ``policy`` (``tensorrt (fused, fp16_tc)``), else None.
    label: str | None = None


def _policy_kwargs(args: argparse.Namespace) -> dict[str, Any] | None:
    """The threshold policy's options; refused (named as the user gave them) with any other policy."""
    kw = {k: v for k, v in (("tau_s", args.tau_s), ("tau_i", args.tau_i), ("sparsity", args.sparsity),
                            ("intensity", args.intensity)) if v is not None}
    if kw and args.policy not in ("threshold", "threshold-best"):
        raise SimulationError(f"--tau-s/--tau-i/--sparsity/--intensity apply to --policy threshold only, "
                              f"not {args.policy!r}")
    return kw or None


def read_simulate_args(args: argparse.Namespace) -> SimulateRun:
    """Check the options and load what they name: options first, then the workload and the profile."""
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.sim.arrivals import Poisson, parse_arrival
    from sparoa_sim.workloads import load_workload

    policy_kwargs = _policy_kwargs(args)
    policy, precision, label = args.policy, args.precision or "fp32", None
    if policy == "tensorrt":
        from sparoa_sim.agents.heuristics.baselines import TENSORRT_LABEL, tensorrt_precision

        precision, label = tensorrt_precision(args.precision), TENSORRT_LABEL  # an explicit fp32/fp16 is refused
    candidates: tuple[int, ...] = ()
    if args.batch == "auto":
        if args.slo_ms is None:
            raise SimulationError("--batch auto (the batch-size optimiser) needs --slo-ms (the latency SLO)")
        if not (math.isfinite(args.slo_ms) and args.slo_ms > 0):
            raise SimulationError(f"--slo-ms must be a positive number of milliseconds, got {args.slo_ms!r}")
        batch = None
        arrivals = parse_arrival(args.arrival, args.requests or 1)
        if not isinstance(arrivals, Poisson):
            raise SimulationError(f"--batch auto (the batch-size optimiser) needs --arrival poisson:RATE (the rate "
                                  f"to serve), got {args.arrival!r}")
        candidate = at_most(positive_int("--batch-candidates"), "--batch-candidates", MAX_REQUESTS)
        candidates = tuple(candidate(t) for t in args.batch_candidates.split(",") if t.strip())
        if not candidates:
            raise SimulationError(f"--batch-candidates must list batch sizes, got {args.batch_candidates!r}")
    else:
        if args.slo_ms is not None:
            raise SimulationError("--slo-ms applies to --batch auto only")
        batch = positive_int("--batch")(args.batch)
        if args.requests is None and batch > MAX_REQUESTS:  # --requests defaults to one batch
            raise SimulationError(f"--batch {batch:,}: one batch is {batch:,} requests (--requests defaults to one "
                                  f"batch), above the limit of {MAX_REQUESTS:,} requests (MAX_REQUESTS)")
        arrivals = parse_arrival(args.arrival, batch if args.requests is None else args.requests)
    graph = load_workload(args.workload)
    if policy == "tensorrt":
        from sparoa_sim.agents.heuristics.baselines import TENSORRT_PRECISION, tensorrt_graph

        graph, policy, precision = tensorrt_graph(graph), "gpu", TENSORRT_PRECISION  # reported under `label`
    platform = load_platform(args.platform).with_tf32(getattr(args, "tf32", None))
    scenario = read_scenario(args)
    engine = None
    if scenario is not None:
        from sparoa_sim.scenarios import StreamSpec
        from sparoa_sim.scenarios.engine import engine_inputs

        if batch is None:
            raise SimulationError("--batch auto chooses the batch size for a Poisson stream; it does not combine "
                                  "with --scenario/--background/--corun")
        if args.reference and scenario.background is not None and scenario.background.kind == "markov" \
                and scenario.fixed_load is None:
            raise SimulationError(f"--reference switches off the random (Markov) background load scenario "
                                  f"{scenario.name} is about; drop --reference or use a fixed load or a load trace")
        own_stream = scenario.primary != StreamSpec()
        engine = engine_inputs(scenario, args.requests if own_stream else arrivals.n_requests)
        if own_stream:
            arrivals = engine.arrivals
    return SimulateRun(graph=graph, platform=platform, policy=policy, precision=precision,
                       policy_kwargs=policy_kwargs, arrivals=arrivals, batch=batch, candidates=candidates,
                       scenario=scenario, engine=engine, label=label)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run the simulation ``args`` describe; print JSON or a table; write trace/Gantt if asked."""
    from sparoa_sim.cli.outputs_check import check_outputs
    from sparoa_sim.sim.arrivals import Batching
    from sparoa_sim.sim.budget import check_run_budget
    from sparoa_sim.sim.config import SimConfig
    from sparoa_sim.sim.simulator import Simulator

    check_outputs([("--trace", args.trace), ("--gantt", args.gantt)])  # every output, before any work
    run = read_simulate_args(args)
    auto = None
    batch, arrivals = run.batch, run.arrivals
    if batch is None:
        auto = _auto_batch(args, run)
        batch = auto.batch
        arrivals = dataclasses.replace(arrivals, n_requests=auto.requests)  # the run the optimiser chose, reproduced
    record = bool(args.trace or args.gantt)
    batching = Batching(max_batch=batch, timeout_s=args.batch_timeout, max_inflight=args.max_inflight)
    config = SimConfig(mode=args.mode, precision=run.precision, reference=args.reference, record_trace=record)
    extra: dict[str, Any] = {}
    if run.engine is not None:
        config = run.engine.config(config)
        extra = {"coruns": run.engine.coruns, "deadline_s": run.engine.deadline_s}
        if run.scenario.primary != _default_stream():
            batching = run.engine.batching
    check_run_budget(run.graph, run.platform, arrivals, batching, args.mode, run.precision,  # before any work
                     background=config.background_on)
    sim = Simulator(run.graph, run.platform, run.policy, arrivals=arrivals, batching=batching, config=config,
                    seed=args.seed, policy_kwargs=run.policy_kwargs, **extra)
    res = sim.run()
    trace_path = gantt_path = None
    if record:
        tr = sim.trace()
        if args.trace:
            trace_path = str(tr.save(args.trace))
        if args.gantt:
            gantt_path = str(tr.gantt(args.gantt))

    kernels = cpu_kernels(run.graph, run.platform, args.mode, run.precision)

    def doc() -> dict[str, Any]:
        out = res.to_dict(per_request=False)
        if run.label is not None:
            out["policy"] = run.label
        out["tf32"] = run.platform.tf32
        out["cpu_kernels"] = kernels
        out["scenario"] = None if run.scenario is None else run.scenario.name
        out["trace"] = trace_path
        out["gantt"] = gantt_path
        if auto is not None:
            out["batch_auto"] = auto.to_dict()
        return out

    def render():
        yield from _result_table(res, run.platform.tf32, run.scenario, run.label)
        yield "CPU kernels the twin chooses (batch 1): " + ", ".join(f"{n} {k}" for k, n in kernels.items())
        if run.scenario is not None and (run.scenario.coruns or any(st.deadline_s for st in res.streams)):
            yield stream_table(res.streams)
        yield f"trace written to {trace_path}" if trace_path else None
        yield f"Gantt chart written to {gantt_path}" if gantt_path else None
        if auto is not None:
            yield (f"batch auto: {auto.batch} (of {[c.batch for c in auto.candidates]}), {auto.stat} "
                   f"{auto.latency_s * 1e3:.4g} ms within the SLO {auto.slo_s * 1e3:.4g} ms at "
                   f"{auto.rate_rps:g} req/s, {auto.throughput_rps:.4g} req/s")

    return emit(doc, args.json, render)


def _auto_batch(args: argparse.Namespace, run: SimulateRun):
    """The batch-size optimiser's choice for ``--batch auto`` (checked by :func:`read_simulate_args`)."""
    from sparoa_sim.agents.experiments.batchsize import optimise_batch

    rate = run.arrivals.rate
    print(f"batch auto: simulating batch sizes {list(run.candidates)} at {rate:g} req/s ...", file=sys.stderr,
          flush=True)
    return optimise_batch(run.graph, run.platform, run.policy, rate_rps=rate, slo_s=args.slo_ms / 1e3,
                          stat=args.slo_stat, candidates=list(run.candidates), requests=args.requests,
                          batch_timeout_s=args.batch_timeout, max_inflight=args.max_inflight, seed=args.seed,
                          reference=args.reference, mode=args.mode, precision=run.precision,
                          policy_kwargs=run.policy_kwargs)


def cpu_kernels(graph: Any, platform: Any, mode: str | None, precision: str) -> dict[str, int]:
    """How many operators the twin runs on each CPU kernel (dense, CSR weights, activation-sparse) at batch 1:
    the one kernel rule (``hwmodels.latency.choose_kernel``) the executor follows too."""
    import numpy as np

    from sparoa_sim.hwmodels import predict
    from sparoa_sim.hwmodels.latency import KERNELS

    chosen = predict(platform, graph.hw_ops, 1, mode, precision).kernels_chosen[:, 0]
    return {k: int(np.count_nonzero(chosen == i)) for i, k in enumerate(KERNELS)}


def _default_stream() -> Any:
    from sparoa_sim.scenarios import StreamSpec

    return StreamSpec()


def stream_table(streams: Any) -> Any:
    """Per-stream latency, throughput and deadline satisfaction (co-running models, deadlines)."""
    rows = [(s.name, s.workload, s.n_requests, f"{s.latency_p50_s * 1e3:.4g}", f"{s.latency_p95_s * 1e3:.4g}",
             f"{s.throughput_rps:.4g}", "–" if s.deadline_s is None else f"{s.deadline_s * 1e3:.4g} ms",
             "–" if s.slo_met is None else f"{s.slo_met:.1%}") for s in streams]
    return table(("stream", "workload", "requests", "p50 ms", "p95 ms", "req/s", "deadline", "met"), rows,
                 left=("stream", "workload"), title="Streams (the first is the --workload's)")


def _result_table(res: Any, tf32: str = "conv", scenario: Any = None, label: str | None = None) -> list[Any]:
    setting = "reference setting" if res.reference else "noise, background load and contention on"
    if scenario is not None:
        setting += f"; scenario {scenario.name}"
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
    return [table(("metric", "value"), rows, left=("metric",),
                  title=f"{res.workload} on {res.platform} ({res.mode}, {res.precision}, tf32 {tf32}), "
                        f"policy {label or res.policy}",
                  caption=f"{res.n_requests} request(s), arrival {res.arrival}, batch {res.max_batch}, "
                          f"seed {res.seed}, {setting}")]
