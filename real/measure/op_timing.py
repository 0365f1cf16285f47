"""Per-operator timing of a traced model: each operator alone and inside full graph passes.

:class:`IsolatedWalker` runs the graph once and, at each IR operator, times its target alone on
the inputs it received (in-place operators on copies); :class:`GraphTimer` times every node of
full passes and charges each to the operator that owns it (:func:`attribution`: views,
``get_attr`` and constants go to their first consuming operator, else their last producer);
:func:`profile_batch` takes both, plus eager passes, in two halves interleaved in time.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx
from torch import nn

from sparoa_sim.real.models.kernel_count import node_owners
from sparoa_sim.real.measure.timing import Clock, Figure, figure, n_reps, settle, time_adaptive
from sparoa_sim.real.models.tracing import node_callable

__all__ = ["BatchResult", "GraphTimer", "IsolatedWalker", "Reps", "attribution", "profile_batch"]


@dataclass(frozen=True)
class Reps:
    """Repetition policy per half of a figure: floor, cap and the time to fill."""

    lo: int
    hi: int
    warmup: int
    settle_s: float
    iso_target_s: float
    graph_target_s: float
    e2e_target_s: float


_INPLACE_FUNCS = {operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.setitem}


def _may_mutate(node: torch.fx.Node, modules: dict[str, nn.Module]) -> bool:
    """Whether calling the node may write into its inputs (then it is timed on copies)."""
    if node.op == "call_module":
        return bool(getattr(modules[str(node.target)], "inplace", False))
    if node.op == "call_method":
        return str(node.target).endswith("_")
    if node.op == "call_function":
        return node.target in _INPLACE_FUNCS or bool(node.kwargs.get("inplace", False))
    return False


def _clone_tensors(value: Any) -> Any:
    return torch.fx.node.map_aggregate(value, lambda v: v.clone() if isinstance(v, torch.Tensor) else v)


class IsolatedWalker(torch.fx.Interpreter):
    """Runs the graph once; at each operator node, times its target alone on the node's inputs."""

    def __init__(self, gm: torch.fx.GraphModule, op_index: dict[str, int], clock: Clock, reps: Reps,
                 on_op: Callable[[], None]) -> None:  # fmt: skip
        super().__init__(gm)
        self.op_index = op_index
        self.clock = clock
        self.reps = reps
        self.on_op = on_op
        self.modules = dict(gm.named_modules())
        self.times: dict[int, list[float]] = {}

    def run_node(self, n: torch.fx.Node) -> Any:
        i = self.op_index.get(n.name)
        if i is None:
            return super().run_node(n)
        with self._set_current_node(n):
            args, kwargs = self.fetch_args_kwargs_from_env(n)
            fn = node_callable(self, n)
            t_args, t_kwargs = args, kwargs
            if _may_mutate(n, self.modules):
                t_args, t_kwargs = _clone_tensors(args), _clone_tensors(kwargs)
            r = self.reps
            call = lambda: fn(*t_args, **t_kwargs)  # noqa: E731
            self.times[i] = time_adaptive(call, self.clock, r.warmup, r.iso_target_s, r.lo, r.hi)
            self.on_op()
            return fn(*args, **kwargs)


class GraphTimer(torch.fx.Interpreter):
    """Runs the graph, timing every node; each node's time goes to the operator that owns it."""

    def __init__(self, gm: torch.fx.GraphModule, owner: dict[str, int], n_ops: int, clock: Clock) -> None:
        super().__init__(gm)
        self.owner = owner
        self.n_ops = n_ops
        self.clock = clock
        self.marks: list[tuple[int, Any, Any]] = []
        self.calls = {n.name: node_callable(self, n) for n in gm.graph.nodes if n.name in owner}

    def run_node(self, n: torch.fx.Node) -> Any:
        i = self.owner.get(n.name)
        if i is None:
            return super().run_node(n)
        with self._set_current_node(n):
            args, kwargs = self.fetch_args_kwargs_from_env(n)
            fn = self.calls[n.name]
            start = self.clock.mark()
            out = fn(*args, **kwargs)
            self.marks.append((i, start, self.clock.mark()))
            return out

    def timed_pass(self, x: torch.Tensor) -> list[float]:
        """Seconds per operator in one full pass (views and constants included, see module doc)."""
        self.marks = []
        self.run(x)
        self.clock.sync()
        per_op = [0.0] * self.n_ops
        for i, s, e in self.marks:
            per_op[i] += self.clock.seconds(s, e)
        return per_op


#: fx node → owning operator: itself, else its first consuming operator, else its last producer —
#: the one rule extraction also uses to give folded nodes' kernels to operators.
attribution = node_owners


@dataclass(frozen=True)
class BatchResult:
    """The figures of one batch size: per operator alone and in the graph, and end to end."""

    isolated: tuple[Figure, ...]
    graph: tuple[Figure, ...]
    e2e: Figure


def profile_batch(
    model: nn.Module,
    gm: torch.fx.GraphModule,
    op_index: dict[str, int],
    owner: dict[str, int],
    x: torch.Tensor,
    clock: Clock,
    reps: Reps,
    on_op: Callable[[], None],
) -> BatchResult:
    """Both halves (isolated walk, graph passes, eager) of one batch size, interleaved in time."""
    n_ops = len(op_index)
    iso: list[dict[int, list[float]]] = []
    graph: list[list[list[float]]] = []
    e2e: list[list[float]] = []
    timer = GraphTimer(gm, owner, n_ops, clock)
    settle(lambda: model(x), clock, reps.settle_s)
    for _half in range(2):
        walker = IsolatedWalker(gm, op_index, clock, reps, on_op)
        walker.run(x)
        iso.append(walker.times)
        t0 = time.perf_counter()
        for _ in range(max(1, reps.warmup)):
            timer.timed_pass(x)
        pass_s = (time.perf_counter() - t0) / max(1, reps.warmup)
        passes = n_reps(pass_s, reps.graph_target_s, reps.lo, reps.hi)
        graph.append([timer.timed_pass(x) for _ in range(passes)])
        e2e.append(time_adaptive(lambda: model(x), clock, reps.warmup, reps.e2e_target_s, reps.lo, reps.hi))
    iso_figs = tuple(figure(iso[0][i], iso[1][i]) for i in range(n_ops))
    graph_figs = tuple(figure([p[i] for p in graph[0]], [p[i] for p in graph[1]]) for i in range(n_ops))
    return BatchResult(iso_figs, graph_figs, figure(*e2e))
