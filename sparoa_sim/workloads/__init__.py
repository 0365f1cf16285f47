"""The shipped workload graphs (JSON extracted from ``real/zoo.py``) and their lookup by name.

Reading a workload needs no torch. A name resolves to a shipped graph; anything that looks like
a path (has a separator or ends in ``.json``) is read as a user's graph file.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

from sparoa_sim.errors import GraphError, SimulationError
from sparoa_sim.ir.graph import OpGraph, load_graph

__all__ = ["SPARSITY_CHOICES", "WORKLOAD_DIR", "as_graph", "list_workloads", "load_workload", "workload_path"]

#: Folder holding the shipped ``<name>.json`` graphs.
WORKLOAD_DIR = Path(str(resources.files(__name__)))


def list_workloads() -> list[str]:
    """Names of the shipped workloads, sorted."""
    return sorted(p.stem for p in WORKLOAD_DIR.glob("*.json"))


def _looks_like_path(name: str) -> bool:
    return name.endswith(".json") or os.sep in name or "/" in name


def workload_path(name: str | os.PathLike[str]) -> Path:
    """The file behind a workload name or path; raises :class:`GraphError` for an unknown name."""
    text = os.fspath(name)
    if _looks_like_path(text):
        return Path(text)
    path = WORKLOAD_DIR / f"{text}.json"
    if not path.is_file():
        known = ", ".join(list_workloads()) or "none shipped"
        raise GraphError(f"unknown workload {text!r} (known: {known}; or give a path to a graph .json)")
    return path


#: Values of ``load_workload(sparsity=...)``: the figures the file holds, or the published ones.
SPARSITY_CHOICES = ("init", "published")


def load_workload(name: str | os.PathLike[str], sparsity: str = "init") -> OpGraph:
    """Load a shipped workload by name, or a user's graph JSON by path.

    ``sparsity``: ``"init"`` (default) keeps the activation sparsity the file records (for the
    shipped graphs: random initialisation); ``"published"`` applies the cited figures of trained
    networks (``workloads.published``; the graph is renamed ``<name>_published``).
    """
    if sparsity not in SPARSITY_CHOICES:
        raise GraphError(f"load_workload: field 'sparsity' is {sparsity!r} (known: {', '.join(SPARSITY_CHOICES)})")
    path = workload_path(name)
    graph = _load_shipped(path.stem) if path.parent == WORKLOAD_DIR else load_graph(path)
    if sparsity == "published":
        return _published(graph)
    return graph


def _published(graph: OpGraph) -> OpGraph:
    from sparoa_sim.workloads.published import with_published_sparsity

    return with_published_sparsity(graph)


@lru_cache(maxsize=None)
def _load_shipped(name: str) -> OpGraph:
    # Graphs are immutable, so sharing one instance per shipped name is safe.
    return load_graph(WORKLOAD_DIR / f"{name}.json")


def as_graph(graph: OpGraph | str | os.PathLike[str]) -> OpGraph:
    """An :class:`OpGraph` as given, or the workload a name or path names (what every entry point accepts)."""
    if isinstance(graph, OpGraph):
        return graph
    if isinstance(graph, (str, os.PathLike)):
        return load_workload(graph)
    raise SimulationError(f"workload must be an OpGraph, a workload name or a path, got {graph!r}")
