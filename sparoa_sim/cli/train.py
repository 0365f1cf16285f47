"""``sparoa train predictor|scheduler``: offline training on a laptop (docs/architecture.md §6, §9).

``train predictor -o DIR`` builds regret surfaces (shipped + synthetic workloads × random
platforms, power modes and loads), trains both predictor models, keeps the better on held-out
workloads and writes ``DIR/predictor.pt`` + ``DIR/metadata.json`` (the held-out report inside).
``train scheduler … -o DIR`` trains an SB3 agent on ``SparOA-v0`` (``DIR/policy.zip``), or with ``--algo ils``
/ ``--scenario`` the load-aware placement policy at the scenario's loads (``DIR/policy.json``); both write
``DIR/schedule.json`` and ``DIR/metadata.json``.

``-o DIR`` is checked before any work: an empty or unwritable path is refused, and so is a folder
that holds another run unless ``--resume`` (scheduler) or ``--force`` is given. Ctrl-C ends with
exit 130 and one line naming what was kept (the last checkpoint, if any).
"""

from __future__ import annotations

import argparse
from typing import Any

from sparoa_sim.cli.args import positive
from sparoa_sim.cli.args import seed as seed_arg
from sparoa_sim.cli.output import emit, table
from sparoa_sim.cli.outputs_check import check_output_dir, interrupted
from sparoa_sim.cli.scenario_args import add_scenario_args, read_scenario
from sparoa_sim.errors import SimulationError

__all__ = ["add_train_parser", "cmd_train_predictor", "cmd_train_scheduler"]


def _emit(args: argparse.Namespace, doc: dict[str, Any], title: str) -> int:
    """The training summary: JSON, or one key/value table (keys may hold workload paths: shown literally)."""
    return emit(doc, args.json, lambda: [table(
        ("key", "value"), [(k, f"{v:.4g}" if isinstance(v, float) else v) for k, v in doc.items()],
        title=title, left=("key",))])


def cmd_train_predictor(args: argparse.Namespace) -> int:
    """``train predictor``: regret surfaces, both models, the better kept; writes ``DIR``."""
    check_output_dir(args.output, "-o", force=args.force, resume_flag=None)
    from sparoa_sim.agents.learn.predictor import MODELS, train_default

    models = MODELS if args.model == "both" else (args.model,)
    try:
        pred, report = train_default(12 if args.quick else args.synthetic, 3 if args.quick else args.contexts,
                                     15 if args.quick else args.epochs, models, args.seed,
                                     show_progress=not args.json)
    except KeyboardInterrupt:
        return interrupted(f"predictor training stopped; nothing written to {args.output}")
    out = pred.save(args.output)
    doc = dict(report.to_dict(), output=str(out))
    return _emit(args, doc, f"threshold predictor (kept {report.model}) → {out}")


def cmd_train_scheduler(args: argparse.Namespace) -> int:
    """``train scheduler``: an SB3 agent on ``SparOA-v0``; writes ``DIR``."""
    check_output_dir(args.output, "-o", resume=args.resume, force=args.force)
    from sparoa_sim.agents.learn import scheduler

    algo, loads = args.algo or "maskable-ppo", ((0.0, 0.0),)
    sc = read_scenario(args)
    if sc is not None:
        if args.algo not in (None, "ils"):
            raise SimulationError(f"--scenario/--background train the load-aware policy (--algo ils) on the loads "
                                  f"the scenario visits; --algo {args.algo} trains on SparOA-v0's own load")
        named = args.scenario is not None and args.background is None
        if not named and (sc.coruns or sc.primary.arrival.kind != "closed"):
            raise SimulationError(f"train scheduler: --background changes scenario {sc.name}, which has co-running "
                                  "models or a request stream; write the combination to a scenario file and give that")
        algo, loads = "ils", sc.load_levels
    job = scheduler.TrainJob(
        workloads=tuple(args.workload), output=args.output, platform=args.platform, mode=args.mode,
        algo=algo, loads=loads, scenario=args.scenario if sc is not None and args.background is None else None,
        timesteps=args.timesteps, time_budget_s=args.time_budget, seed=args.seed, lam=args.lam,
        thresholds_dir=args.thresholds or None, resume=args.resume, workers=getattr(args, "workers", 1),
        ray=getattr(args, "ray", None), show_progress=not args.json)
    try:
        doc = scheduler.run_training(job).to_dict()  # the library's training entry point
    except KeyboardInterrupt:
        return interrupted(_kept(args.output))
    if args.timesteps is not None and int(doc.get("timesteps") or 0) > args.timesteps:
        import sys

        print(f"sparoa train: notice: trained {int(doc['timesteps']):,} steps, not --timesteps {args.timesteps:,}: "
              f"{algo} learns from whole rollouts", file=sys.stderr)
    return _emit(args, doc, f"scheduler ({algo}) → {args.output}")


def _kept(output: str) -> str:
    """What an interrupted ``train scheduler`` left in ``output``."""
    from pathlib import Path

    ckpt = Path(output) / "checkpoints" / "latest.zip"
    if ckpt.is_file():
        return f"training stopped; the last checkpoint {ckpt} is kept (continue with --resume)"
    return f"training stopped before its first checkpoint; no policy written to {output}"


def add_train_parser(sub: Any) -> None:
    """Attach ``train predictor`` and ``train scheduler`` to the top-level sub-parsers."""
    tr = sub.add_parser("train", help="train the threshold predictor or the RL scheduler")
    tr_sub = tr.add_subparsers(dest="what", required=True, parser_class=type(tr))

    p = tr_sub.add_parser("predictor", help="train the threshold predictor on regret surfaces")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--force", action="store_true", help="write over a directory that holds another run")
    p.add_argument("--model", choices=("both", "transformer_lstm", "mlp"), default="both")
    p.add_argument("--synthetic", type=positive("--synthetic"), default=40, help="synthetic training graphs")
    p.add_argument("--contexts", type=positive("--contexts"), default=8, help="hardware contexts per graph")
    p.add_argument("--epochs", type=positive("--epochs"), default=60)
    p.add_argument("--seed", type=seed_arg, default=0)
    p.add_argument("--quick", action="store_true", help="small data and few epochs (≈ 1 minute)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train_predictor)

    s = tr_sub.add_parser("scheduler", help="train an SB3 scheduler on SparOA-v0")
    s.add_argument("--workload", action="append", required=True,
                   help="workload name or graph JSON (repeat, or 'synthetic', for a generalist)")
    s.add_argument("--platform", default="jetson-orin-nano-8gb")
    s.add_argument("--mode", default=None)
    s.add_argument("--algo", choices=("sac", "ppo", "maskable-ppo", "ils"), default=None,
                   help="maskable-ppo (default), ppo, sac (SparOA's), or ils: the load-aware placement policy "
                        "(iterated local search on the exact evaluator; the default with --scenario)")
    budget = s.add_mutually_exclusive_group()
    budget.add_argument("--timesteps", type=positive("--timesteps"), default=None)
    budget.add_argument("--time-budget", type=positive("--time-budget", float), default=None,
                        help="seconds of training (wall clock)")
    s.add_argument("--lam", type=float, default=0.0, help="energy weight λ")
    s.add_argument("--thresholds", default=None, help="trained predictor directory: thresholds as features")
    s.add_argument("--seed", type=seed_arg, default=0)
    add_scenario_args(s, corun=False)
    s.add_argument("--resume", action="store_true",
                   help="continue from DIR/checkpoints if present (an SB3 zip is a pickle: resume only your own "
                        "runs)")
    s.add_argument("--force", action="store_true", help="write over a directory that holds another run")
    s.add_argument("--workers", type=positive("--workers"), default=1,
                   help="environment workers collecting experience (local processes, or Ray actors with --ray)")
    s.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="environment workers as Ray actors (a local cluster, or ADDRESS; extra sparoa-sim[ray])")
    s.add_argument("-o", "--output", required=True, help="output directory")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_train_scheduler)
