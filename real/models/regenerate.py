"""Regenerate the shipped workload graphs (``sparoa_sim/workloads/*.json``) from the model zoo.

``python -m sparoa_sim.real.models.regenerate [NAME ...]`` (or ``make workloads``): extracts every
zoo model at its full size and the pruned variants, writing each graph atomically.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sparoa_sim.ir.graph import save_graph
from sparoa_sim.real.models import zoo
from sparoa_sim.real.models.extract import extract
from sparoa_sim.workloads import WORKLOAD_DIR

__all__ = ["SHIPPED", "main"]

#: Workload name -> (zoo model, weight sparsity from magnitude pruning or None).
SHIPPED: dict[str, tuple[str, float | None]] = {
    **{name: (name, None) for name in zoo.model_names()},
    "resnet50_pruned50": ("resnet50", 0.5),
    "resnet50_pruned80": ("resnet50", 0.8),
    "vit_b_16_pruned50": ("vit_b_16", 0.5),
    "vit_b_16_pruned80": ("vit_b_16", 0.8),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Extract the named (default: all) shipped workloads into the package's workload folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"workloads to regenerate (default all: {', '.join(SHIPPED)})")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and calibration seed (default 0)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SHIPPED]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)} (known: {', '.join(SHIPPED)})")
    from tqdm import tqdm

    for name in tqdm(args.names or list(SHIPPED), desc="extracting", unit="model", file=sys.stderr):
        model_name, prune = SHIPPED[name]
        model = zoo.build(model_name, seed=args.seed)
        graph = extract(model, zoo.example_input(model_name), name=name, prune=prune, seed=args.seed)
        path = save_graph(graph, WORKLOAD_DIR / f"{name}.json")
        tqdm.write(f"{path.name}: {len(graph)} ops, {graph.total_macs / 1e9:.3f} GMACs, {graph.n_params:,} params",
                   file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
