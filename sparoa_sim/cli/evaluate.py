"""``sparoa evaluate``: the evaluation harness from the command line (docs/architecture.md §6, §9).

Writes to the ``-o`` folder ``cells.jsonl`` (one line per finished cell; re-running with the same
folder resumes), ``summary.json``, ``summary.md``, ``speedup.png`` and, with ``--lams``, one
latency–energy Pareto plot per case. ``--workers N`` runs cells in N local processes;
``--ray [ADDRESS]`` fans them out as Ray tasks (optional extra ``sparoa-sim[ray]``).

With ``--scenarios A,B`` it runs the scenario benchmark instead (docs/scenarios.md,
:mod:`sparoa_sim.agents.experiments.scenario_bench`): per scenario × workload × platform/mode the best single
device, the baselines, the learned policy's own schedules (``--seeds`` seeds, worst reported), the oracle or
the best known schedule, and deadline satisfaction; it writes ``groups.jsonl`` (resumable), ``scenarios.json``
and ``scenarios.md``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sparoa_sim.cli.args import comma_list, positive
from sparoa_sim.cli.output import emit, table
from sparoa_sim.cli.outputs_check import RUN_FILES, check_output_dir, interrupted
from sparoa_sim.errors import SparOAError
from sparoa_sim.hwmodels.fileio import file_token

__all__ = ["add_evaluate_parser", "cmd_evaluate", "parse_lams"]

#: What a sweep writes in its folder (a rerun resumes there); the scenario benchmark's files.
SWEEP_FILES = ("cells.jsonl", "summary.json")
SCENARIO_FILES = ("groups.jsonl", "scenarios.json")


def parse_lams(text: str) -> list[float]:
    """``--lams``: comma-separated energy weights λ ≥ 0."""
    try:
        vals = [float(t) for t in comma_list(text)]
    except ValueError:
        raise SparOAError(f"--lams: expected comma-separated numbers, got {text!r}") from None
    if any(not (v >= 0) for v in vals):
        raise SparOAError(f"--lams: energy weights must be >= 0, got {text!r}")
    return vals


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run (or resume) the sweep, write the report files, print the summary."""
    own = SCENARIO_FILES if args.scenarios else SWEEP_FILES  # checked before any work or import
    out_dir = check_output_dir(args.output, "-o", force=args.force, resume_flag=None,
                               run_files=[f for f in RUN_FILES if f not in own])
    if args.scenarios:
        return _cmd_scenarios(args)
    if args.crn_seeds != 5 or args.requests is not None:
        raise SparOAError("--crn-seeds and --requests apply to --scenarios only")
    args.seeds = args.seeds or 1

    from tqdm import tqdm

    from sparoa_sim.agents.experiments.evaluate import (DEFAULT_POLICIES, cells, done_keys, pareto_plot, run_sweep,
                                                        summarise, write_report)

    opts: dict[str, Any] = {"oracle_time_limit_s": args.oracle_time_limit, "learn_budget_s": args.learn_budget,
                            "batch": args.batch}
    policies = args.policies or list(DEFAULT_POLICIES)
    sweep = cells(args.workloads, args.platforms, args.modes, policies, args.seeds, **opts)
    if args.lams:
        sweep += [c for lam in args.lams if lam > 0
                  for c in cells(args.workloads, args.platforms, args.modes, ["learned"], args.seeds, lam=lam, **opts)]
    backend = "ray" if args.ray is not None else "local"
    address = args.ray or None
    keys = {c.key for c in sweep}
    cells_file = out_dir / "cells.jsonl"
    try:
        with tqdm(total=len(sweep), desc="evaluate", unit="cell", disable=args.json, file=sys.stderr) as bar:
            rows = run_sweep(sweep, args.output, workers=args.workers, backend=backend, address=address,
                             progress=bar.update)
    except KeyboardInterrupt:
        saved = sum(1 for k in done_keys(cells_file) if k in keys)
        return interrupted(f"{saved} of {len(sweep)} cells saved in {cells_file} (a cell cut short is not saved); "
                           "run the same command again to resume")
    files = write_report(rows, args.output)
    if args.lams:
        by_case: dict[tuple, list[dict[str, Any]]] = {}
        for r in rows:
            by_case.setdefault((r["workload"], r["platform"], r["mode"]), []).append(r)
        for (w, p, m), rs in by_case.items():
            name = f"pareto-{file_token(w)}-{file_token(p)}-{file_token(str(m))}.png"
            files[f"pareto[{w}/{p}/{m}]"] = str(pareto_plot(rs, out_dir / name, title=f"{w} on {p} ({m})"))
    table_rows = [r for r in summarise(rows) if r["lam"] == 0.0]
    cols = ("workload", "platform", "mode", "policy", "latency ms", "× GPU", "× TRT", "gap to oracle",
            "gain realised")
    return emit({"summary": table_rows, "files": files, "cells": len(rows)}, args.json, lambda: [table(
        cols,
        [(r["workload"], r["platform"], r["mode"], r["policy"], f"{1e3 * r['latency_s']:.3f}",
          "–" if r["speedup_vs_gpu"] is None else f"{r['speedup_vs_gpu']:.3f}",
          "–" if r["speedup_vs_tensorrt"] is None else f"{r['speedup_vs_tensorrt']:.3f}",
          "–" if r["gap_to_oracle"] is None else f"{100 * r['gap_to_oracle']:+.2f} %",
          "–" if r["gain_realised"] is None else f"{100 * r['gain_realised']:.0f} %") for r in table_rows],
        title=f"evaluation ({len(rows)} cells) — {files['markdown']}", left=cols[:4])])


def _cmd_scenarios(args: argparse.Namespace) -> int:
    """``evaluate --scenarios``: the scenario benchmark over the grid; tables plus JSON."""
    import json
    from pathlib import Path

    from tqdm import tqdm

    from sparoa_sim.agents.experiments.scenario_bench import groups, markdown, run_groups
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.hwmodels.fileio import atomic_write_text

    if args.policies or args.lams or args.batch != 1 or args.ray is not None:
        raise SparOAError("--scenarios runs its own policy set at batch 1 (the scenario sets batching); "
                          "drop --policies/--lams/--batch/--ray")
    pms = []
    for plat in dict.fromkeys(args.platforms):
        pl = load_platform(plat)
        for mode in dict.fromkeys(args.modes or [None]):
            try:
                pms.append((plat, pl.mode(mode).name))
            except SparOAError:
                continue
    if not pms:
        raise SparOAError(f"evaluate: modes {args.modes} exist on none of {args.platforms}")
    gs = groups(args.workloads, pms, args.scenarios, seeds=args.crn_seeds, learn_seeds=args.seeds or 3,
                learn_budget_s=args.learn_budget, oracle_time_limit_s=args.oracle_time_limit, requests=args.requests)
    out = Path(args.output)
    try:
        with tqdm(total=len(gs), desc="scenarios", unit="group", disable=args.json, file=sys.stderr) as bar:
            rows = run_groups(gs, args.output, workers=args.workers, progress=bar.update)
    except KeyboardInterrupt:
        return interrupted(f"finished groups are saved in {out / 'groups.jsonl'} (a group cut short is not saved); "
                           "run the same command again to resume")
    files = {"json": str(atomic_write_text(out / "scenarios.json", json.dumps({"rows": rows}, indent=1))),
             "markdown": str(atomic_write_text(out / "scenarios.md", markdown(rows)))}
    summary = [dict(scenario=r["scenario"], workload=r["workload"], platform=r["platform"], mode=r["mode"],
                    **r["summary"]) for r in rows]
    cols = ("scenario", "workload", "platform", "mode", "best single ms", "best baseline ms", "learned ms",
            "reference ms", "gain", "realised")
    return emit({"summary": summary, "files": files, "cells": len(rows)}, args.json, lambda: [table(
        cols,
        [(r["scenario"], r["workload"], r["platform"], r["mode"], f"{1e3 * r['best_single_s']:.3f}",
          f"{1e3 * r['best_baseline_s']:.3f}", f"{1e3 * r['learned_worst_s']:.3f}", f"{1e3 * r['reference_s']:.3f}",
          f"{100 * r['achievable_gain']:+.1f} %",
          "–" if r["gain_realised"] is None else f"{100 * r['gain_realised']:.0f} %") for r in summary],
        title=f"scenario benchmark ({len(rows)} cells) — {files['markdown']}", left=cols[:4],
        caption="learned: the policy's own schedules, worst seed; gain realised only where the achievable gain "
                ">= 5 %")])


def add_evaluate_parser(sub: Any) -> None:
    """Attach ``sparoa evaluate`` to the top-level sub-parsers."""
    p = sub.add_parser("evaluate", help="policies × workloads × platforms × modes → one table (+ plots)")
    p.add_argument("--workloads", type=comma_list, required=True, help="comma-separated workload names")
    p.add_argument("--platforms", type=comma_list, required=True, help="comma-separated profile names")
    p.add_argument("--modes", type=comma_list, default=None, help="comma-separated power modes (default: each default)")
    p.add_argument("--policies", type=comma_list, default=None, help="comma-separated policies (default: all)")
    p.add_argument("--seeds", type=positive("--seeds", int), default=None,
                   help="seeds for learned policies (default 1; 3 with --scenarios)")
    p.add_argument("--scenarios", type=comma_list, default=None, metavar="NAME|FILE,…",
                   help="run the scenario benchmark over these scenarios (sparoa scenarios list)")
    p.add_argument("--crn-seeds", type=positive("--crn-seeds", int), default=5,
                   help="--scenarios: common-random-number seeds of a stochastic scenario (default 5)")
    p.add_argument("--requests", type=positive("--requests", int), default=None,
                   help="--scenarios: requests per stream, overriding the scenario files (quick runs)")
    p.add_argument("--batch", type=positive("--batch", int), default=1)
    p.add_argument("--lams", type=parse_lams, default=None, help="λ sweep for the learned policy (Pareto plot)")
    p.add_argument("--oracle-time-limit", type=positive("--oracle-time-limit", float), default=10.0)
    p.add_argument("--learn-budget", type=positive("--learn-budget", float), default=20.0,
                   help="seconds of training per learned cell")
    p.add_argument("--workers", type=positive("--workers", int), default=1, help="local worker processes")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run cells as Ray tasks (a local cluster, or ADDRESS)")
    p.add_argument("-o", "--output", required=True,
                   help="output directory (an evaluation there is resumed; one holding another kind of run, e.g. "
                        "a training, is refused)")
    p.add_argument("--force", action="store_true", help="write into a directory that holds another kind of run")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)
