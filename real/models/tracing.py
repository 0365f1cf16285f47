"""Tracing a model with torch.fx and finding the IR's operators among its nodes.

The profiler and the hybrid executor both run a traced model node by node: they need the same
``torch.fx.GraphModule`` whose call nodes carry the :class:`~sparoa_sim.ir.graph.OpGraph`'s
operator names (as :func:`~sparoa_sim.real.models.extract.extract` names them), and each node's
work as a plain callable resolved once, before any clock starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.fx
from torch import nn

from sparoa_sim.errors import GraphError
from sparoa_sim.ir.graph import OpGraph

__all__ = ["graph_module", "node_callable"]


def node_callable(interp: torch.fx.Interpreter, n: torch.fx.Node) -> Callable[..., Any]:
    """The node's work as a plain callable, resolved before the clock starts (no attribute walk)."""
    if n.op == "call_module":
        return interp.fetch_attr(str(n.target))
    if n.op == "call_function":
        return n.target  # type: ignore[return-value]
    if n.op == "call_method":
        name = str(n.target)
        return lambda self_obj, *args, **kwargs: getattr(self_obj, name)(*args, **kwargs)
    return lambda: interp.fetch_attr(str(n.target))  # get_attr


def graph_module(model: nn.Module, graph: OpGraph) -> tuple[torch.fx.GraphModule, dict[str, int]]:
    """Trace ``model`` and map the IR's operators (named by fx node) to their indices."""
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many kinds of errors on untraceable code
        raise GraphError(f"{graph.name}: torch.fx cannot trace the model: {type(exc).__name__}: {exc}") from None
    nodes = {n.name: n for n in gm.graph.nodes}
    op_index: dict[str, int] = {}
    for i, op in enumerate(graph.ops):
        node = nodes.get(op.name)
        if node is None or not node.op.startswith("call_"):
            raise GraphError(f"{graph.name}: operator {i} ({op.name!r}) has no call node in the traced model")
        op_index[op.name] = i
    return gm, op_index
