"""Regenerate the shipped workload graphs (``sparoa_sim/workloads/*.json``) from the model zoo.

``python -m sparoa_sim.real.models.regenerate [NAME ...]`` (or ``make workloads``): extracts every
zoo model at its full size and the pruned variants, writing each graph atomically.

``--kernels-only`` re-extracts but writes only each operator's ``kernels`` into the existing files,
every other field kept as it is: activation sparsity counts exact zeros after floating-point sums
whose order depends on the machine and its threads, so a fresh extraction moves a few fractions by
~1e-6 — this option adds kernel counts without touching the measured numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from sparoa_sim.errors import GraphError
from sparoa_sim.ir.graph import OpGraph, load_graph, save_graph
from sparoa_sim.real.models import zoo
from sparoa_sim.real.models.extract import extract
from sparoa_sim.workloads import WORKLOAD_DIR

__all__ = ["SHIPPED", "main", "with_kernels_of"]

#: Workload name -> (zoo model, weight sparsity from magnitude pruning or None).
SHIPPED: dict[str, tuple[str, float | None]] = {
    **{name: (name, None) for name in zoo.model_names()},
    "resnet50_pruned50": ("resnet50", 0.5),
    "resnet50_pruned80": ("resnet50", 0.8),
    "vit_b_16_pruned50": ("vit_b_16", 0.5),
    "vit_b_16_pruned80": ("vit_b_16", 0.8),
}


def with_kernels_of(existing: OpGraph, fresh: OpGraph) -> OpGraph:
    """``existing`` with each operator's ``kernels`` taken from ``fresh``, every other field unchanged;
    the two must have the same operators (names, in order), else :class:`GraphError`."""
    if [op.name for op in existing.ops] != [op.name for op in fresh.ops]:
        raise GraphError(f"{existing.name}: the fresh extraction has other operators than the existing graph "
                         f"({len(fresh)} vs {len(existing)}); regenerate it in full")
    ops = tuple(dataclasses.replace(old, kernels=new.kernels) for old, new in zip(existing.ops, fresh.ops, strict=True))
    return dataclasses.replace(existing, ops=ops)


def main(argv: Sequence[str] | None = None) -> int:
    """Extract the named (default: all) shipped workloads into the package's workload folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"workloads to regenerate (default all: {', '.join(SHIPPED)})")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and calibration seed (default 0)")
    parser.add_argument("--kernels-only", action="store_true",
                        help="write only the kernel counts into the existing files, keeping every other field")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SHIPPED]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)} (known: {', '.join(SHIPPED)})")
    from tqdm import tqdm

    for name in tqdm(args.names or list(SHIPPED), desc="extracting", unit="model", file=sys.stderr):
        model_name, prune = SHIPPED[name]
        model = zoo.build(model_name, seed=args.seed)
        graph = extract(model, zoo.example_input(model_name), name=name, prune=prune, seed=args.seed)
        path = WORKLOAD_DIR / f"{name}.json"
        if args.kernels_only:
            graph = with_kernels_of(load_graph(path), graph)
        save_graph(graph, path)
        kernels = sum(op.kernels for op in graph.ops)
        tqdm.write(f"{path.name}: {len(graph)} ops, {kernels} kernels, {graph.total_macs / 1e9:.3f} GMACs, "
                   f"{graph.n_params:,} params", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
