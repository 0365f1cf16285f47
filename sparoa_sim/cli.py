"""The ``sparoa`` command line: a thin application layer over the Python API (DESIGN §9).

Every reporting command takes ``--json`` and then prints exactly one JSON object on stdout;
without it, a rich table. Bad input exits 2 with one line on stderr and no traceback. Upper
layers (torch, gymnasium, agents) are imported inside the command functions only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from sparoa_sim.cliargs import console as _console
from sparoa_sim.cliargs import positive
from sparoa_sim.cliargs import print_json as _print_json
from sparoa_sim.errors import SparOAError

__all__ = ["main", "build_parser"]


class _UsageError(SparOAError):
    """A command-line usage error (argparse's), reported like any bad input."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (exit 2) rather than usage text plus a line."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: {message}")




def _fmt(x: float, unit: str = "") -> str:
    """Compact engineering notation: 1.23 G, 45.6 k…"""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{prefix}{unit}"
    return f"{x:.3g}{unit}"


# ---------------------------------------------------------------------------------------------
# workloads


def _cmd_workloads_list(args: argparse.Namespace) -> int:
    from sparoa_sim.workloads import list_workloads, load_workload

    rows = [load_workload(name).summary() for name in list_workloads()]
    if args.json:
        _print_json({"workloads": rows})
        return 0
    from rich.table import Table

    table = Table(title="Shipped workloads (per sample, batch 1)")
    for col in ("name", "ops", "MACs", "FLOPs", "params", "sparsity source"):
        table.add_column(col, justify="left" if col in ("name", "sparsity source") else "right")
    for r in rows:
        table.add_row(r["name"], str(r["ops"]), _fmt(r["macs"]), _fmt(r["flops"]), _fmt(r["params"]),
                      r["sparsity_source"])
    _console().print(table)
    return 0


def _cmd_workloads_show(args: argparse.Namespace) -> int:
    from sparoa_sim.workloads import load_workload

    graph = load_workload(args.name)
    plot = None
    if args.plot:
        from sparoa_sim.plots import quadrant_plot

        plot = str(quadrant_plot(graph, args.plot, tau_s=args.tau_s, tau_i=args.tau_i, sparsity=args.sparsity))
    if args.json:
        doc = graph.summary()
        doc["input_shape"] = list(graph.input_shape)
        doc["ops_detail"] = [dict(op.to_dict(), intensity=op.intensity) for op in graph.ops]
        doc["plot"] = plot
        _print_json(doc)
        return 0
    from rich.table import Table

    s = graph.summary()
    table = Table(
        title=f"{graph.name}: {s['ops']} operators, {_fmt(s['macs'])} MACs, {_fmt(s['params'])} params, "
        f"input {list(graph.input_shape)}",
        caption=f"sparsity source: {graph.sparsity_source}",
    )
    for col in ("#", "name", "kind", "MACs", "FLOPs", "bytes in", "bytes out", "weights", "FLOP/B",
                "act sp", "w sp", "deps"):
        table.add_column(col, justify="left" if col in ("name", "kind", "deps") else "right")
    for i, op in enumerate(graph.ops):
        table.add_row(str(i), op.name, op.kind.value, _fmt(op.macs), _fmt(op.flops), _fmt(op.bytes_in, "B"),
                      _fmt(op.bytes_out, "B"), _fmt(op.bytes_w, "B"), f"{op.intensity:.3g}",
                      f"{op.act_sparsity:.2f}", f"{op.w_sparsity:.2f}", ",".join(map(str, op.deps)))
    console = _console()
    console.print(table)
    if plot:
        console.print(f"quadrant plot written to {plot}")
    return 0


# ---------------------------------------------------------------------------------------------
# platforms


def _platform_modes(platform) -> list[dict[str, Any]]:
    """Per power mode: cores, clocks and the derived peaks and bandwidth (for tables and JSON)."""
    rows = []
    for name in platform.mode_names:
        m = platform.mode(name)
        rows.append({
            "mode": name,
            "default": name == platform.default_mode,
            "cpu_cores": m.cpu_cores,
            "cpu_clock_hz": m.cpu_clock_hz,
            "gpu_tpcs": m.gpu_tpcs,
            "gpu_clock_hz": m.gpu_clock_hz,
            "cpu_fp32_flops": platform.peak_flops("cpu", m, "fp32"),
            "gpu_fp32_flops": platform.peak_flops("gpu", m, "fp32"),
            "gpu_fp16_tc_flops": platform.peak_flops("gpu", m, "fp16_tc"),
            "mem_bw": m.emc_bw,
            "board_idle_w": m.energy.board_idle_w,
        })
    return rows


def _cmd_platforms_list(args: argparse.Namespace) -> int:
    from sparoa_sim.hwmodels import list_platforms, load_platform

    rows = []
    for name in list_platforms():
        p = load_platform(name)
        d = p.mode(None)
        rows.append({"name": p.name, "description": p.description, "modes": list(p.mode_names),
                     "default_mode": p.default_mode, "cpu_fp32_flops": p.peak_flops("cpu", d, "fp32"),
                     "gpu_fp32_flops": p.peak_flops("gpu", d, "fp32"), "mem_bw": d.emc_bw, "source": str(p.source)})
    if args.json:
        _print_json({"platforms": rows})
        return 0
    from rich.table import Table

    table = Table(title="Hardware profiles (peaks in the default power mode)")
    for col in ("name", "modes", "default", "CPU FP32", "GPU FP32", "DRAM BW"):
        table.add_column(col, justify="left" if col in ("name", "modes", "default") else "right")
    for r in rows:
        table.add_row(r["name"], ", ".join(r["modes"]), r["default_mode"], _fmt(r["cpu_fp32_flops"], "FLOP/s"),
                      _fmt(r["gpu_fp32_flops"], "FLOP/s"), _fmt(r["mem_bw"], "B/s"))
    _console().print(table)
    return 0


def _cmd_platforms_show(args: argparse.Namespace) -> int:
    from sparoa_sim.hwmodels import load_platform

    p = load_platform(args.name)
    modes = _platform_modes(p)
    if args.json:
        doc = p.to_dict()
        doc["mode_summary"] = modes
        _print_json(doc)
        return 0
    from rich.table import Table

    table = Table(title=f"{p.name}: {p.description}", caption=f"profile: {p.source}")
    for col in ("mode", "CPU cores", "CPU clock", "GPU TPCs", "GPU clock", "CPU FP32", "GPU FP32", "GPU FP16 TC",
                "DRAM BW", "idle W"):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for r in modes:
        table.add_row(r["mode"] + (" (default)" if r["default"] else ""), str(r["cpu_cores"]),
                      _fmt(r["cpu_clock_hz"], "Hz"), str(r["gpu_tpcs"]), _fmt(r["gpu_clock_hz"], "Hz"),
                      _fmt(r["cpu_fp32_flops"], "FLOP/s"), _fmt(r["gpu_fp32_flops"], "FLOP/s"),
                      _fmt(r["gpu_fp16_tc_flops"], "FLOP/s"), _fmt(r["mem_bw"], "B/s"), f"{r['board_idle_w']:.2f}")
    console = _console()
    console.print(table)
    origins: dict[str, int] = {}
    for _key, origin, _note in p.provenance:
        origins[origin] = origins.get(origin, 0) + 1
    console.print("figures by origin: " + ", ".join(f"{k} {v}" for k, v in sorted(origins.items())))
    return 0


# ---------------------------------------------------------------------------------------------
# extract


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise SparOAError(f"--input-shape: expected comma-separated integers like 1,3,224,224, got {text!r}") from None
    if not shape or any(d <= 0 for d in shape):
        raise SparOAError(f"--input-shape: dimensions must be positive, got {text!r}")
    return shape


def _cmd_extract(args: argparse.Namespace) -> int:
    import os

    sys.path.insert(0, os.getcwd())  # let MODULE be a file in the current folder, as `python -m` would
    from sparoa_sim.graph import save_graph
    from sparoa_sim.real.extract import extract_factory

    graph = extract_factory(args.factory, _parse_shape(args.input_shape), name=args.name, prune=args.prune,
                            seed=args.seed)
    path = save_graph(graph, args.output)
    summary = dict(graph.summary(), path=str(path))
    if args.json:
        _print_json(summary)
    else:
        _console().print(f"wrote {path}: {summary['ops']} operators, {_fmt(summary['macs'])} MACs, "
                         f"{_fmt(summary['params'])} params")
    return 0


# ---------------------------------------------------------------------------------------------
# profile


def _cmd_profile(args: argparse.Namespace) -> int:
    from sparoa_sim.hwmodels.measurements import merge_tables
    from sparoa_sim.real.profiler import DEFAULT_SPARSE_SHAPES, parse_batches, profile_workload, save_table

    batches = parse_batches(args.batch)
    tables = [
        profile_workload(w, reduced=args.reduced, device=args.device, batches=batches, reps=args.reps,
                         threads=args.threads, time_budget_s=args.time_budget, bandwidth=i == 0,
                         bandwidth_bytes=args.bandwidth_mib * 2**20 if args.bandwidth_mib else None, clock=args.clock,
                         sparse_shapes=None if args.no_sparse or i else DEFAULT_SPARSE_SHAPES,
                         progress=not args.json)
        for i, w in enumerate(args.workload)
    ]
    table = tables[0] if len(tables) == 1 else merge_tables(tables)
    path = save_table(table, args.output)
    e2e = [{"workload": e.workload, "batch": e.batch, "time_s": e.time_s, "sum_isolated_s": e.sum_isolated_s,
            "sum_graph_s": e.sum_graph_s} for e in table.end_to_end]
    if args.json:
        _print_json({"path": str(path), "device": table.device, "rows": len(table.rows), "end_to_end": e2e})
        return 0
    from rich.table import Table

    out = Table(title=f"measured on {table.device} — written to {path}")
    for col in ("workload", "batch", "eager", "sum of isolated ops", "sum of in-graph ops"):
        out.add_column(col, justify="left" if col == "workload" else "right")
    for e in e2e:
        out.add_row(e["workload"], str(e["batch"]), _fmt(e["time_s"], "s"), _fmt(e["sum_isolated_s"], "s"),
                    _fmt(e["sum_graph_s"], "s"))
    _console().print(out)
    return 0


# ---------------------------------------------------------------------------------------------
# calibrate


def _cmd_calibrate(args: argparse.Namespace) -> int:
    import dataclasses

    from sparoa_sim.hwmodels import load_platform, save_platform
    from sparoa_sim.hwmodels.calibrate import cross_validate, fit
    from sparoa_sim.hwmodels.measurements import load_table

    tables = [load_table(t) for t in args.tables]
    base = load_platform(args.base)
    workloads = sorted({r.workload for t in tables for r in t.rows})
    kw = {"context": args.context, "residual": not args.no_residual, "alpha": args.alpha,
          "time_weight": args.time_weight}
    held_out = cross_validate(base, tables, device=args.device, **kw) if len(workloads) >= 2 else None
    result = fit(base, tables, device=args.device, **kw)
    platform = dataclasses.replace(result.platform, name=args.name) if args.name else result.platform
    path = save_platform(platform, args.output)
    keys = ("n", "within_10pct", "within_20pct", "median_error", "mape", "repeatability_within_10pct")
    doc = {
        "path": str(path),
        "device": args.device,
        "workloads": workloads,
        "context": args.context,
        "residual": list(result.report["residual_features"]),
        "train": {k: result.report[k] for k in keys},
        "train_roofline_only": dict(result.report["roofline_only"]),
        "held_out": {k: held_out["overall"][k] for k in keys} if held_out else None,
        "per_kind": dict((held_out or {"overall": result.report})["overall"]["per_kind"]),
        "time_weight": args.time_weight,
        "sparse": result.report.get("sparse"),  # the CSR kernel fitted to the table's sweep, if it has one
    }
    if args.json:
        _print_json(doc)
        return 0
    from rich.table import Table

    title = "held-out workloads (shapes of the held-out model removed from training)" if held_out else "training fit"
    table = Table(title=f"{args.device} fit, {title}", caption=f"fitted profile written to {path}")
    for col in ("kind", "n", "within ±10 %", "within ±20 %", "median error", "MAPE", "repeatability ±10 %"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    rows = [("all", (held_out or {"overall": result.report})["overall"])] + sorted(doc["per_kind"].items())
    for kind, r in rows:
        table.add_row(kind, str(r["n"]), f"{r['within_10pct']:.1%}", f"{r['within_20pct']:.1%}",
                      f"{r['median_error']:.1%}", f"{r['mape']:.1%}",
                      f"{r['repeatability_within_10pct']:.1%}" if "repeatability_within_10pct" in r else "")
    _console().print(table)
    sp = doc["sparse"]
    if sp:
        _console().print(f"sparse kernel fitted to {sp['n']} dense-vs-CSR sweep points: sparse_eta "
                         f"{sp['sparse_eta']:.3f}, CSR index overhead {sp['csr_index_overhead']:.2f}, median speed-up "
                         f"error {sp['median_speedup_error']:.1%}")
    return 0


# ---------------------------------------------------------------------------------------------
# parser


def _cmd_demo(args: argparse.Namespace) -> int:
    from sparoa_sim.real.demo import run_demo

    root = run_demo(args.output, quick=args.quick, progress=not args.json)
    if args.json:
        _print_json({"run_dir": str(root), "index": str(root / "index.md")})
    else:
        _console().print((root / "index.md").read_text())
        _console().print(f"\nEverything is in {root} (start with {root / 'index.md'}).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (sub-commands attach their handler as ``func``)."""
    parser = _Parser(prog="sparoa", description="SparOA-sim: digital twin for CPU-GPU hybrid DNN inference")
    from sparoa_sim import __version__

    parser.add_argument("--version", action="version", version=f"sparoa-sim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    wl = sub.add_parser("workloads", help="list or show the shipped workload graphs")
    wl_sub = wl.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = wl_sub.add_parser("list", help="every shipped workload with ops, MACs, FLOPs, params")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_workloads_list)
    p = wl_sub.add_parser("show", help="operators of one workload, optionally the quadrant plot")
    p.add_argument("name", help="shipped workload name or path to a graph .json")
    p.add_argument("--plot", metavar="PNG", help="write the sparsity-vs-intensity quadrant plot here")
    p.add_argument("--tau-s", type=float, default=0.5, help="sparsity threshold drawn on the plot (default 0.5)")
    p.add_argument("--tau-i", type=float, default=None,
                   help="intensity threshold, FLOP/B, drawn on the plot (default: the median)")
    p.add_argument("--sparsity", choices=("act", "weight", "max"), default="act",
                   help="which sparsity the plot shows (default act)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_workloads_show)

    pl = sub.add_parser("platforms", help="list or show the hardware profiles")
    pl_sub = pl.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = pl_sub.add_parser("list", help="every shipped (and user) hardware profile")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_platforms_list)
    p = pl_sub.add_parser("show", help="one profile: power modes, peaks, bandwidth, origins")
    p.add_argument("name", help="profile name or path to a TOML profile")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_platforms_show)

    p = sub.add_parser("extract", help="extract an operator graph from a torch module factory")
    p.add_argument("factory", metavar="MODULE:FACTORY", help="importable factory returning an nn.Module")
    p.add_argument("--input-shape", required=True, help="example input shape, e.g. 1,3,224,224")
    p.add_argument("-o", "--output", required=True, help="graph JSON to write")
    p.add_argument("--name", default=None, help="graph name (default: the factory's name)")
    p.add_argument("--prune", type=float, default=None, help="magnitude-prune weights to this sparsity first")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration inputs (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_extract)

    from sparoa_sim.agents.cli_simulate import add_simulate_parser

    add_simulate_parser(sub)
    from sparoa_sim.agents.cli_train import add_train_parser
    add_train_parser(sub)
    from sparoa_sim.agents.cli_evaluate import add_evaluate_parser
    add_evaluate_parser(sub)
    p = sub.add_parser("demo", help="the project end to end in minutes: plots, baselines, oracle, training, "
                                    "comparison, Gantt, sim-to-real -> runs/demo-<timestamp>/")
    p.add_argument("--quick", action="store_true", help="tiny budgets and the example host profile (about a minute)")
    p.add_argument("-o", "--output", default="runs", help="parent folder of the run directory (default runs/)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_demo)
    from sparoa_sim.agents.cli_oracle import add_oracle_parser
    add_oracle_parser(sub)
    from sparoa_sim.real.cli_replay import add_replay_parser
    add_replay_parser(sub)
    from sparoa_sim.real.cli_validate import add_validate_parser
    add_validate_parser(sub)

    p = sub.add_parser("profile", help="time every operator of a workload on this machine -> measurement table")
    p.add_argument("--workload", required=True, action="append", help="zoo workload (repeatable)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device to time on (default cpu)")
    p.add_argument("--batch", default="1", help="comma-separated batch sizes (default 1)")
    p.add_argument("--reduced", action="store_true", help="width-reduced model with 32x32 inputs (fast)")
    p.add_argument("--reps", type=int, default=30, help="most repetitions per figure (default 30)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--time-budget", type=positive("--time-budget", float), default=None,
                   help="seconds per workload (approximate)")
    p.add_argument("--no-sparse", action="store_true", help="skip the dense-vs-CSR sweep")
    p.add_argument("--bandwidth-mib", type=positive("--bandwidth-mib", int), default=None,
                   help="STREAM array size, MiB (default: 2x LLC)")
    p.add_argument("--clock", default="wall", choices=("wall", "thread_cpu"),
                   help="wall time (default) or the timing thread's CPU time (--threads 1; for shared hosts)")
    p.add_argument("-o", "--output", required=True, help="measurement table JSON to write")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_profile)

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
    p.add_argument("-o", "--output", required=True, help="fitted TOML profile to write")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_calibrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sparoa`` console script; returns the exit status."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except SparOAError as exc:
        print(f"sparoa: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sparoa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # an output path that is a folder, under a file, not writable; an unreadable input
        where = exc.filename2 or exc.filename  # a rename onto a folder names the target second
        print(f"sparoa: error: {exc.strerror or exc}" + (f": {where}" if where else ""), file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
