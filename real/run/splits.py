"""How the executor cuts one operator in two between the CPU and the GPU.

An operator with a split axis (IR ``split_axis``: "channel" or "batch") and a GPU share strictly
between 0 and 1 is computed in two parts: linear and convolution layers by output rows of their
weight (depthwise convolutions by groups), element-wise, pooling and attention operators by
slicing their inputs along the split dimension. :func:`split_plan` says how (or None when the
executor cannot split that node), :func:`split_sizes` how many rows each device gets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from sparoa_sim.hwmodels.kinds import OpKind

__all__ = ["SplitPlan", "input_extent", "slice_args", "split_plan", "split_sizes", "weight_rows"]

_ELEMENTWISE = (OpKind.ACT, OpKind.ADD, OpKind.MUL)


@dataclass(frozen=True)
class SplitPlan:
    """How an operator is cut in two: by output rows of its weight, or by slicing its inputs."""

    style: str  # "conv" | "linear" (weight rows) | "input"
    dim: int = 1  # "input": the split dimension of the output
    align: str = "left"  # "input": how input dims map to output dims ("right": broadcasting)
    args: tuple[int, ...] | None = None  # "input": positional args that may be sliced (None: all)


def split_plan(node: torch.fx.Node, kind: OpKind, axis: str, modules: Mapping[str, nn.Module],
                out_ndim: int) -> SplitPlan | None:
    """The plan for splitting ``node`` along ``axis`` ("channel" or "batch"), or None if unsupported."""
    mod = modules.get(str(node.target)) if node.op == "call_module" else None
    if axis == "batch":
        if kind in _ELEMENTWISE:
            return SplitPlan("input", dim=0, align="right")
        return SplitPlan("input", dim=0, align="left", args=(0, 1, 2) if kind is OpKind.ATTENTION else (0,))
    if isinstance(mod, nn.Conv2d | nn.Conv1d) and mod.padding_mode == "zeros" and not isinstance(mod.padding, str):
        return SplitPlan("conv")
    if isinstance(mod, nn.Linear):
        return SplitPlan("linear")
    if kind in _ELEMENTWISE:
        return SplitPlan("input", dim=1 if out_ndim >= 4 else max(out_ndim - 1, 0), align="right")
    if kind is OpKind.POOL and (mod is not None or node.op == "call_function") and node.target is not torch.mean:
        return SplitPlan("input", dim=1, align="left", args=(0,))
    if kind is OpKind.ATTENTION and node.op == "call_function" and node.target is F.scaled_dot_product_attention:
        return SplitPlan("input", dim=1 if out_ndim == 4 else 0, align="left", args=(0, 1, 2))
    return None


def split_sizes(size: int, share: float) -> tuple[int, int] | None:
    """(CPU, GPU) lengths of a split of ``size`` with ``share`` on the GPU; None if it cannot split."""
    if size < 2:
        return None
    g = min(max(int(round(share * size)), 1), size - 1)
    return size - g, g


def _input_dim(plan: SplitPlan, t: torch.Tensor, out_ndim: int) -> int:
    return plan.dim - (out_ndim - t.dim()) if plan.align == "right" else plan.dim


def input_extent(plan: SplitPlan, args: Sequence[Any]) -> tuple[int, int]:
    """(size of the split dimension, output ndim) from the arguments of an "input" plan."""
    tensors = [a for k, a in enumerate(args) if isinstance(a, torch.Tensor) and (plan.args is None or k in plan.args)]
    if not tensors:
        return 0, 0
    out_ndim = max(t.dim() for t in tensors) if plan.align == "right" else tensors[0].dim()
    size = 0
    for t in tensors:
        d = _input_dim(plan, t, out_ndim)
        if 0 <= d < t.dim():
            size = max(size, t.shape[d])
    return size, out_ndim


def slice_args(plan: SplitPlan, args: Sequence[Any], size: int, out_ndim: int, lo: int, hi: int) -> tuple:
    out = []
    for k, a in enumerate(args):
        if isinstance(a, torch.Tensor) and (plan.args is None or k in plan.args):
            d = _input_dim(plan, a, out_ndim)
            if 0 <= d < a.dim() and a.shape[d] == size:
                a = a.narrow(d, lo, hi - lo)
        out.append(a)
    return tuple(out)


def weight_rows(mod: Any, x: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Output rows ``lo:hi`` of a dense linear or convolution module (groups ``lo:hi`` when grouped)."""
    if isinstance(mod, nn.Linear):
        return F.linear(x, mod.weight[lo:hi], None if mod.bias is None else mod.bias[lo:hi])
    g = mod.groups
    if g > 1:
        opg, ipg = mod.out_channels // g, mod.in_channels // g
        w = mod.weight[lo * opg:hi * opg]
        b = None if mod.bias is None else mod.bias[lo * opg:hi * opg]
        x = x.narrow(1, lo * ipg, (hi - lo) * ipg)
        groups = hi - lo
    else:
        w = mod.weight[lo:hi]
        b = None if mod.bias is None else mod.bias[lo:hi]
        groups = 1
    f = F.conv2d if isinstance(mod, nn.Conv2d) else F.conv1d
    return f(x, w, b, mod.stride, mod.padding, mod.dilation, groups)
