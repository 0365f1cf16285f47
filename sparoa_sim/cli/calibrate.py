"""``sparoa calibrate``: fit a profile's latency parameters to measurement tables (docs/architecture.md §3, §9).

Starts from ``--base``, fits one device's roofline (and, unless ``--no-residual``, a shape-feature
residual) to tables from ``sparoa profile``, writes the fitted TOML profile to ``-o`` and reports
the fit; with two or more workloads the reported figures are held-out ones (leave one model out).
"""

from __future__ import annotations

import argparse
from typing import Any

from sparoa_sim.cli.output import emit, table
from sparoa_sim.cli.outputs_check import check_output_file, interrupted

__all__ = ["add_calibrate_parser", "cmd_calibrate"]

#: The fit figures reported per set (training, held out).
FIT_KEYS = ("n", "within_10pct", "within_20pct", "median_error", "mape", "repeatability_within_10pct")


def add_calibrate_parser(sub: Any) -> None:
    """Attach ``calibrate`` to the top-level sub-parsers."""
    p = sub.add_parser("calibrate", help="fit a profile's latency parameters to measurement tables")
    p.add_argument("tables", nargs="+", metavar="TABLE.json", help="measurement tables from `sparoa profile`")
    p.add_argument("--base", required=True, help="profile to start from (name or TOML path)")
    p.add_argument("--device", default="cpu", choices=("cpu", "gpu"), help="device whose parameters are fitted")
    p.add_argument("--name", default=None, help="name of the fitted profile (default: the base's)")
    p.add_argument("--context", default="graph", choices=("graph", "isolated"),
                   help="fit operators timed inside the running graph (default) or in isolation")
    p.add_argument("--no-residual", action="store_true", help="fit the roofline alone (no shape-feature residual)")
    p.add_argument("--alpha", type=float, default=0.01, help="ridge strength of the residual (default 0.01)")
    p.add_argument("--time-weight", type=float, default=0.25, metavar="G",
                   help="weigh each operator by (time / median time)^G in the fit: 0 = all alike; larger leans "
                        "towards the long operators that make up end-to-end latency (default 0.25, in [0, 2])")
    p.add_argument("--no-anchor", action="store_true",
                   help="CPU: skip the end-to-end anchor (by default, where the tables hold eager passes, the "
                        "per-kernel overhead and one compute scale are refitted to them; hwmodels.e2e_anchor)")
    p.add_argument("-o", "--output", required=True, help="fitted TOML profile to write")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Fit, write the profile, print the fit figures overall and per operator kind."""
    import dataclasses

    from sparoa_sim.hwmodels import load_platform, save_platform
    from sparoa_sim.hwmodels.calibrate import cross_validate, fit
    from sparoa_sim.hwmodels.measurements import load_table

    check_output_file(args.output, "-o")
    tables = [load_table(t) for t in args.tables]
    base = load_platform(args.base)
    workloads = sorted({r.workload for t in tables for r in t.rows})
    kw = {"context": args.context, "residual": not args.no_residual, "alpha": args.alpha,
          "time_weight": args.time_weight}
    try:
        held_out = cross_validate(base, tables, device=args.device, **kw) if len(workloads) >= 2 else None
        anchor = args.device == "cpu" and not args.no_anchor and any(
            e.batch == 1 for t in tables if t.device == "cpu" for e in t.end_to_end)
        result = fit(base, tables, device=args.device, anchor=anchor, **kw)
    except KeyboardInterrupt:
        return interrupted(f"calibration stopped before the fit was done; {args.output} not written")
    platform = dataclasses.replace(result.platform, name=args.name) if args.name else result.platform
    path = save_platform(platform, args.output)
    overall = (held_out or {"overall": result.report})["overall"]
    doc = {
        "path": str(path),
        "device": args.device,
        "workloads": workloads,
        "context": args.context,
        "residual": list(result.report["residual_features"]),
        "train": {k: result.report[k] for k in FIT_KEYS},
        "train_roofline_only": dict(result.report["roofline_only"]),
        "held_out": {k: held_out["overall"][k] for k in FIT_KEYS} if held_out else None,
        "per_kind": dict(overall["per_kind"]),
        "time_weight": args.time_weight,
        "e2e_anchor": result.report.get("e2e_anchor"),  # None: no anchor (GPU, --no-anchor, no eager pass)
        "sparse": result.report.get("sparse"),  # the CSR kernel fitted to the table's sweep, if it has one
    }

    def render():
        title = ("held-out workloads (shapes of the held-out model removed from training)" if held_out
                 else "training fit")
        rows = [("all", overall)] + sorted(doc["per_kind"].items())
        yield table(
            ("kind", "n", "within ±10 %", "within ±20 %", "median error", "MAPE", "repeatability ±10 %"),
            [(kind, r["n"], f"{r['within_10pct']:.1%}", f"{r['within_20pct']:.1%}", f"{r['median_error']:.1%}",
              f"{r['mape']:.1%}",
              f"{r['repeatability_within_10pct']:.1%}" if "repeatability_within_10pct" in r else "")
             for kind, r in rows],
            title=f"{args.device} fit, {title}", caption=f"fitted profile written to {path}", left=("kind",))
        an = doc["e2e_anchor"]
        if an:
            errs = ", ".join(f"{w} {v['error_before']:+.1%} → {v['error_after']:+.1%}"
                             for w, v in an["passes"].items())
            yield (f"end-to-end anchor on {len(an['passes'])} eager pass(es): per-kernel overhead "
                   f"{an['t_launch_before'] * 1e6:.1f} → {an['t_launch'] * 1e6:.1f} µs, compute scale {an['scale']:.3f} "
                   f"(twin vs eager: {errs})")
        sp = doc["sparse"]
        if sp:
            yield (f"sparse kernel fitted to {sp['n']} dense-vs-CSR sweep points: sparse_eta {sp['sparse_eta']:.3f}, "
                   f"CSR index overhead {sp['csr_index_overhead']:.2f}, median speed-up error "
                   f"{sp['median_speedup_error']:.1%}")

    return emit(doc, args.json, render)
