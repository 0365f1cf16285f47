"""``sparoa workloads list|show``: the shipped workload graphs, or one graph file (docs/architecture.md §9).

``list`` shows every shipped workload with its size; ``show NAME|PATH`` shows one graph's operators
and can draw the sparsity-vs-intensity quadrant plot.
"""

from __future__ import annotations

import argparse
from typing import Any

from sparoa_sim.cli.args import Parser, finite
from sparoa_sim.cli.output import emit, fmt, table

__all__ = ["add_workloads_parser", "cmd_workloads_list", "cmd_workloads_show"]


def add_workloads_parser(sub: Any) -> None:
    """Attach ``workloads list`` and ``workloads show`` to the top-level sub-parsers."""
    wl = sub.add_parser("workloads", help="list or show the shipped workload graphs")
    wl_sub = wl.add_subparsers(dest="action", required=False, parser_class=Parser)
    wl.set_defaults(func=cmd_workloads_list, json=False)  # no action: list
    p = wl_sub.add_parser("list", help="every shipped workload with ops, MACs, FLOPs, params")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_workloads_list)
    p = wl_sub.add_parser("show", help="operators of one workload, optionally the quadrant plot")
    p.add_argument("name", help="shipped workload name or path to a graph .json")
    p.add_argument("--plot", metavar="PNG", help="write the sparsity-vs-intensity quadrant plot here")
    p.add_argument("--tau-s", type=finite("--tau-s", 0.0, 1.0), default=0.5,
                   help="sparsity threshold drawn on the plot (default 0.5)")
    p.add_argument("--tau-i", type=finite("--tau-i", 0.0), default=None,
                   help="intensity threshold, FLOP/B, drawn on the plot (default: the median)")
    p.add_argument("--sparsity", choices=("act", "weight", "max"), default="act",
                   help="which sparsity the plot shows (default act)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_workloads_show)


def cmd_workloads_list(args: argparse.Namespace) -> int:
    """Every shipped workload's summary."""
    from sparoa_sim.workloads import list_workloads, load_workload

    rows = [load_workload(name).summary() for name in list_workloads()]
    return emit({"workloads": rows}, args.json, lambda: [table(
        ("name", "ops", "MACs", "FLOPs", "params", "sparsity source"),
        [(r["name"], r["ops"], fmt(r["macs"]), fmt(r["flops"]), fmt(r["params"]), r["sparsity_source"])
         for r in rows],
        title="Shipped workloads (per sample, batch 1)", left=("name", "sparsity source"))])


def cmd_workloads_show(args: argparse.Namespace) -> int:
    """One graph's operators; the quadrant plot when ``--plot`` names a file."""
    from sparoa_sim.workloads import load_workload

    graph = load_workload(args.name)
    plot = None
    if args.plot:
        from sparoa_sim.plots import quadrant_plot

        plot = str(quadrant_plot(graph, args.plot, tau_s=args.tau_s, tau_i=args.tau_i, sparsity=args.sparsity))
    s = graph.summary()

    def doc() -> dict[str, Any]:
        return dict(s, input_shape=list(graph.input_shape),
                    ops_detail=[dict(op.to_dict(), intensity=op.intensity) for op in graph.ops], plot=plot)

    def render():
        yield table(
            ("#", "name", "kind", "MACs", "FLOPs", "bytes in", "bytes out", "weights", "FLOP/B", "act sp", "w sp",
             "deps"),
            [(i, op.name, op.kind.value, fmt(op.macs), fmt(op.flops), fmt(op.bytes_in, "B"), fmt(op.bytes_out, "B"),
              fmt(op.bytes_w, "B"), f"{op.intensity:.3g}", f"{op.act_sparsity:.2f}", f"{op.w_sparsity:.2f}",
              ",".join(map(str, op.deps))) for i, op in enumerate(graph.ops)],
            title=f"{graph.name}: {s['ops']} operators, {fmt(s['macs'])} MACs, {fmt(s['params'])} params, "
                  f"input {list(graph.input_shape)}",
            caption=f"sparsity source: {graph.sparsity_source}", left=("name", "kind", "deps"))
        if plot:
            yield f"quadrant plot written to {plot}"

    return emit(doc, args.json, render)
