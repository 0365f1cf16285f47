"""``sparoa extract MODEL``: an operator graph from a torch module factory or a zoo model (docs/architecture.md §2, §9).

MODEL is ``MODULE:FACTORY`` (the factory's module is imported — the user's code runs — with the
current folder appended to ``sys.path`` after torch and the project are imported, so a stray
``torch.py`` there shadows nothing) or a shipped zoo model's name. A factory that raises, needs
arguments or returns no module, and a model that cannot be traced, are one-line errors naming
MODEL; ``--input-shape`` is bounded (``sparoa_sim.limits``). The model is traced on an example input of
``--input-shape`` (a zoo model's own shape by default) and the graph written to ``-o`` as JSON.
With ``--weights FILE --inputs FILE|DIR`` the activation sparsity is ``measured``: the trained
``state_dict`` is loaded (``weights_only=True``) and each operator's sparsity is the mean and spread
over the first ``--max-inputs`` of the user's inputs (a ``.npy`` of shape (N, C, H, W), or a folder
of images read with Pillow); the graph records both files with their sha256.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from sparoa_sim.cli.args import add_user_weights, check_user_weights
from sparoa_sim.cli.output import emit, fmt
from sparoa_sim.errors import SparOAError
from sparoa_sim.limits import MAX_INPUT_DIMS, MAX_INPUT_ELEMENTS

__all__ = ["add_extract_parser", "cmd_extract", "parse_shape"]


def add_extract_parser(sub: Any) -> None:
    """Attach ``extract`` to the top-level sub-parsers."""
    p = sub.add_parser("extract", help="extract an operator graph from a torch module factory or a zoo model")
    p.add_argument("factory", metavar="MODEL",
                   help="MODULE:FACTORY (importable factory returning an nn.Module) or a zoo model name")
    p.add_argument("--input-shape", default=None,
                   help="example input shape, e.g. 1,3,224,224 (required for MODULE:FACTORY; a zoo model's by default)")
    p.add_argument("-o", "--output", required=True, help="graph JSON to write")
    p.add_argument("--name", default=None, help="graph name (default: the factory's or model's name)")
    p.add_argument("--prune", type=float, default=None, help="magnitude-prune weights to this sparsity first")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration inputs (default 0)")
    add_user_weights(p, "measure sparsity with")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_extract)


def parse_shape(text: str) -> tuple[int, ...]:
    """``1,3,224,224`` → ``(1, 3, 224, 224)``; positive dimensions only, at most ``MAX_INPUT_DIMS`` of
    them and ``MAX_INPUT_ELEMENTS`` elements in all (the example input is allocated)."""
    parts = text.split(",")
    if len(parts) > MAX_INPUT_DIMS:
        raise SparOAError(f"--input-shape: {len(parts)} dimensions, above the limit of {MAX_INPUT_DIMS} "
                          "(MAX_INPUT_DIMS)")
    try:
        shape = tuple(int(t) for t in parts if len(t.strip()) <= 20)  # no 4,300-digit integers
    except ValueError:
        raise SparOAError(f"--input-shape: expected comma-separated integers like 1,3,224,224, got {text!r}") from None
    if len(shape) != len(parts):
        raise SparOAError(f"--input-shape: a dimension is too large, got {text[:80]!r}")
    if not shape or any(d <= 0 for d in shape):
        raise SparOAError(f"--input-shape: dimensions must be positive, got {text!r}")
    elements = math.prod(shape)
    if elements > MAX_INPUT_ELEMENTS:
        raise SparOAError(f"--input-shape: {text} is {elements:,} elements, above the limit of {MAX_INPUT_ELEMENTS:,} "
                          "(MAX_INPUT_ELEMENTS)")
    return shape


def _model_and_shape(args: argparse.Namespace) -> tuple[Any, tuple[int, ...], str]:
    """The module MODEL names, its example input shape and the graph's default name."""
    from sparoa_sim.real.models import zoo
    from sparoa_sim.real.models.extract import check_shape, load_factory

    spec = args.factory
    if ":" not in spec and spec in zoo.model_names():
        shape = parse_shape(args.input_shape) if args.input_shape else tuple(zoo.input_shape(spec))
        return zoo.build(spec, seed=args.seed), shape, spec
    if args.input_shape is None:
        if ":" not in spec:
            raise SparOAError(f"MODEL {spec!r}: expected MODULE:FACTORY (e.g. mypkg.models:build) or a zoo model "
                              f"({', '.join(zoo.model_names())})")
        raise SparOAError(f"--input-shape: required for a MODULE:FACTORY model ({spec!r})")
    shape = check_shape(parse_shape(args.input_shape))
    return user_code(spec, "the factory", load_factory, spec), shape, spec.partition(":")[2].lower()


def user_code(spec: str, what: str, fn: Any, *fn_args: Any, **fn_kwargs: Any) -> Any:
    """``fn(*fn_args, **fn_kwargs)``, which runs the user's code: any exception it raises (a factory
    that needs arguments, a model that cannot be traced) becomes one SparOAError naming MODEL."""
    try:
        return fn(*fn_args, **fn_kwargs)
    except SparOAError:
        raise
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code: any error is theirs to read, in one line
        detail = " ".join(str(exc).split())[:300]
        raise SparOAError(f"MODEL {spec!r}: {what} raised {type(exc).__name__}: {detail}") from None


def cmd_extract(args: argparse.Namespace) -> int:
    """Extract, write the graph JSON, print its summary."""
    check_user_weights(args)
    if args.input_shape is not None:
        parse_shape(args.input_shape)  # bounded before torch is even imported
    from sparoa_sim.ir.graph import save_graph

    import torch

    from sparoa_sim.cli.user_code import add_user_folder
    from sparoa_sim.real.models.extract import extract
    from sparoa_sim.real.models.measured import extract_measured

    add_user_folder()  # torch, numpy and the extractor first; then the working folder, last on sys.path
    model, shape, default_name = _model_and_shape(args)
    name = args.name or default_name
    if args.weights is None:
        graph = user_code(args.factory, "tracing the model", extract, model, torch.zeros(shape), name=name,
                          prune=args.prune, seed=args.seed)
    else:
        graph = user_code(args.factory, "tracing the model", extract_measured, model, shape, name=name,
                          weights=args.weights, inputs=args.inputs, max_inputs=args.max_inputs, prune=args.prune,
                          seed=args.seed)
    path = save_graph(graph, args.output)
    summary = dict(graph.summary(), path=str(path), sparsity_kind=graph.sparsity_provenance.kind,
                   act_sparsity_mean=float(graph.arrays.act_sparsity.mean()))
    if graph.sparsity_provenance.samples:
        summary["sparsity_samples"] = graph.sparsity_provenance.samples
    return emit(summary, args.json, lambda: [
        f"wrote {path}: {summary['ops']} operators, {fmt(summary['macs'])} MACs, {fmt(summary['params'])} params, "
        f"activation sparsity {graph.sparsity_provenance.kind} (mean {summary['act_sparsity_mean']:.3f})"])
