"""``sparoa validate``: the same placements through the twin and through this machine (docs/architecture.md §7, §9).

``add_validate_parser(subparsers)`` adds the sub-command; its handler is :func:`cmd_validate`.
It writes ``validation.json``, ``report.md`` and ``scatter.png`` to ``-o DIR``; with ``--json``
exactly one JSON object goes to stdout (keys ``e2e_error_mean``, ``e2e_error_max``,
``within_10pct``, ``kendall_tau`` among them). With ``--weights FILE --inputs FILE|DIR`` the model
runs with the user's trained weights on their inputs, and the twin reads the graph with the
activation sparsity measured on them. ``--platform host`` uses this machine's
calibrated profile, calibrating it first (progress on stderr) when there is none. Bad input
raises a ``SparOAError`` subclass (exit 2, one line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sparoa_sim.cli.args import add_tf32, add_user_weights, check_user_weights, positive_int, seed
from sparoa_sim.cli.output import emit, table
from sparoa_sim.cli.outputs_check import RUN_FILES, check_output_dir, interrupted

__all__ = ["add_validate_parser", "cmd_validate"]


def add_validate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``validate`` to an argparse sub-parser collection; returns the new parser."""
    p = subparsers.add_parser("validate", help="sim-to-real: twin vs this machine for the same placements")
    p.add_argument("--workload", required=True, help="shipped workload name (e.g. resnet18, resnet50_pruned80)")
    p.add_argument("--platform", required=True,
                   help="hardware profile name or TOML path; 'host' = this machine's calibrated profile "
                        "(calibrated first when there is none)")
    p.add_argument("--mode", default=None, help="power mode (default: the profile's default)")
    p.add_argument("--policies", nargs="+", default=None, metavar="POLICY",
                   help="candidate placements: registered policies and/or schedule .json files "
                        "(default cpu gpu threshold heft greedy)")
    p.add_argument("--reps", type=positive_int("--reps"), default=10,
                   help="executor runs per placement, in two halves (default 10)")
    p.add_argument("--batch", type=positive_int("--batch"), default=1, help="batch size (default 1)")
    p.add_argument("--reduced", action="store_true", help="use the width-reduced model (32×32 inputs)")
    p.add_argument("--setting", choices=("deterministic", "reference"), default="deterministic",
                   help="twin setting: deterministic (noise and background load off, contention on; default) "
                        "or reference (contention and dispatch interference off too)")
    p.add_argument("--threads", type=positive_int("--threads"), default=None,
                   help="torch threads (default: the mode's active CPU cores, capped by this machine's)")
    p.add_argument("--emulate-gpu", action="store_true",
                   help="no CUDA: still run placements with a GPU share, the GPU role on the CPU (not comparable)")
    add_tf32(p)
    add_user_weights(p, "run the model with (its activation sparsity measured on them, for the twin too)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (model weights, input; default 0)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for validation.json, report.md, "
                                                                         "scatter.png")
    p.add_argument("--force", action="store_true", help="write over a folder that holds another run")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_validate)
    return p


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate, write the three files, print JSON or a summary table."""
    check_user_weights(args)
    check_output_dir(args.output, "-o", force=args.force, resume_flag=None,
                     run_files=(*RUN_FILES, "validation.json", "report.md"))
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.real.measure.host_calibration import ensure_host_profile
    from sparoa_sim.real.run.validate import DEFAULT_POLICIES, validate, write_outputs

    platform = ensure_host_profile(not args.json) if args.platform == "host" else load_platform(args.platform)
    own = getattr(platform, "tf32", None)  # the profile's switch, where it has one
    tf32 = args.tf32 or (own if isinstance(own, str) else None) or "conv"  # the twin and the executor alike
    if args.tf32 and hasattr(platform, "with_tf32"):
        platform = platform.with_tf32(args.tf32)
    policies = tuple(args.policies) if args.policies else DEFAULT_POLICIES
    bar: list[Any] = []  # opened at the first run, so bad input fails before any progress output

    def progress(n: int) -> None:
        if not bar:
            from tqdm import tqdm

            bar.append(tqdm(desc=f"validating {args.workload}", unit="run", file=sys.stderr, disable=args.json))
        bar[0].update(n)

    try:
        report = validate(args.workload, platform, policies=policies, reps=args.reps, reduced=args.reduced,
                          batch=args.batch, mode=args.mode, setting=args.setting, seed=args.seed,
                          threads=args.threads, emulate_gpu=args.emulate_gpu, progress=progress,
                          tf32=tf32, weights=args.weights, inputs=args.inputs, max_inputs=args.max_inputs)
    except KeyboardInterrupt:
        return interrupted(f"validation stopped; nothing written to {args.output} (its files are written at the end)")
    finally:
        if bar:
            bar[0].close()
    files = write_outputs(report, Path(args.output))
    doc = report.to_dict()
    doc["files"] = {k: str(v) for k, v in files.items()}
    return emit(lambda: {k: v for k, v in doc.items() if k != "ops"},  # the per-operator table is in validation.json
                args.json, lambda: _render(doc))


def _render(doc: dict[str, Any]) -> list[Any]:
    def ms(v: float | None) -> str:
        return "–" if v is None else f"{v * 1e3:.3f}"

    out: list[Any] = [table(
        ("placement", "GPU ops", "twin ms", "measured ms", "repeat.", "error", "note"),
        [(p["name"], f"{p['gpu_ops']}/{p['n_ops']}", ms(p["predicted_s"]), ms(p["measured_s"]),
          "–" if p["repeatability"] is None else f"{p['repeatability']:.1%}",
          "–" if p["error"] is None else f"{p['error']:+.1%}", p["note"]) for p in doc["placements"]],
        title=f"validate {doc['workload']} on {doc['platform']} ({doc['mode']}), twin {doc['setting']}",
        caption=f"executor: CPU + {doc['devices']['gpu']}, {doc['threads']} thread(s), {doc['reps']} runs",
        left=("placement", "note"))]
    po = doc["per_op"]
    if po is not None:
        out.append(f"per operator: {po['n']} rows, {po['within_10pct']:.1%} within ±10 %, median |error| "
                   f"{po['median_error']:.1%} (repeatability: {po['repeatability_within_10pct']:.1%} within 10 %)")
    if doc["e2e_error_mean"] is not None:
        out.append(f"end to end |error|: mean {doc['e2e_error_mean']:.1%}, max {doc['e2e_error_max']:.1%}")
    c = doc.get("cpu_only") or {}
    if c.get("host_drift") is not None:
        out.append(f"host drift since calibration: eager ×{c['host_drift']:.3f} "
                   f"({c['calibration_eager_s'] * 1e3:.2f} → {c['eager_s'] * 1e3:.2f} ms); twin scaled by it vs "
                   f"executor: {c['drift_corrected_error']:+.1%}")
    if doc["kendall_tau"] is None:
        out.append(f"Kendall τ: not reported — {doc['ranking_reason']}")
    else:
        out.append(f"Kendall τ = {doc['kendall_tau']:.3f}; twin picks {doc['twin_choice']}, best measured "
                   f"{doc['measured_best']}: {doc['latency_lost_s'] * 1e3:.3f} ms lost")
    out.append(f"wrote {', '.join(doc['files'].values())}")
    return out
