"""``sparoa oracle``: the exact CP-SAT oracle for one inference, from the command line (docs/architecture.md §6, §9).

``add_oracle_parser(subparsers)`` adds the sub-command; its handler is :func:`cmd_oracle`. Progress
goes to stderr; with ``--json`` exactly one JSON object goes to stdout (``latency_s``,
``bound_s``, ``optimal``, the baselines' reference-setting latencies and the gap to the best of
them — negative when the oracle is faster); ``-o`` writes the schedule, which
``sparoa simulate --policy FILE --reference`` replays.

``--search-evals``, ``--subsolvers`` and ``--chain-bound`` are the oracle's opt-in levers (a local-search
start, CP-SAT's full-problem worker, the chain-relaxation bound; ``benchmarks/oracle.py`` uses all three).
``--time-limit`` covers model building and solving. Ctrl-C ends with exit 130 and one line: an
interrupted solve's best schedule goes to ``NAME.interrupted.json`` beside ``-o`` (marked
``interrupted``, with its gap to the bound), never to ``-o`` itself, which holds only answers.
"""

from __future__ import annotations

import argparse
from typing import Any

from sparoa_sim.cli.args import comma_list, positive, positive_int, seed
from sparoa_sim.cli.output import emit, table
from sparoa_sim.cli.outputs_check import check_output_file, interrupted
from sparoa_sim.cli.scenario_args import add_scenario_args, fixed_load

__all__ = ["add_oracle_parser", "cmd_oracle"]


def add_oracle_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``oracle`` to an argparse sub-parser collection; returns the new parser."""
    p = subparsers.add_parser("oracle", help="exact minimum-latency placement and order of one inference (CP-SAT)")
    p.add_argument("--workload", required=True, help="shipped workload name or path to a graph .json")
    p.add_argument("--platform", required=True, help="hardware profile name or path to a TOML profile")
    p.add_argument("--mode", default=None, help="power mode (default: the profile's default)")
    p.add_argument("--batch", default="1", help="batch size of the inference (default 1)")
    p.add_argument("--precision", choices=("fp32", "fp16", "fp16_tc"), default="fp32", help="precision (default fp32)")
    p.add_argument("--time-limit", default="60", metavar="S",
                   help="time limit, seconds, for model building and solving (default 60)")
    p.add_argument("--workers", default="1", help="solver threads (default 1: reproducible with --seed)")
    p.add_argument("--seed", default="0", help="solver random seed (default 0)")
    p.add_argument("--search-evals", type=positive_int("--search-evals"), default=0, metavar="N",
                   help="run an iterated local search of N exact evaluations from the best start first (default 0: off)")
    p.add_argument("--subsolvers", type=comma_list, default=(), metavar="NAME[,NAME]",
                   help="CP-SAT's full-problem worker(s) with --workers 2 or more, e.g. objective_lb_search")
    p.add_argument("--chain-bound", action="store_true",
                   help="a proven lower bound from the chain left after dropping side branches between cut operators")
    add_scenario_args(p, corun=False)
    p.add_argument("--hint", default=None, metavar="SCHEDULE.json",
                   help="a schedule to start from (e.g. a trained scheduler's schedule.json), if better than the "
                        "heuristics")
    p.add_argument("-o", "--output", default=None, metavar="JSON", help="write the schedule here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_oracle)
    return p


def cmd_oracle(args: argparse.Namespace) -> int:
    """Solve, compare with the baselines, print JSON or a table; write the schedule if asked."""
    from sparoa_sim.agents.exact.oracle import OracleInterrupted, solve_oracle, stderr_log
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.sim.predtables import PredictionCache
    from sparoa_sim.workloads import load_workload

    # checked here, not by argparse, so a bad value gets its own one-line message
    batch = positive_int("--batch")(args.batch)
    time_limit = positive("--time-limit", float)(args.time_limit)  # positive and finite
    workers = positive_int("--workers")(args.workers)
    random_seed = seed(args.seed)
    load = fixed_load(args, "oracle")
    check_output_file(args.output, "-o")
    graph = load_workload(args.workload)
    platform = load_platform(args.platform)
    hint = None
    if args.hint is not None:
        from sparoa_sim.sim.policies import StaticSchedule

        hint = StaticSchedule.load(args.hint)
    mode = platform.mode(args.mode).name
    cache = PredictionCache()
    try:
        res = solve_oracle(graph, platform, mode=mode, batch=batch, precision=args.precision,
                           time_limit_s=time_limit, num_workers=workers, random_seed=random_seed,
                           cache=cache, log=stderr_log, load=load, hint=hint, search_evals=args.search_evals,
                           subsolvers=tuple(args.subsolvers), chain_bound=args.chain_bound)
    except OracleInterrupted as stop:
        return interrupted(_save_interrupted(stop.result, args.output))
    except KeyboardInterrupt:
        return interrupted("the oracle stopped before its solver started; nothing written")
    path = str(res.schedule.save(args.output)) if args.output else None
    try:
        return _report(args, res, graph, platform, mode, batch, load, cache, path)
    except KeyboardInterrupt:
        done = f"the {res.status} schedule was written to {path}" if path else "nothing written (no -o)"
        return interrupted(f"while simulating the baselines; {done}")


def _save_interrupted(res: Any, output: str | None) -> str:
    """Write an interrupted solve's best schedule beside ``output``, marked; say what was saved."""
    import json
    from pathlib import Path

    from sparoa_sim.hwmodels.fileio import atomic_write_text

    what = (f"solver stopped after {res.solve_time_s:.2f} s: best schedule {res.latency_s * 1e3:.4g} ms, "
            f"{res.gap:.2%} above the proven bound {res.bound_s * 1e3:.4g} ms (not optimal)")
    if not output:
        return f"{what}; nothing written (no -o)"
    out = Path(output)
    side = out.with_name(out.stem + ".interrupted" + (out.suffix or ".json"))
    doc = dict(res.schedule.to_dict(), interrupted=True, status=res.status, latency_s=res.latency_s,
               bound_s=res.bound_s, gap=res.gap, solve_time_s=res.solve_time_s)
    atomic_write_text(side, json.dumps(doc, indent=1) + "\n")
    return f"{what}; written to {side}, marked interrupted; {output} not written"


def _report(args: argparse.Namespace, res: Any, graph: Any, platform: Any, mode: str, batch: int,
            load: tuple[float, float], cache: Any, path: str | None) -> int:
    """The baselines at the same setting, then the JSON object or the table."""
    from sparoa_sim.agents.heuristics.baselines import TENSORRT_PRECISION, tensorrt_graph

    def at_load(g, policy, precision):  # one inference in the reference setting at the fixed load
        return reference_latency(g, platform, policy, mode=mode, batch=batch, precision=precision, load=load,
                                 cache=cache)

    baselines = dict(res.heuristics_s)
    baselines["coexec"] = at_load(graph, "coexec", args.precision)
    best_name = min(baselines, key=lambda k: (baselines[k], k))
    best = baselines[best_name]
    trt = at_load(tensorrt_graph(graph), "gpu", TENSORRT_PRECISION)
    replay = at_load(graph, res.schedule, args.precision)
    doc = {k: v for k, v in res.to_dict().items() if k != "schedule"}
    doc.update({"platform": platform.name, "scenario": args.scenario, "replay_latency_s": replay, "baselines_s": baselines,
                "best_baseline": best_name, "best_baseline_s": best, "gap_vs_best_baseline": res.latency_s / best - 1.0,
                "tensorrt_fp16_tc_s": trt, "schedule_path": path})
    return emit(doc, args.json, lambda: _render(doc))


def reference_latency(graph: Any, platform: Any, policy: Any, *, mode: str, batch: int, precision: str,
                      load: tuple[float, float], cache: Any = None) -> float:
    """Latency of one inference at ``batch`` in the reference setting at a fixed (cpu, gpu) background ``load``."""
    from sparoa_sim.sim.arrivals import Batching, ClosedLoop
    from sparoa_sim.sim.config import SimConfig
    from sparoa_sim.sim.hwstate import LoadTrace
    from sparoa_sim.sim.simulator import Simulator

    cfg = SimConfig(mode=mode, precision=precision, reference=True, record_trace=False,
                    background=LoadTrace.fixed(cpu=load[0], gpu=load[1]))
    return Simulator(graph, platform, policy, arrivals=ClosedLoop(batch), batching=Batching.fixed(batch), config=cfg,
                     cache=cache).run().latency_mean_s


def _load_text(load: Any) -> str:
    return "" if not any(load) else f" at background load cpu {load[0]:.0%}, gpu {load[1]:.0%}"


def _render(doc: dict[str, Any]) -> list[Any]:
    from sparoa_sim.agents.heuristics.baselines import TENSORRT_LABEL

    lat = doc["latency_s"]
    rows = [("oracle", f"{lat * 1e3:.4g} ms", ""),
            ("oracle lower bound", f"{doc['bound_s'] * 1e3:.4g} ms", f"{doc['bound_s'] / lat - 1:+.2%}")]
    rows += [(name, f"{v * 1e3:.4g} ms", f"{v / lat - 1:+.2%}")
             for name, v in sorted(doc["baselines_s"].items(), key=lambda kv: kv[1])]
    rows.append((TENSORRT_LABEL, f"{doc['tensorrt_fp16_tc_s'] * 1e3:.4g} ms",
                 f"{doc['tensorrt_fp16_tc_s'] / lat - 1:+.2%}"))
    return [
        table(("schedule", "latency", "gap to oracle"), rows, left=("schedule",),
              title=f"oracle: {doc['workload']} on {doc['platform']} ({doc['mode']}, {doc['precision']}), "
                    f"batch {doc['batch']}",
              caption=f"{doc['status']} in {doc['solve_time_s']:.2f} s ({doc['num_workers']} worker(s), seed "
                      f"{doc['random_seed']}); reference setting{_load_text(doc['load'])}; gap to oracle > 0: slower than the oracle (one sign in every table)"),
        f"operators on the GPU: {doc['gpu_ops']} of {doc['n_ops']}",
        f"schedule written to {doc['schedule_path']}" if doc["schedule_path"] else None,
    ]
