"""Counting the device kernels eager PyTorch launches, per fx node and per IR operator.

An operator's fixed cost — dispatch, launch, on the GPU one launch gap per kernel — scales with
the number of kernels its fx nodes launch, not with the node count (docs/architecture.md §2,
``Op.kernels``): ``linear`` on a 3-d input is one ``addmm`` between two views, ``permute(...)
.contiguous()`` is one copy, an eval ``nn.MultiheadAttention`` (fast path off) is nine.

:class:`KernelCounter` is a ``TorchDispatchMode``: it sees every aten operator the Python code
dispatches after composite operators have decomposed (``linear`` → ``t`` + ``addmm``), exactly
what eager PyTorch runs, and counts those that compute. It does not count, read from each
operator's schema and tags rather than from a list of names:

- views: operators whose result aliases an input without writing it (``Tensor(a)`` in the
  schema: ``view``, ``t``, ``transpose``, ``permute``, ``expand``, ``slice``, ``select``,
  ``unsqueeze``, ``split``, ``unbind``, ``as_strided``, ``detach``, ``alias`` …);
- in-place metadata changes (``torch.Tag.inplace_view``: ``unsqueeze_``, ``t_``, ``resize_``);
- the few operators that launch nothing although their schema says they return a new tensor
  (:data:`NO_KERNEL`: uninitialised allocation — ``empty``, ``empty_strided`` … — and
  ``_unsafe_view``, a view of a fresh result).

Copies count (``clone``, ``contiguous`` on a non-contiguous tensor, ``_to_copy``, ``copy_``), and
so do in-place computations (``relu_``, ``add_``). An operator that does nothing in Python
(``contiguous`` on a contiguous tensor, eval ``Dropout``) dispatches nothing and counts 0.

What is counted is one aten call per kernel on the device the extraction runs on (the CPU):
``convolution`` with its bias is one call there (oneDNN), ``native_batch_norm`` one. On CUDA a
call may launch more than one kernel (PyTorch's cuDNN convolution adds the bias with a separate
``add_``; cuBLAS and cuDNN may split a call into several kernels) — the count is a lower bound
there, stated wherever it is used.

:func:`node_owners` gives the fx nodes that are not operators of the IR (views folded by the
extractor, ``get_attr`` and constant sub-graphs, which eager PyTorch evaluates on every pass) to
the operator that owns them — their first consuming operator, else their last producer — the
rule the profiler uses for in-graph times (``real.measure.op_timing.attribution``), so an
operator's kernels and its measured time cover the same nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.fx
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["NO_KERNEL", "KernelCounter", "launches_kernel", "node_owners", "operator_kernels"]

#: aten operators (schema names) that return a new tensor without launching a kernel: allocation
#: without initialisation, and ``_unsafe_view`` (a view of a fresh result whose schema does not
#: declare the alias). Metadata queries that return no tensor are here too, for tensor subclasses
#: that dispatch them.
NO_KERNEL = frozenset({
    "aten::empty", "aten::empty_strided", "aten::empty_like", "aten::new_empty", "aten::new_empty_strided",
    "aten::_unsafe_view", "aten::sym_size", "aten::sym_stride", "aten::sym_numel", "aten::sym_storage_offset",
    "aten::is_contiguous", "aten::is_strides_like_format", "aten::is_non_overlapping_and_dense",
})


def launches_kernel(func: Any) -> bool:
    """Whether the aten operator ``func`` (an ``OpOverload``) computes on the device when it runs:
    not a view, not an in-place metadata change, not an allocation (see the module docstring)."""
    schema = func._schema
    if schema.name in NO_KERNEL:
        return False
    if torch.Tag.inplace_view in func.tags:
        return False
    # A view: some result aliases an input and nothing is written (in-place ops write, so they count).
    return not any(r.alias_info is not None and not r.alias_info.is_write for r in schema.returns)


class KernelCounter(TorchDispatchMode):
    """A dispatch mode counting the kernel-launching aten operators run under it (:attr:`count`)
    and recording every operator seen (:attr:`ops`, names, in order, views included)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.ops: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        self.ops.append(str(func))
        if launches_kernel(func):
            self.count += 1
        return func(*args, **(kwargs or {}))


def node_owners(gm: torch.fx.GraphModule, op_index: Mapping[str, int]) -> dict[str, int]:
    """fx node name → index of the IR operator that owns it: itself when it is an operator, else its
    first (lowest-index) consuming operator, transitively, else its last (highest-index) producing
    operator; nodes with neither (a constant nobody uses) and placeholders/outputs have no owner."""
    nodes = list(gm.graph.nodes)
    down: dict[str, int | None] = {}
    for n in reversed(nodes):
        if n.name in op_index:
            down[n.name] = op_index[n.name]
            continue
        users = [i for u in n.users if (i := down.get(u.name)) is not None]
        down[n.name] = min(users) if users else None
    up: dict[str, int | None] = {}
    owner: dict[str, int] = {}
    for n in nodes:
        if n.name in op_index:
            up[n.name] = op_index[n.name]
        else:
            producers = [i for a in n.all_input_nodes if (i := up.get(a.name)) is not None]
            up[n.name] = max(producers) if producers else None
        if n.op in ("placeholder", "output"):
            continue
        o = down[n.name] if down[n.name] is not None else up[n.name]
        if o is not None:
            owner[n.name] = o
    return owner


def operator_kernels(gm: torch.fx.GraphModule, op_index: Mapping[str, int],
                     node_kernels: Mapping[str, int]) -> list[int]:
    """Kernels per IR operator (indexed as ``op_index``): the sum over the fx nodes it owns
    (:func:`node_owners`) of each node's count in ``node_kernels`` (missing nodes count 0)."""
    totals = [0] * (max(op_index.values(), default=-1) + 1)
    for name, i in node_owners(gm, op_index).items():
        totals[i] += int(node_kernels.get(name, 0))
    return totals
