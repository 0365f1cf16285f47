"""Measured activation sparsity: a graph extracted with a user's trained weights on their own inputs.

The ``measured`` sparsity source (docs/architecture.md §2, §7): the weights (a ``state_dict``, read
with ``weights_only=True``) are loaded into a copy of the model, each input runs through the traced
graph at batch 1, and each operator gets the mean and the spread of its input activation sparsity
across the inputs. The graph records both files by name and sha256 (``SparsityProvenance``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn

from sparoa_sim.errors import GraphError
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.ir.sparsity import SourceFile, SparsityProvenance
from sparoa_sim.real.models.extract import extract
from sparoa_sim.real.models.user_inputs import (
    DEFAULT_MAX_INPUTS, MAX_INPUT_BYTES, MAX_WEIGHTS_BYTES, UserInputs, apply_state_dict, load_inputs,
    load_state_dict, sha256_file,
)

__all__ = ["check_user_files", "extract_measured", "measured_graph"]


def extract_measured(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    name: str,
    weights: str | os.PathLike[str],
    inputs: str | os.PathLike[str],
    max_inputs: int = DEFAULT_MAX_INPUTS,
    prune: float | None = None,
    seed: int = 0,
    max_weights_bytes: int = MAX_WEIGHTS_BYTES,
    max_input_bytes: int = MAX_INPUT_BYTES,
    reuse: bool = True,
) -> OpGraph:
    """The graph of ``model`` (its per-sample shape from ``input_shape``, batch first) with activation
    sparsity measured with the ``weights`` state_dict on the first ``max_inputs`` of ``inputs``
    (a ``.npy`` of shape (N, C, H, W) or a folder of images), with the pattern reuse of each operator's
    input zeros across them (``reuse``: ``act_reuse``, IR schema 4); ``model`` itself is left untouched."""
    if not isinstance(model, nn.Module):
        raise GraphError(f"{name}: expected a torch.nn.Module, got {type(model).__name__}")
    shape = tuple(int(d) for d in input_shape)
    if len(shape) < 2 or any(d <= 0 for d in shape):
        raise GraphError(f"--input-shape: expected a batch dimension and positive sizes, got {list(input_shape)!r}")
    wpath, ipath = check_user_files(weights, inputs)
    state = load_state_dict(wpath, max_bytes=max_weights_bytes)
    data = load_inputs(ipath, shape[1:], limit=max_inputs, max_bytes=max_input_bytes)
    return measured_graph(model, state, wpath, data, name=name, prune=prune, seed=seed, reuse=reuse)


def check_user_files(weights: str | os.PathLike[str], inputs: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Both files named before anything large is read: a missing one is a one-line GraphError."""
    wpath, ipath = Path(weights), Path(inputs)
    for label, p in (("weights", wpath), ("inputs", ipath)):
        if not p.exists():
            raise GraphError(f"{label} {p}: no such file")
    return wpath, ipath


def measured_graph(model: nn.Module, state: dict[str, torch.Tensor], weights: str | os.PathLike[str],
                   data: UserInputs, *, name: str, prune: float | None = None, seed: int = 0,
                   reuse: bool = True) -> OpGraph:
    """The measured-sparsity graph of ``model`` from a ``state`` already read from ``weights`` and inputs
    already read (``load_inputs``): what :func:`extract_measured` does once its files are read, for a caller
    that runs the model on the same weights and inputs (``sparoa validate``) and reads them once."""
    wpath = Path(weights)
    trained = copy.deepcopy(model)
    apply_state_dict(trained, state, wpath)
    wdigest = sha256_file(wpath)
    provenance = SparsityProvenance(kind="measured", files=(SourceFile("weights", wpath.name, wdigest), data.file),
                                    samples=int(data.tensor.shape[0]))
    source = (f"measured: trained weights {wpath.name} (sha256 {wdigest[:12]}) on {data.description} "
              f"(sha256 {data.file.sha256[:12]}); per-operator mean and spread across inputs"
              + (f"; weights magnitude-pruned to {prune:.0%} per layer" if prune else ""))
    sample = torch.zeros((1, *data.tensor.shape[1:]))
    return extract(trained, sample, name=name, prune=prune, seed=seed,
                   sparsity_source=source, inputs=data.tensor, provenance=provenance, reuse=reuse)
