"""Which kernel the executor runs for each CPU operator, and running it (docs/architecture.md §3, §7).

Three kernels (``hwmodels.latency.KERNELS``): ``dense`` (the module as PyTorch runs it), ``csr``
(weights in CSR, ``real.kernels.sparse``) and ``act_sparse`` (zero inputs skipped,
``real.kernels.act_sparse``). The twin chooses with ``hwmodels.latency.choose_kernel`` inside
``predict``; :func:`twin_cpu_kernels` reads that choice so the executor runs exactly what the
twin predicted. :class:`CpuKernels` holds the per-operator choice the executor was given, checks
which operators can run each kernel, and keeps the weight layouts (CSR, transposed) it builds once.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.fx
from torch import nn

from sparoa_sim.hwmodels.kinds import OpKind
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.real.kernels.act_sparse import (
    act_sparse_conv1x1, act_sparse_linear, act_sparse_matmul, transpose_weight)
from sparoa_sim.real.kernels.sparse import sparse_conv2d, sparse_linear, to_csr
from sparoa_sim.real.run.results import CPU, ExecutorError

__all__ = ["CpuKernels", "twin_cpu_kernels"]

_MATMUL_FUNCTIONS = (torch.matmul, operator.matmul, torch.bmm)
_MATMUL_METHODS = ("matmul", "bmm", "__matmul__")


def twin_cpu_kernels(graph: OpGraph, platform: Any, *, batch: int = 1, mode: str | None = None) -> dict[int, str]:
    """Per operator the kernel the twin runs on the CPU where it is not dense: ``{index: "csr" | "act_sparse"}``."""
    from sparoa_sim.hwmodels.latency import KERNELS, predict

    codes = predict(platform, graph.hw_ops, batch=batch, mode=mode).kernels_chosen[:, CPU]
    return {int(i): KERNELS[int(codes[i])] for i in np.flatnonzero(codes)}


class CpuKernels:
    """The executor's CPU kernel per operator (CSR and activation-sparse sets) and their weight layouts."""

    def __init__(self, graph: OpGraph, nodes: Sequence[torch.fx.Node], op_node: Sequence[int],
                 modules: Mapping[str, nn.Module], cpu_sparse: Iterable[int] | float | None,
                 cpu_act_sparse: Iterable[int] | None) -> None:
        self.graph = graph
        self._nodes, self._op_node, self._modules = nodes, op_node, modules
        self.csr = self._csr_set(cpu_sparse)
        act = frozenset(self._indices(cpu_act_sparse, "cpu_act_sparse")) if cpu_act_sparse is not None else frozenset()
        both = act & self.csr
        if both:
            raise ExecutorError(f"executor: operators {sorted(both)} are listed for both the CSR and the "
                                "activation-sparse kernel; pick one")
        self.act = frozenset(i for i in act if self.act_capable(i))
        self._csr_cache: dict[tuple[int, int, int], torch.Tensor] = {}
        self._wt_cache: dict[tuple[int, int, int], torch.Tensor] = {}

    def kernel_of(self, i: int) -> str:
        """The kernel operator ``i`` runs on the CPU: "dense", "csr" or "act_sparse"."""
        return "csr" if i in self.csr else "act_sparse" if i in self.act else "dense"

    # -- which operators can run what ------------------------------------------------------
    def _indices(self, spec: Iterable[int], name: str) -> list[int]:
        out = []
        for v in spec:
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or not 0 <= int(v) < len(self.graph):
                raise ExecutorError(f"executor: {name!r} lists {v!r}, not an operator index in [0, {len(self.graph)})")
            out.append(int(v))
        return out

    def _csr_set(self, spec: Iterable[int] | float | None) -> frozenset[int]:
        """Operators that run the CSR kernel on the CPU (linear, and conv with groups 1)."""
        if spec is None:
            return frozenset()
        if isinstance(spec, int | float) and not isinstance(spec, bool):
            if not 0.0 <= float(spec) <= 1.0:
                raise ExecutorError(f"executor: 'cpu_sparse' threshold must lie in [0, 1], got {spec!r}")
            chosen = [i for i, op in enumerate(self.graph.ops) if op.w_sparsity >= float(spec) and op.w_sparsity > 0]
        else:
            chosen = self._indices(spec, "cpu_sparse")
        return frozenset(i for i in chosen if self.csr_capable(i))

    def _module(self, i: int) -> nn.Module | None:
        node = self._nodes[self._op_node[i]]
        return self._modules.get(str(node.target)) if node.op == "call_module" else None

    def csr_capable(self, i: int) -> bool:
        """Whether operator ``i`` can run the CSR kernel (a linear layer, a groups-1 zero-padded conv)."""
        mod = self._module(i)
        if isinstance(mod, nn.Linear):
            return True
        return (isinstance(mod, nn.Conv2d) and mod.groups == 1 and mod.padding_mode == "zeros"
                and not isinstance(mod.padding, str))

    def act_capable(self, i: int) -> bool:
        """Whether operator ``i`` can run the activation-sparse kernel: a linear layer, a matrix
        product of two tensors, or an unpadded groups-1 1x1 convolution."""
        mod = self._module(i)
        if isinstance(mod, nn.Linear):
            return True
        if isinstance(mod, nn.Conv2d):
            return (tuple(mod.kernel_size) == (1, 1) and mod.groups == 1 and tuple(mod.padding) == (0, 0)
                    and tuple(mod.dilation) == (1, 1))
        node = self._nodes[self._op_node[i]]
        if self.graph.ops[i].kind != OpKind.MATMUL or node.kwargs or len(node.args) != 2:
            return False
        return ((node.op == "call_function" and node.target in _MATMUL_FUNCTIONS)
                or (node.op == "call_method" and node.target in _MATMUL_METHODS))

    # -- running ---------------------------------------------------------------------------
    def _cached(self, cache: dict, key: tuple[int, int, int], make: Any) -> torch.Tensor:
        v = cache.get(key)
        if v is None:
            if len(cache) >= 4 * len(self.graph):  # a placer with ever-new split shares: do not grow forever
                cache.clear()
            v = cache[key] = make()
        return v

    def csr_call(self, i: int, mod: Any, x: torch.Tensor, lo: int, hi: int | None) -> torch.Tensor:
        """Rows ``lo:hi`` (all when None) of a linear/conv operator with its weight in CSR."""
        hi = mod.weight.shape[0] if hi is None else hi
        w_csr = self._cached(self._csr_cache, (i, lo, hi), lambda: to_csr(mod.weight[lo:hi].detach()))
        bias = None if mod.bias is None else mod.bias[lo:hi]
        if isinstance(mod, nn.Linear):
            return sparse_linear(x, w_csr, bias)
        return sparse_conv2d(x, w_csr, bias, mod, tuple(mod.kernel_size))

    def act_call(self, i: int, fn: Any, args: tuple, lo: int = 0, hi: int | None = None) -> torch.Tensor:
        """Operator ``i`` (rows ``lo:hi`` of its weight, all when None) with zero inputs skipped."""
        if isinstance(fn, nn.Linear | nn.Conv2d):
            hi = fn.weight.shape[0] if hi is None else hi
            w_t = self._cached(self._wt_cache, (i, lo, hi), lambda: transpose_weight(fn.weight[lo:hi].detach()))
            bias = None if fn.bias is None else fn.bias[lo:hi]
            if isinstance(fn, nn.Linear):
                return act_sparse_linear(args[0], w_t, bias)
            return act_sparse_conv1x1(args[0], w_t, bias, tuple(fn.stride))
        return act_sparse_matmul(args[0], args[1])
