"""Graph extraction: a torch module and an example input -> an :class:`~sparoa_sim.ir.graph.OpGraph`.

torch.fx traces the module; an interpreter runs it node by node at batch 1 under
``torch.utils.flop_counter`` (MACs = counted FLOPs / 2, attention included), records shapes and
bytes, then a second pass on seeded calibration inputs measures each operator's input
activation sparsity — or, given ``inputs`` (a user's own data, ``real.models.measured``), one pass
per input, recording the mean and the spread (population std) of each operator's sparsity across them
and the pattern reuse ρ of its input zeros (``act_reuse``, ``real.models.reuse``). Pure views (reshape/flatten/permute/getitem… sharing storage with their
input) are folded into their consumers; sub-graphs that do not depend on the input (position
embeddings, relative-position-bias gathers) are constant-folded into their consumers' weights.
The first pass also counts the device kernels each node launches (``real.models.kernel_count``);
an operator's ``kernels`` sums its own node and the folded nodes it owns, which eager PyTorch
runs on every pass (docs/architecture.md §2).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

from sparoa_sim.errors import GraphError
from sparoa_sim.ir.graph import MAX_SPARSITY_STD, Op, OpGraph
from sparoa_sim.ir.sparsity import SparsityProvenance
from sparoa_sim.hwmodels.kinds import ELEMENTWISE_FLOPS, FUNCTION_FLOPS, OpKind
from sparoa_sim.real.models.flops import counting_flops
from sparoa_sim.real.models.kernel_count import KernelCounter, operator_kernels
from sparoa_sim.real.models.reuse import ReuseAccumulator, nonzero_mask

__all__ = ["extract", "extract_factory", "load_factory", "check_shape", "magnitude_prune", "classify", "DTYPE_NAMES"]

DTYPE_NAMES = {
    torch.float32: "float32",
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.int8: "int8",
    torch.int32: "int32",
    torch.int64: "int64",
    torch.bool: "bool",
}

_ACT_MODULES = (
    nn.ReLU, nn.ReLU6, nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.Sigmoid, nn.Tanh,
    nn.LeakyReLU, nn.ELU, nn.Mish,
)
_NORM_MODULES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)
_POOL_MODULES = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool1d)
_ACT_FUNCS = {
    F.relu, F.relu6, F.gelu, F.hardswish, F.hardsigmoid, F.silu, F.sigmoid, F.tanh, torch.relu,
    torch.sigmoid, torch.tanh, F.leaky_relu,
}
_ACT_METHODS = {"relu", "sigmoid", "tanh", "gelu"}
_ADD = {operator.add, operator.iadd, torch.add, operator.sub, torch.sub}
_MUL = {operator.mul, operator.imul, torch.mul, operator.truediv, torch.div}
_MATMUL = {operator.matmul, torch.matmul, torch.bmm, torch.mm}
_POOL_FUNCS = {F.adaptive_avg_pool2d, F.avg_pool2d, F.max_pool2d, F.adaptive_max_pool2d, torch.mean}
_SOFTMAX_FUNCS = {F.softmax, torch.softmax}
_CONCAT_FUNCS = {torch.cat, torch.concat, torch.stack}
_NORM_FUNCS = {F.layer_norm, F.batch_norm, F.group_norm}
_SPLIT_KINDS = {
    OpKind.CONV, OpKind.DWCONV, OpKind.LINEAR, OpKind.ACT, OpKind.ADD, OpKind.MUL, OpKind.POOL,
    OpKind.ATTENTION,
}


#: In-place operators fx records, and their out-of-place twins.
_INPLACE_OPERATORS = {operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul,
                      operator.itruediv: operator.truediv, operator.ifloordiv: operator.floordiv,
                      operator.imod: operator.mod, operator.ipow: operator.pow, operator.imatmul: operator.matmul,
                      operator.iand: operator.and_, operator.ior: operator.or_, operator.ixor: operator.xor,
                      operator.ilshift: operator.lshift, operator.irshift: operator.rshift}


def out_of_place(node: torch.fx.Node) -> Any:
    """The out-of-place twin of an in-place call (``operator.iadd`` → ``operator.add``,
    ``torch.relu_`` → ``torch.relu``, method ``"relu_"`` → ``"relu"``): same values, a new tensor.
    None when the node is not in place or has no twin (a method such as ``zero_``)."""
    if node.op == "call_function":
        twin = _INPLACE_OPERATORS.get(node.target)
        name = getattr(node.target, "__name__", "")
        if twin is None and name.endswith("_") and not name.endswith("__"):
            for ns in (F, torch):
                if getattr(ns, name, None) is node.target and callable(getattr(ns, name[:-1], None)):
                    return getattr(ns, name[:-1])
        return twin
    if node.op == "call_method":
        name = str(node.target)
        if name.endswith("_") and not name.endswith("__") and callable(getattr(torch.Tensor, name[:-1], None)):
            return name[:-1]
    return None


def classify(node: torch.fx.Node, modules: dict[str, nn.Module]) -> OpKind:
    """The normalised kind of an fx node (docs/architecture.md §2's enumeration); an in-place call is classified
    as its out-of-place twin."""
    if node.op == "call_module":
        m = modules[str(node.target)]
        if isinstance(m, nn.Conv2d | nn.Conv1d):
            return OpKind.DWCONV if m.groups > 1 and m.groups == m.in_channels else OpKind.CONV
        if isinstance(m, nn.Linear):
            return OpKind.LINEAR
        if isinstance(m, _NORM_MODULES):
            return OpKind.NORM
        if isinstance(m, _ACT_MODULES):
            return OpKind.ACT
        if isinstance(m, _POOL_MODULES):
            return OpKind.POOL
        if isinstance(m, nn.Softmax):
            return OpKind.SOFTMAX
        if isinstance(m, nn.MultiheadAttention):
            return OpKind.ATTENTION
        return OpKind.OTHER
    target = out_of_place(node) or node.target
    if node.op == "call_function":
        if target is F.scaled_dot_product_attention:
            return OpKind.ATTENTION
        if target in _MATMUL:
            return OpKind.MATMUL
        if target is F.linear:
            return OpKind.LINEAR
        if target is F.conv2d:
            return OpKind.CONV
        if target in _ACT_FUNCS:
            return OpKind.ACT
        if target in _ADD:
            return OpKind.ADD
        if target in _MUL:
            return OpKind.MUL
        if target in _POOL_FUNCS:
            return OpKind.POOL
        if target in _SOFTMAX_FUNCS:
            return OpKind.SOFTMAX
        if target in _CONCAT_FUNCS:
            return OpKind.CONCAT
        if target in _NORM_FUNCS:
            return OpKind.NORM
        if target in (torch.roll, torch.flatten, torch.reshape, torch.permute, torch.transpose):
            return OpKind.RESHAPE  # pure data movement when it copies (a view is folded away)
        return OpKind.OTHER
    if node.op == "call_method":
        name = str(target)
        if name in ("add", "sub"):
            return OpKind.ADD
        if name in ("mul", "div"):
            return OpKind.MUL
        if name in ("matmul", "bmm"):
            return OpKind.MATMUL
        if name == "softmax":
            return OpKind.SOFTMAX
        if name in _ACT_METHODS:
            return OpKind.ACT
        if name == "mean":
            return OpKind.POOL
        if name in ("reshape", "view", "flatten", "permute", "transpose", "contiguous"):
            return OpKind.RESHAPE
        return OpKind.OTHER
    return OpKind.OTHER


_MODULE_FUNCTIONS: tuple[tuple[type, str], ...] = (
    (nn.modules.batchnorm._BatchNorm, "batch_norm"), (nn.LayerNorm, "layer_norm"), (nn.GroupNorm, "group_norm"),
    (nn.modules.instancenorm._InstanceNorm, "instance_norm"), (nn.ReLU, "relu"), (nn.ReLU6, "relu6"),
    (nn.LeakyReLU, "leaky_relu"), (nn.Hardsigmoid, "hardsigmoid"), (nn.Hardswish, "hardswish"),
    (nn.Sigmoid, "sigmoid"), (nn.SiLU, "silu"), (nn.Tanh, "tanh"), (nn.ELU, "elu"), (nn.Mish, "mish"),
)
_FUNCTION_NAMES = {
    F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", F.leaky_relu: "leaky_relu", F.hardsigmoid: "hardsigmoid",
    F.hardswish: "hardswish", F.sigmoid: "sigmoid", torch.sigmoid: "sigmoid", F.silu: "silu", F.tanh: "tanh",
    torch.tanh: "tanh", F.gelu: "gelu", F.layer_norm: "layer_norm", F.batch_norm: "batch_norm",
    F.group_norm: "group_norm",
}


def function_name(node: torch.fx.Node, modules: dict[str, nn.Module]) -> str | None:
    """The norm or activation function an fx node computes (a key of ``FUNCTION_FLOPS``), or None."""
    if node.op == "call_module":
        m = modules[str(node.target)]
        if isinstance(m, nn.GELU):
            return "gelu_tanh" if m.approximate == "tanh" else "gelu"
        return next((name for cls, name in _MODULE_FUNCTIONS if isinstance(m, cls)), None)
    if node.op == "call_function":
        name = _FUNCTION_NAMES.get(out_of_place(node) or node.target)
        if name == "gelu" and node.kwargs.get("approximate") == "tanh":
            return "gelu_tanh"
        return name
    method = out_of_place(node) or str(node.target) if node.op == "call_method" else None
    if method in FUNCTION_FLOPS:
        return method
    return None


def elementwise_flops(node: torch.fx.Node, modules: dict[str, nn.Module], kind: OpKind) -> float:
    """Element-wise FLOPs per output element of ``node`` (docs/architecture.md §2's explicit rules)."""
    if kind in (OpKind.ACT, OpKind.NORM):
        name = function_name(node, modules)
        if name is not None:
            return FUNCTION_FLOPS[name]
    return ELEMENTWISE_FLOPS.get(kind, 0.0)


def _tensors(value: Any) -> list[torch.Tensor]:
    """Tensors inside a (nested) argument structure, in order."""
    out: list[torch.Tensor] = []
    torch.fx.node.map_aggregate(value, lambda v: out.append(v) if isinstance(v, torch.Tensor) else None)
    return out


def _storage_ptr(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


@dataclass
class _NodeRecord:
    """What the first pass learned about one fx node."""

    kind: OpKind
    static: bool  # does not depend on the model input
    is_view: bool
    flops_counted: float = 0.0  # FLOPs from the flop counter at the extraction batch
    act_in: list[torch.fx.Node] = field(default_factory=list)  # dynamic input nodes
    bytes_in: float = 0.0
    bytes_w: float = 0.0
    w_zeros: float = 0.0
    w_numel: float = 0.0
    out_bytes: float = 0.0
    out_numel: float = 0.0
    out_shape: tuple[int, ...] = ()
    dtype: str = "float32"
    in_numel: float = 0.0
    zeros: float = 0.0  # zeros seen in dynamic inputs (calibration pass)
    seen: float = 0.0  # elements seen in dynamic inputs (calibration pass)
    fractions: list[float] = field(default_factory=list)  # per-input sparsity (measured calibration)


class _Recorder(torch.fx.Interpreter):
    """Runs the traced module node by node and records work, traffic and sparsity."""

    def __init__(self, gm: torch.fx.GraphModule) -> None:
        super().__init__(gm)
        self.modules = dict(gm.named_modules())
        self.records: dict[str, _NodeRecord] = {}
        #: kernel-launching aten operators per fx node, first pass (docs/architecture.md §2, ``Op.kernels``)
        self.node_kernels: dict[str, int] = {}
        self.calibrating = False
        #: per fx node, the pattern reuse ρ of its inputs across a per-input calibration (``reuse.py``)
        self.reuse: dict[str, ReuseAccumulator] | None = None

    def close_sample(self) -> None:
        """End one input of a per-input calibration: keep each operator's zero fraction for it."""
        for rec in self.records.values():
            if rec.seen:
                rec.fractions.append(rec.zeros / rec.seen)
            rec.zeros = rec.seen = 0.0

    def _is_parameter(self, node: torch.fx.Node, seen: set[str] | None = None) -> bool:
        """Whether a static value comes from an ``nn.Parameter`` (directly or computed from one),
        not only from buffers or literals."""
        if node.op == "get_attr":
            try:
                self.module.get_parameter(str(node.target))
                return True
            except AttributeError:
                return False
        seen = set() if seen is None else seen
        if node.name in seen:
            return False
        seen.add(node.name)
        return any(self._is_parameter(a, seen) for a in node.all_input_nodes)

    def run_node(self, n: torch.fx.Node) -> Any:
        if n.op in ("placeholder", "output"):
            return super().run_node(n)
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        in_nodes = [a for a in n.all_input_nodes]
        if self.calibrating:
            rec = self.records[n.name]
            if not rec.static and not rec.is_view:
                for a in rec.act_in:
                    v = self.env[a]
                    for t in _tensors(v):
                        if t.is_floating_point():
                            rec.zeros += float((t == 0).sum())
                            rec.seen += t.numel()
                if self.reuse is not None:
                    mask = nonzero_mask([t for a in rec.act_in for t in _tensors(self.env[a])])
                    if mask is not None:
                        self.reuse.setdefault(n.name, ReuseAccumulator()).add(mask)
            return super().run_node(n)
        if n.op == "get_attr":
            out = super().run_node(n)
            self.records[n.name] = _NodeRecord(kind=OpKind.OTHER, static=True, is_view=False)
            return out
        # the kernel counter is the inner mode: it sees the aten calls eager PyTorch makes, before the flop counter
        with counting_flops() as counter, KernelCounter() as kernels:
            out = getattr(self, n.op)(n.target, args, kwargs)
        self.node_kernels[n.name] = kernels.count
        static = all(self.records[a.name].static if a.name in self.records else False for a in in_nodes)
        static = static and all(a.op != "placeholder" for a in in_nodes)
        dyn_inputs = [a for a in in_nodes if not (a.name in self.records and self.records[a.name].static)]
        in_tensors = _tensors(args) + _tensors(kwargs)
        out_tensors = _tensors(out)
        in_ptrs = {_storage_ptr(t) for t in in_tensors}
        is_view = bool(out_tensors) and all(_storage_ptr(t) in in_ptrs for t in out_tensors)
        if not out_tensors:  # .size(), shape arithmetic: treat as a view (no work)
            is_view = True
        kind = classify(n, self.modules)
        # Only data-movement nodes can be views: an in-place add/activation shares storage too.
        is_view = is_view and kind in (OpKind.RESHAPE, OpKind.OTHER) and out_of_place(n) is None  # clamp_ works
        rec = _NodeRecord(kind=kind, static=static, is_view=is_view)
        rec.flops_counted = float(counter.get_total_flops())
        rec.act_in = dyn_inputs
        for a in in_nodes:
            value = self.env[a]
            nbytes = sum(t.numel() * t.element_size() for t in _tensors(value))
            numel = sum(t.numel() for t in _tensors(value))
            if a in dyn_inputs:
                rec.bytes_in += nbytes
                rec.in_numel += numel
            else:
                rec.bytes_w += nbytes
                if self._is_parameter(a):  # a constant buffer (an attention mask of 0 / -100) is no weight
                    for t in _tensors(value):
                        if t.dim() >= 2:  # weight matrices and kernels; biases and norm scales excluded
                            rec.w_zeros += float((t == 0).sum())
                            rec.w_numel += t.numel()
        if n.op == "call_module":
            m = self.modules[str(n.target)]
            for t in list(m.parameters(recurse=True)) + list(m.buffers(recurse=True)):
                if t.is_floating_point():  # not counters such as BatchNorm's num_batches_tracked
                    rec.bytes_w += t.numel() * t.element_size()
            for p in m.parameters(recurse=True):
                if p.dim() < 2:
                    continue
                rec.w_zeros += float((p == 0).sum())
                rec.w_numel += p.numel()
        rec.out_bytes = sum(t.numel() * t.element_size() for t in out_tensors)
        rec.out_numel = sum(t.numel() for t in out_tensors)
        if out_tensors:
            rec.out_shape = tuple(out_tensors[0].shape)
            rec.dtype = DTYPE_NAMES.get(out_tensors[0].dtype, "float32")
        self.records[n.name] = rec
        return out


def _pool_window(node: torch.fx.Node, modules: dict[str, nn.Module], rec: _NodeRecord) -> float:
    """FLOPs of a pooling node: one per window element (window from the module if known)."""
    k = None
    if node.op == "call_module":
        m = modules[str(node.target)]
        if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            k = getattr(m, "kernel_size", None)
    elif node.op == "call_function" and node.target in (F.max_pool2d, F.avg_pool2d):
        k = node.kwargs.get("kernel_size", node.args[1] if len(node.args) > 1 else None)
    if isinstance(k, int) or (isinstance(k, tuple | list) and all(isinstance(v, int) for v in k)):
        kk = math.prod(k) if isinstance(k, tuple | list) else k * k
        return rec.out_numel * kk
    return rec.in_numel  # adaptive / global pooling reads every input element once


def magnitude_prune(model: nn.Module, sparsity: float) -> nn.Module:
    """Zero the smallest-magnitude fraction ``sparsity`` of every conv/linear weight, per layer."""
    if not 0.0 <= sparsity < 1.0:
        raise GraphError(f"--prune: sparsity must lie in [0, 1), got {sparsity!r}")
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.Conv1d | nn.Linear):
                w = m.weight
                k = int(round(sparsity * w.numel()))
                if k == 0:
                    continue
                cut = w.abs().flatten().kthvalue(k).values
                w.mul_((w.abs() > cut).to(w.dtype))
    return model


def extract(
    model: nn.Module,
    example_input: torch.Tensor,
    *,
    name: str,
    prune: float | None = None,
    calib_batch: int = 4,
    seed: int = 0,
    sparsity_source: str | None = None,
    inputs: torch.Tensor | None = None,
    provenance: SparsityProvenance | None = None,
    reuse: bool = True,
) -> OpGraph:
    """Trace ``model`` and return its operator graph for one sample of ``example_input``'s shape.

    ``example_input`` gives the per-sample shape (its batch dimension is replaced by 1);
    activation sparsity is measured on ``calib_batch`` seeded N(0, 1) inputs, or, given ``inputs``
    (N, *sample shape), on each of them at batch 1: mean and population std across the N inputs
    (``act_sparsity``, ``act_sparsity_std``) and, with ``reuse``, the pattern reuse of the zeros
    (``act_reuse``; 0 with one input or without ``inputs``; 12 bytes per input element of every
    operator while it runs). ``provenance`` is recorded in the graph. With
    ``prune``, a copy of the model is magnitude-pruned to that weight sparsity first.
    """
    if not isinstance(model, nn.Module):
        raise GraphError(f"{name}: expected a torch.nn.Module, got {type(model).__name__}")
    model = copy.deepcopy(model).eval()
    if prune:
        magnitude_prune(model, prune)
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many kinds of errors on untraceable code
        raise GraphError(f"{name}: torch.fx cannot trace the model: {type(exc).__name__}: {exc}") from None
    sample_shape = tuple(example_input.shape[1:])
    if inputs is not None and (inputs.dim() != len(sample_shape) + 1 or tuple(inputs.shape[1:]) != sample_shape
                               or inputs.shape[0] < 1):
        raise GraphError(f"{name}: inputs of shape {list(inputs.shape)}, the model takes (N, "
                         f"{', '.join(map(str, sample_shape))}) with N >= 1")
    x1 = torch.randn((1, *sample_shape), generator=torch.Generator().manual_seed(seed), dtype=example_input.dtype)
    rec = _Recorder(gm)
    shape = [1, *sample_shape]
    mha = torch.backends.mha
    fastpath = mha.get_fastpath_enabled()
    try:
        # nn.MultiheadAttention's fused inference kernel has no FLOP formula: counted as 0 MACs
        mha.set_fastpath_enabled(False)
        with torch.no_grad():
            rec.run(x1)
            rec.calibrating = True
            if inputs is None:
                shape = [calib_batch, *sample_shape]
                xc = torch.randn(tuple(shape), generator=torch.Generator().manual_seed(seed + 1),
                                 dtype=example_input.dtype)
                rec.run(xc)
            else:
                rec.reuse = {} if reuse else None
                for x in inputs:
                    rec.run(x.unsqueeze(0).to(example_input.dtype))
                    rec.close_sample()
    except Exception as exc:  # the model rejects this input (wrong shape, dtype, ...): say which
        raise GraphError(f"{name}: the model fails on an input of shape {shape}: "
                         f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    finally:
        mha.set_fastpath_enabled(fastpath)
    return _to_graph(gm, rec, name=name, input_shape=(1, *sample_shape), prune=prune, seed=seed,
                     sparsity_source=sparsity_source, model=model, provenance=provenance,
                     calib_batch=calib_batch if inputs is None else int(inputs.shape[0]))


def _to_graph(
    gm: torch.fx.GraphModule,
    rec: _Recorder,
    *,
    name: str,
    input_shape: tuple[int, ...],
    prune: float | None,
    seed: int,
    sparsity_source: str | None,
    calib_batch: int,
    model: nn.Module,
    provenance: SparsityProvenance | None = None,
) -> OpGraph:
    producers: dict[str, tuple[int, ...]] = {}  # fx node -> op indices that produce its value
    ops: list[Op] = []
    for n in gm.graph.nodes:
        if n.op in ("placeholder", "get_attr", "output"):
            producers[n.name] = ()
            continue
        r = rec.records[n.name]
        deps = tuple(sorted({p for a in n.all_input_nodes for p in producers.get(a.name, ())}))
        if r.static or r.is_view:
            producers[n.name] = () if r.static else deps
            continue
        kind = r.kind
        if kind is OpKind.RESHAPE and r.flops_counted == 0 and not deps:
            producers[n.name] = deps
            continue
        macs = r.flops_counted / 2.0
        if kind is OpKind.POOL:
            elementwise = _pool_window(n, rec.modules, r)
        else:
            elementwise = elementwise_flops(n, rec.modules, kind) * r.out_numel
        flops = 2.0 * macs + elementwise
        split = "channel" if kind in _SPLIT_KINDS and len(r.out_shape) >= 2 else None
        act_sparsity, act_std = _sparsity_of(r)
        reuse = rec.reuse.get(n.name) if rec.reuse is not None else None
        ops.append(
            Op(
                name=n.name,
                kind=kind,
                macs=macs,
                flops=flops,
                bytes_in=float(r.bytes_in),
                bytes_out=float(r.out_bytes),
                bytes_w=float(r.bytes_w),
                act_sparsity=act_sparsity,
                act_sparsity_std=act_std,
                act_reuse=reuse.value() if reuse is not None else 0.0,
                w_sparsity=float(r.w_zeros / r.w_numel) if r.w_numel else 0.0,
                deps=deps,
                out_shape=r.out_shape,
                dtype=r.dtype,
                split_axis=split,
            )
        )
        producers[n.name] = (len(ops) - 1,)
    if not ops:
        raise GraphError(f"{name}: the traced model has no operators")
    # Kernels: each operator's own node plus the nodes it owns (folded views, constants), as the profiler
    # attributes in-graph time; eager PyTorch runs all of them on every pass (docs/architecture.md §2).
    kernels = operator_kernels(gm, {op.name: i for i, op in enumerate(ops)}, rec.node_kernels)
    ops = [dataclasses.replace(op, kernels=k) for op, k in zip(ops, kernels, strict=True)]
    source = sparsity_source or (
        f"random initialisation (seed {seed}); activation zeros measured on {calib_batch} N(0,1) inputs"
        + (f"; weights magnitude-pruned to {prune:.0%} per layer" if prune else "; dense weights")
    )
    return OpGraph(
        name=name,
        ops=tuple(ops),
        input_shape=input_shape,
        sparsity_source=source,
        sparsity_provenance=provenance,
        params=int(sum(p.numel() for p in model.parameters())),
        meta={
            "extractor": "sparoa_sim.real.extract",
            "torch": torch.__version__,
            "seed": seed,
            "prune": prune or 0.0,
            "calib_batch": calib_batch,
        },
    )


def _sparsity_of(r: _NodeRecord) -> tuple[float, float]:
    """An operator's activation sparsity and its spread: the pooled zero fraction of the seeded
    calibration batch (spread 0), or the mean and population std of its per-input fractions."""
    if not r.fractions:
        return (float(r.zeros / r.seen) if r.seen else 0.0), 0.0
    n = len(r.fractions)
    mean = math.fsum(r.fractions) / n
    std = math.sqrt(math.fsum((f - mean) ** 2 for f in r.fractions) / n)
    return min(1.0, max(0.0, mean)), min(MAX_SPARSITY_STD, std)


def load_factory(spec: str) -> nn.Module:
    """The module a ``"package.module:factory"`` spec builds: import it, call the factory."""
    if ":" not in spec:
        raise GraphError(f"factory {spec!r}: expected MODULE:FACTORY, e.g. mypkg.models:build")
    mod_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(mod_name)
    except Exception as exc:
        raise GraphError(f"factory {spec!r}: cannot import module {mod_name!r}: {type(exc).__name__}: {exc}") from None
    factory: Callable[[], Any] | None = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise GraphError(f"factory {spec!r}: module {mod_name!r} has no callable {attr!r}")
    model = factory() if not isinstance(factory, nn.Module) else factory
    if not isinstance(model, nn.Module):
        raise GraphError(f"factory {spec!r}: returned {type(model).__name__}, not a torch.nn.Module")
    return model


def check_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints; :class:`GraphError` naming ``--input-shape`` otherwise."""
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d <= 0 for d in shape):
        raise GraphError(f"--input-shape: dimensions must be positive integers, got {list(input_shape)!r}")
    return shape


def extract_factory(
    spec: str,
    input_shape: Sequence[int],
    *,
    name: str | None = None,
    prune: float | None = None,
    seed: int = 0,
) -> OpGraph:
    """Extract from ``"package.module:factory"``: import it, call the factory, trace the module."""
    model = load_factory(spec)
    shape = check_shape(input_shape)
    return extract(model, torch.zeros(shape), name=name or spec.partition(":")[2].lower(), prune=prune, seed=seed)
