"""``sparoa extract MODULE:FACTORY``: an operator graph from a torch module factory (docs/architecture.md §2, §9).

The factory's module is imported (the current folder first, as ``python -m`` would), its model
traced on an example input of ``--input-shape`` and the graph written to ``-o`` as JSON.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sparoa_sim.cli.output import emit, fmt
from sparoa_sim.errors import SparOAError

__all__ = ["add_extract_parser", "cmd_extract", "parse_shape"]


def add_extract_parser(sub: Any) -> None:
    """Attach ``extract`` to the top-level sub-parsers."""
    p = sub.add_parser("extract", help="extract an operator graph from a torch module factory")
    p.add_argument("factory", metavar="MODULE:FACTORY", help="importable factory returning an nn.Module")
    p.add_argument("--input-shape", required=True, help="example input shape, e.g. 1,3,224,224")
    p.add_argument("-o", "--output", required=True, help="graph JSON to write")
    p.add_argument("--name", default=None, help="graph name (default: the factory's name)")
    p.add_argument("--prune", type=float, default=None, help="magnitude-prune weights to this sparsity first")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration inputs (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_extract)


def parse_shape(text: str) -> tuple[int, ...]:
    """``1,3,224,224`` → ``(1, 3, 224, 224)``; positive dimensions only."""
    try:
        shape = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise SparOAError(f"--input-shape: expected comma-separated integers like 1,3,224,224, got {text!r}") from None
    if not shape or any(d <= 0 for d in shape):
        raise SparOAError(f"--input-shape: dimensions must be positive, got {text!r}")
    return shape


def cmd_extract(args: argparse.Namespace) -> int:
    """Extract, write the graph JSON, print its summary."""
    import os

    sys.path.insert(0, os.getcwd())  # let MODULE be a file in the current folder, as `python -m` would
    from sparoa_sim.ir.graph import save_graph
    from sparoa_sim.real.models.extract import extract_factory

    graph = extract_factory(args.factory, parse_shape(args.input_shape), name=args.name, prune=args.prune,
                            seed=args.seed)
    path = save_graph(graph, args.output)
    summary = dict(graph.summary(), path=str(path))
    return emit(summary, args.json, lambda: [
        f"wrote {path}: {summary['ops']} operators, {fmt(summary['macs'])} MACs, {fmt(summary['params'])} params"])
