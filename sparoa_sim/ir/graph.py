"""Graph IR: an immutable, topologically ordered DAG of operators for one inference pass.

One :class:`OpGraph` per (model, input shape); batch size is applied at simulation time. Units
are SI (FLOPs, bytes) and per sample, except parameter bytes, which do not scale with batch.
The JSON form on disk carries ``schema_version`` (docs/architecture.md §2).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from sparoa_sim.errors import GraphError
from sparoa_sim.hwmodels.fileio import atomic_write_text, read_json
from sparoa_sim.hwmodels.kinds import KIND_CODES, OpKind, parse_kind
from sparoa_sim.hwmodels.ops import OpArrays
from sparoa_sim.ir.sparsity import SparsityProvenance, default_provenance, provenance_from_dict
from sparoa_sim.ir.topo import find_cycle, toposort
from sparoa_sim.limits import MAX_GRAPH_FILE_BYTES, MAX_OP_BYTES, MAX_OP_FLOPS, MAX_OPERATORS

__all__ = [
    "SCHEMA_VERSION",
    "SPARSITY_SCHEMA_VERSION",
    "REUSE_SCHEMA_VERSION",
    "MAX_SPARSITY_STD",
    "SPLIT_AXES",
    "DTYPE_BYTES",
    "Op",
    "OpGraph",
    "GraphArrays",
    "fuse",
    "load_graph",
    "save_graph",
    "graph_from_dict",
    "atomic_write_text",
]

#: Version of the JSON layout written by :func:`save_graph` for a graph that records no sparsity
#: spread or provenance of its own. Version 2 added ``kernels`` per operator; a version-1 file
#: still loads, each operator counted as one kernel (what the twin charged before kernels were
#: counted). Any version not readable fails.
SCHEMA_VERSION = 2
#: Version 3 added ``act_sparsity_std`` per operator (the spread of its activation sparsity across
#: inputs) and the graph's ``sparsity_provenance`` record (``ir.sparsity``), required in a version-3
#: file. A graph is written at version 3 only when it carries either (a spread, or a record other
#: than the one its ``sparsity_source`` text implies), so every other graph stays readable by older
#: releases; an older file loads with spread 0 and the record its text implies
#: (``ir.sparsity.default_provenance``: ``init`` for "random initialisation …").
SPARSITY_SCHEMA_VERSION = 3
#: Version 4 added ``act_reuse`` per operator (the pattern reuse ρ of its input activations across
#: inputs, ``ir.sparsity.pattern_reuse``); written only when some operator's ρ is non-zero, so every
#: other graph keeps its version-2/3 layout and bytes. A file of version 1-3 loads with ρ = 0
#: (random patterns) and may not carry the field.
REUSE_SCHEMA_VERSION = 4
READABLE_SCHEMA_VERSIONS = (1, 2, 3, 4)
#: Largest standard deviation a fraction in [0, 1] can have.
MAX_SPARSITY_STD = 0.5
#: Axes an operator may be split along across devices; ``None`` means it cannot be split.
#: ``"channel"``: output channels / features (dim 1 of NCHW, the last dim of token tensors);
#: ``"batch"``: the leading dimension (only useful at batch > 1).
SPLIT_AXES = ("channel", "batch")
#: Bytes per element of the dtypes the IR knows.
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1, "int32": 4, "int64": 8, "bool": 1}

_NUMERIC = ("macs", "flops", "bytes_in", "bytes_out", "bytes_w")
#: Upper bound of each numeric field per sample (``sparoa_sim.limits``: physical, far above any real operator).
_NUMERIC_MAX = {"macs": (MAX_OP_FLOPS, "MAX_OP_FLOPS"), "flops": (MAX_OP_FLOPS, "MAX_OP_FLOPS"),
                "bytes_in": (MAX_OP_BYTES, "MAX_OP_BYTES"), "bytes_out": (MAX_OP_BYTES, "MAX_OP_BYTES"),
                "bytes_w": (MAX_OP_BYTES, "MAX_OP_BYTES")}
#: Most kernels one operator may launch (a bound on malformed files, far above any real node).
MAX_KERNELS = 10_000
_FRACTIONS = ("act_sparsity", "w_sparsity")
#: Optional fractions in [0, 1] (0 = absent), each written only when non-zero.
_OPTIONAL = ("act_sparsity_std", "act_reuse")


@dataclass(frozen=True)
class Op:
    """One operator: its work, traffic and sparsity per sample, and its producers (``deps``)."""

    name: str
    kind: OpKind
    macs: float = 0.0
    flops: float = 0.0
    bytes_in: float = 0.0
    bytes_out: float = 0.0
    bytes_w: float = 0.0
    act_sparsity: float = 0.0
    w_sparsity: float = 0.0
    deps: tuple[int, ...] = ()
    out_shape: tuple[int, ...] = ()
    dtype: str = "float32"
    split_axis: str | None = None
    #: Device kernels eager PyTorch launches for this operator (its fx nodes, copying views
    #: included; 0 for a pure view): launch and framework overheads are charged per kernel.
    kernels: int = 1
    #: Standard deviation of ``act_sparsity`` across the inputs it was measured on (schema 3;
    #: 0 where it was not measured per input): what a per-request draw of sparsity spreads by.
    act_sparsity_std: float = 0.0
    #: Pattern reuse ρ of the input activations across the inputs measured (schema 4; 0 = random
    #: patterns, 1 = one fixed pattern): the activation-sparse kernel's cache input (``hwmodels.latency``).
    act_reuse: float = 0.0

    def __post_init__(self) -> None:
        # numpy scalars are welcome as input but stored as plain Python numbers (JSON-able).
        for attr in _NUMERIC + _FRACTIONS + _OPTIONAL:
            v = getattr(self, attr)
            if isinstance(v, np.generic) and isinstance(v, (np.integer, np.floating)):
                object.__setattr__(self, attr, float(v))
        for attr in ("deps", "out_shape"):
            v = getattr(self, attr)
            if isinstance(v, (tuple, list)) and any(isinstance(d, np.integer) for d in v):
                object.__setattr__(self, attr, tuple(int(d) if isinstance(d, np.integer) else d for d in v))

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOPs per byte moved (inputs + weights + outputs)."""
        moved = self.bytes_in + self.bytes_w + self.bytes_out
        return self.flops / moved if moved > 0 else 0.0

    @property
    def out_elems(self) -> int:
        """Output elements per sample: ``bytes_out`` over the element size where it is known (a
        window-partitioned shape such as Swin's (64, 49, 288) folds the batch into its first
        dimension, so the shape alone would miss 64×), else the shape without its leading dimension."""
        if self.bytes_out > 0:
            return max(1, round(self.bytes_out / DTYPE_BYTES.get(self.dtype, 4)))
        return math.prod(self.out_shape[1:]) if len(self.out_shape) > 1 else max(1, math.prod(self.out_shape))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (kind as its string, tuples as lists)."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "macs": self.macs,
            "flops": self.flops,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "bytes_w": self.bytes_w,
            "act_sparsity": self.act_sparsity,
            "w_sparsity": self.w_sparsity,
            "deps": list(self.deps),
            "out_shape": list(self.out_shape),
            "dtype": self.dtype,
            "split_axis": self.split_axis,
            "kernels": self.kernels,
            # schema 3; left out at 0 so a graph without spreads keeps the schema-2 layout
            **({"act_sparsity_std": self.act_sparsity_std} if self.act_sparsity_std else {}),
            **({"act_reuse": self.act_reuse} if self.act_reuse else {}),  # schema 4, likewise
        }


@dataclass(frozen=True)
class GraphArrays:
    """Struct-of-arrays view of a graph for the hot paths (read-only numpy arrays).

    Dependencies are stored CSR-style: the producers of op ``i`` are
    ``dep_idx[dep_ptr[i]:dep_ptr[i+1]]``, its consumers ``cons_idx[cons_ptr[i]:cons_ptr[i+1]]``.
    """

    kind: np.ndarray  # int8 kind codes (hwmodels.kinds.KIND_CODES)
    macs: np.ndarray
    flops: np.ndarray
    bytes_in: np.ndarray
    bytes_out: np.ndarray
    bytes_w: np.ndarray
    act_sparsity: np.ndarray
    w_sparsity: np.ndarray
    act_sparsity_std: np.ndarray
    act_reuse: np.ndarray
    out_elems: np.ndarray
    intensity: np.ndarray
    splittable: np.ndarray  # bool
    dep_ptr: np.ndarray
    dep_idx: np.ndarray
    cons_ptr: np.ndarray
    cons_idx: np.ndarray

    def deps_of(self, i: int) -> np.ndarray:
        """Indices of the producers of operator ``i``."""
        return self.dep_idx[self.dep_ptr[i] : self.dep_ptr[i + 1]]

    def consumers_of(self, i: int) -> np.ndarray:
        """Indices of the consumers of operator ``i``."""
        return self.cons_idx[self.cons_ptr[i] : self.cons_ptr[i + 1]]


@dataclass(frozen=True)
class OpGraph:
    """An immutable DAG of operators in topological order, validated on construction.

    ``sparsity_source`` says where the sparsity figures came from (random initialisation,
    trained weights, pruning level): randomly initialised networks give about 50 % zeros after
    ReLU and almost none after GELU, so it must travel with the figures. ``sparsity_provenance``
    is the same as a record (kind, files with their sha256, samples, citation; ``ir.sparsity``);
    left out, it is what ``sparsity_source`` implies (``default_provenance``).
    """

    name: str
    ops: tuple[Op, ...]
    input_shape: tuple[int, ...] = ()
    sparsity_source: str = "unknown"
    params: int | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False)
    source: str = field(default="<memory>", compare=False, repr=False)
    sparsity_provenance: SparsityProvenance | None = None

    def __post_init__(self) -> None:
        if self.sparsity_provenance is None:
            object.__setattr__(self, "sparsity_provenance", default_provenance(self.sparsity_source))
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))
        _validate(self)

    # -- sizes and totals -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self):
        return iter(self.ops)

    def __getitem__(self, i: int) -> Op:
        return self.ops[i]

    @property
    def total_macs(self) -> float:
        """Multiply-accumulates per sample over all operators."""
        return float(self.arrays.macs.sum())

    @property
    def total_flops(self) -> float:
        """Floating-point operations per sample over all operators."""
        return float(self.arrays.flops.sum())

    @property
    def n_params(self) -> int:
        """Parameter count: as recorded at extraction, else weight bytes / element size."""
        if self.params is not None:
            return int(self.params)
        return int(round(sum(op.bytes_w / DTYPE_BYTES.get(op.dtype, 4) for op in self.ops)))

    def sparsity(self, which: str = "act") -> np.ndarray:
        """Per-operator sparsity used by the threshold rule: ``act``, ``weight`` or ``max``."""
        a = self.arrays
        if which == "act":
            return a.act_sparsity
        if which == "weight":
            return a.w_sparsity
        if which == "max":
            return np.maximum(a.act_sparsity, a.w_sparsity)
        raise GraphError(f"unknown sparsity {which!r} (known: act, weight, max)")

    # -- struct-of-arrays --------------------------------------------------------------
    @cached_property
    def arrays(self) -> GraphArrays:
        """Struct-of-arrays view, computed once."""
        ops = self.ops
        n = len(ops)

        def col(attr: str) -> np.ndarray:
            return np.fromiter((getattr(o, attr) for o in ops), dtype=np.float64, count=n)

        moved = col("bytes_in") + col("bytes_w") + col("bytes_out")
        flops = col("flops")
        intensity = np.divide(flops, moved, out=np.zeros(n), where=moved > 0)
        dep_counts = np.fromiter((len(o.deps) for o in ops), dtype=np.int64, count=n)
        dep_ptr = np.concatenate(([0], np.cumsum(dep_counts)))
        dep_idx = np.fromiter((d for o in ops for d in o.deps), dtype=np.int64, count=int(dep_ptr[-1]))
        consumers: list[list[int]] = [[] for _ in range(n)]
        for i, o in enumerate(ops):
            for d in o.deps:
                consumers[d].append(i)
        cons_ptr = np.concatenate(([0], np.cumsum([len(c) for c in consumers]))).astype(np.int64)
        cons_idx = np.fromiter((c for cs in consumers for c in cs), dtype=np.int64, count=int(cons_ptr[-1]))
        arrays = GraphArrays(
            kind=np.fromiter((KIND_CODES[o.kind] for o in ops), dtype=np.int8, count=n),
            macs=col("macs"),
            flops=flops,
            bytes_in=col("bytes_in"),
            bytes_out=col("bytes_out"),
            bytes_w=col("bytes_w"),
            act_sparsity=col("act_sparsity"),
            w_sparsity=col("w_sparsity"),
            act_sparsity_std=col("act_sparsity_std"),
            act_reuse=col("act_reuse"),
            out_elems=np.fromiter((o.out_elems for o in ops), dtype=np.float64, count=n),
            intensity=intensity,
            splittable=np.fromiter((o.split_axis is not None for o in ops), dtype=bool, count=n),
            dep_ptr=dep_ptr.astype(np.int64),
            dep_idx=dep_idx,
            cons_ptr=cons_ptr,
            cons_idx=cons_idx,
        )
        for value in vars(arrays).values():
            value.flags.writeable = False
        return arrays

    @cached_property
    def hw_ops(self) -> OpArrays:
        """The per-operator inputs of the hardware twin (``hwmodels.OpArrays``), computed once."""
        a = self.arrays
        elem = DTYPE_BYTES.get(self.ops[0].dtype, 4) if self.ops else 4
        return OpArrays(kind=a.kind.astype(np.int64), flops=a.flops, macs=a.macs, bytes_in=a.bytes_in,
                        bytes_out=a.bytes_out, bytes_w=a.bytes_w, act_sparsity=a.act_sparsity,
                        w_sparsity=a.w_sparsity, units=a.out_elems, elem_bytes=float(elem),
                        kernels=np.fromiter((o.kernels for o in self.ops), dtype=np.float64, count=len(self.ops)),
                        act_reuse=a.act_reuse if a.act_reuse.any() else None)  # None: the twin as before ρ

    # -- (de)serialisation -------------------------------------------------------------
    @property
    def records_sparsity(self) -> bool:
        """Whether the graph carries schema-3 sparsity information: a per-operator spread, or a
        provenance record other than the one its ``sparsity_source`` text implies."""
        return (self.sparsity_provenance != default_provenance(self.sparsity_source)
                or any(op.act_sparsity_std for op in self.ops))

    @property
    def schema_version(self) -> int:
        """The lowest schema that holds this graph: 4 with a pattern reuse, 3 when it records
        sparsity (:attr:`records_sparsity`), else 2 (so older releases read it)."""
        if any(op.act_reuse for op in self.ops):
            return REUSE_SCHEMA_VERSION
        return SPARSITY_SCHEMA_VERSION if self.records_sparsity else SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of this graph (``schema_version`` first, :attr:`schema_version`)."""
        version = self.schema_version
        recorded = version >= SPARSITY_SCHEMA_VERSION
        return {
            "schema_version": version,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "sparsity_source": self.sparsity_source,
            **({"sparsity_provenance": self.sparsity_provenance.to_dict()} if recorded else {}),
            "params": self.params,
            "meta": dict(self.meta),
            "ops": [op.to_dict() for op in self.ops],
        }

    def to_json(self, indent: int | None = None) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def with_ops(self, ops: Sequence[Op], **changes: Any) -> OpGraph:
        """A copy with other operators (and optionally other top-level fields)."""
        return replace(self, ops=tuple(ops), **changes)

    def summary(self) -> dict[str, Any]:
        """Totals used by ``sparoa workloads list``: ops, macs, flops, params."""
        return {
            "name": self.name,
            "ops": len(self.ops),
            "macs": self.total_macs,
            "flops": self.total_flops,
            "params": self.n_params,
            "sparsity_source": self.sparsity_source,
        }


# ---------------------------------------------------------------------------------------------
# validation


def _where(graph_or_source: OpGraph | str, i: int | None = None, name: str | None = None) -> str:
    src = graph_or_source.source if isinstance(graph_or_source, OpGraph) else graph_or_source
    if i is None:
        return src
    return f"{src}: op {i} ({name!r})" if name is not None else f"{src}: op {i}"


def _validate(g: OpGraph) -> None:
    if not isinstance(g.name, str) or not g.name:
        raise GraphError(f"{g.source}: field 'name' must be a non-empty string, got {g.name!r}")
    if not isinstance(g.sparsity_source, str):
        raise GraphError(f"{g.source}: field 'sparsity_source' must be a string, got {g.sparsity_source!r}")
    if not isinstance(g.sparsity_provenance, SparsityProvenance):
        raise GraphError(f"{g.source}: field 'sparsity_provenance' must be a SparsityProvenance, "
                         f"got {g.sparsity_provenance!r}")
    if g.params is not None and (not isinstance(g.params, int) or isinstance(g.params, bool) or g.params < 0):
        raise GraphError(f"{g.source}: field 'params' must be a non-negative integer, got {g.params!r}")
    if not g.ops:
        raise GraphError(f"{g.source}: graph {g.name!r} has no operators")
    n = len(g.ops)
    _check_op_count(n, g.source)
    seen: dict[str, int] = {}
    late = False
    for i, op in enumerate(g.ops):
        if not isinstance(op, Op):
            raise GraphError(f"{_where(g, i)}: expected an Op, got {type(op).__name__}")
        where = _where(g, i, op.name)
        if not isinstance(op.name, str) or not op.name:
            raise GraphError(f"{where}: field 'name' must be a non-empty string")
        if op.name in seen:
            raise GraphError(f"{where}: duplicate operator name (also op {seen[op.name]})")
        seen[op.name] = i
        if not isinstance(op.kind, OpKind):
            raise GraphError(f"{where}: field 'kind' must be an OpKind, got {op.kind!r}")
        for attr in _NUMERIC + _FRACTIONS:
            v = getattr(op, attr)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
                raise GraphError(f"{where}: field {attr!r} must be a number, got {v!r}")
            try:
                finite = math.isfinite(v)
            except OverflowError:  # an integer beyond the float range
                finite = False
            if not finite:
                raise GraphError(f"{where}: field {attr!r} is not finite: {v!r}")
            if v < 0:
                raise GraphError(f"{where}: field {attr!r} is negative: {v!r}")
            if attr in _NUMERIC_MAX and v > _NUMERIC_MAX[attr][0]:
                limit, name = _NUMERIC_MAX[attr]
                raise GraphError(f"{where}: field {attr!r} is {v!r}, above the limit {limit:g} per sample ({name})")
        for attr in _FRACTIONS:
            v = getattr(op, attr)
            if v > 1:
                raise GraphError(f"{where}: field {attr!r} must lie in [0, 1], got {v!r}")
        for attr, top in zip(_OPTIONAL, (MAX_SPARSITY_STD, 1.0), strict=True):
            v = getattr(op, attr)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) \
                    or not 0 <= v <= top:  # NaN fails the comparison too
                raise GraphError(f"{where}: field {attr!r} must be a number in [0, {top}], got {v!r}")
        if not isinstance(op.dtype, str) or op.dtype not in DTYPE_BYTES:
            raise GraphError(f"{where}: field 'dtype' is {op.dtype!r} (known: {', '.join(DTYPE_BYTES)})")
        if op.split_axis is not None and op.split_axis not in SPLIT_AXES:
            raise GraphError(f"{where}: field 'split_axis' is {op.split_axis!r} (known: {', '.join(SPLIT_AXES)}, null)")
        if isinstance(op.kernels, bool) or not isinstance(op.kernels, (int, np.integer)) or not 0 <= op.kernels <= MAX_KERNELS:
            raise GraphError(f"{where}: field 'kernels' must be an integer in [0, {MAX_KERNELS}], got {op.kernels!r}")
        if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in op.out_shape):
            raise GraphError(f"{where}: field 'out_shape' must hold non-negative integers, got {list(op.out_shape)!r}")
        for d in op.deps:
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
                raise GraphError(f"{where}: field 'deps' holds {d!r}, not an operator index")
            if d < 0 or d >= n:
                raise GraphError(f"{where}: field 'deps' index {d} out of range [0, {n})")
            if d == i:
                raise GraphError(f"{where}: field 'deps' names the operator itself (a cycle)")
            if d > i:
                late = True
        if len(set(op.deps)) != len(op.deps):
            raise GraphError(f"{where}: field 'deps' repeats an index: {list(op.deps)!r}")
    if late:
        cycle = find_cycle([op.deps for op in g.ops])
        if cycle:
            names = " -> ".join(g.ops[i].name for i in cycle)
            raise GraphError(f"{g.source}: graph {g.name!r} has a cycle: {names}")
        raise GraphError(
            f"{g.source}: operators are not in topological order (an op depends on a later one); "
            "load_graph/graph_from_dict sort them"
        )


def _check_op_count(n: int, source: str) -> None:
    if n > MAX_OPERATORS:
        raise GraphError(f"{source}: field 'ops' holds {n:,} operators, above the limit {MAX_OPERATORS:,} "
                         "(MAX_OPERATORS)")


# ---------------------------------------------------------------------------------------------
# JSON


def _as_tuple_of_ints(value: Any, where: str, key: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise GraphError(f"{where}: field {key!r} must be a list, got {value!r}")
    return tuple(value)


def graph_from_dict(doc: Any, source: str = "<memory>") -> OpGraph:
    """Build and validate a graph from its JSON document; operators are sorted topologically."""
    if not isinstance(doc, dict):
        raise GraphError(f"{source}: top level must be a JSON object, got {type(doc).__name__}")
    version = doc.get("schema_version")
    if isinstance(version, bool) or version not in READABLE_SCHEMA_VERSIONS:
        readable = ", ".join(map(str, READABLE_SCHEMA_VERSIONS))
        raise GraphError(f"{source}: field 'schema_version' is {version!r}; this version reads {readable}")
    for key in ("name", "ops"):
        if key not in doc:
            raise GraphError(f"{source}: missing field {key!r}")
    raw_ops = doc["ops"]
    if not isinstance(raw_ops, list):
        raise GraphError(f"{source}: field 'ops' must be a list, got {type(raw_ops).__name__}")
    _check_op_count(len(raw_ops), source)
    ops: list[Op] = []
    known = set(Op.__dataclass_fields__)
    for i, raw in enumerate(raw_ops):
        if not isinstance(raw, dict):
            raise GraphError(f"{source}: op {i} must be a JSON object, got {raw!r}")
        where = _where(source, i, raw.get("name"))
        unknown = sorted(set(raw) - known)
        if unknown:
            raise GraphError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
        for key in ("name", "kind"):
            if key not in raw:
                raise GraphError(f"{where}: missing field {key!r}")
        try:
            kind = parse_kind(raw["kind"])
        except (ValueError, TypeError) as exc:
            raise GraphError(f"{where}: field 'kind': {exc}") from None
        values = dict(raw)
        values["kind"] = kind
        for key in ("deps", "out_shape"):
            if key in values:
                values[key] = _as_tuple_of_ints(values[key], where, key)
        if "act_reuse" in raw and version < REUSE_SCHEMA_VERSION:
            raise GraphError(f"{where}: field 'act_reuse' needs schema_version {REUSE_SCHEMA_VERSION}, "
                             f"the file says {version}")
        for key in _NUMERIC + _FRACTIONS + _OPTIONAL:
            if key in values and values[key] is None:
                raise GraphError(f"{where}: field {key!r} is null (NaN or missing value)")
        ops.append(Op(**values))
    deps = [op.deps for op in ops]
    if any(isinstance(d, int) and not isinstance(d, bool) and i < d < len(ops) for i, ds in enumerate(deps) for d in ds):
        valid = all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < len(ops) for ds in deps for d in ds)
        order = toposort(deps) if valid else None
        if order is not None:
            new_index = {old: new for new, old in enumerate(order)}
            ops = [replace(ops[old], deps=tuple(sorted(new_index[d] for d in ops[old].deps))) for old in order]
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise GraphError(f"{source}: field 'meta' must be an object, got {meta!r}")
    provenance = None
    if "sparsity_provenance" in doc:
        provenance = provenance_from_dict(doc["sparsity_provenance"], source)
    elif version >= SPARSITY_SCHEMA_VERSION:
        raise GraphError(f"{source}: a file of schema_version {version} needs the field 'sparsity_provenance'")
    input_shape = doc.get("input_shape", [])
    if not isinstance(input_shape, list) or not all(isinstance(d, int) and d >= 0 for d in input_shape):
        raise GraphError(f"{source}: field 'input_shape' must be a list of non-negative integers, got {input_shape!r}")
    return OpGraph(
        name=doc["name"],
        ops=tuple(ops),
        input_shape=tuple(input_shape),
        sparsity_source=doc.get("sparsity_source", "unknown"),
        params=doc.get("params"),
        meta=meta,
        source=source,
        sparsity_provenance=provenance,
    )


def _reject_constant(token: str) -> float:
    """NaN / Infinity in a graph file: read as numbers, so validation names the op and field."""
    return float(token)


def load_graph(path: str | os.PathLike[str]) -> OpGraph:
    """Read and validate a graph JSON file; errors name the file, operator and value."""
    p = Path(path)
    doc = read_json(p, "graph file", GraphError, parse_constant=_reject_constant, max_bytes=MAX_GRAPH_FILE_BYTES)
    return graph_from_dict(doc, source=str(p))


def save_graph(graph: OpGraph, path: str | os.PathLike[str], indent: int | None = 1) -> Path:
    """Write ``graph`` as JSON, atomically."""
    return atomic_write_text(path, graph.to_json(indent=indent) + "\n")


# ---------------------------------------------------------------------------------------------
# fusion

_FUSE_HEADS = frozenset({OpKind.CONV, OpKind.DWCONV, OpKind.LINEAR, OpKind.MATMUL})


def fuse(graph: OpGraph) -> OpGraph:
    """Fuse conv/linear + norm + activation chains into one operator (as TensorRT and TVM do).

    A follower is absorbed only when it is the sole consumer of the previous operator of the
    chain and has no other producer, so no dependency is lost. Work, weights and MACs add up;
    bytes in come from the head, bytes out from the tail: the intermediate tensors never
    reach memory.
    """
    a = graph.arrays
    ops = graph.ops
    n = len(ops)

    def sole_follower(i: int, kind: OpKind) -> int | None:
        cons = a.consumers_of(i)
        if len(cons) != 1:
            return None
        j = int(cons[0])
        if ops[j].kind is kind and ops[j].deps == (i,):
            return j
        return None

    group_of = list(range(n))  # op index -> index of the head of its fused group
    groups: dict[int, list[int]] = {}
    for i, op in enumerate(ops):
        if group_of[i] != i or op.kind not in _FUSE_HEADS:
            continue
        chain = [i]
        nxt = sole_follower(i, OpKind.NORM)
        if nxt is not None:
            chain.append(nxt)
        act = sole_follower(chain[-1], OpKind.ACT)
        if act is not None:
            chain.append(act)
        if len(chain) > 1:
            for j in chain:
                group_of[j] = i
            groups[i] = chain

    new_index: dict[int, int] = {}
    fused_ops: list[Op] = []
    for i, op in enumerate(ops):
        if group_of[i] != i:
            continue
        new_index[i] = len(fused_ops)
        chain = groups.get(i)
        if chain is None:
            fused_ops.append(op)
            continue
        members = [ops[j] for j in chain]
        bytes_w = sum(m.bytes_w for m in members)
        # weight sparsity of the head's weights: a fused norm's scales and running stats are not
        # weights the extractor counts (only tensors of 2+ dimensions are), so they must not dilute it
        w_sp = op.w_sparsity
        tail = members[-1]
        fused_ops.append(
            Op(
                name="+".join(m.name for m in members),
                kind=op.kind,
                macs=sum(m.macs for m in members),
                flops=sum(m.flops for m in members),
                bytes_in=op.bytes_in,
                bytes_out=tail.bytes_out,
                bytes_w=bytes_w,
                act_sparsity=op.act_sparsity,
                act_sparsity_std=op.act_sparsity_std,
                act_reuse=op.act_reuse,  # the head's input, like its sparsity
                w_sparsity=min(1.0, w_sp),
                deps=op.deps,
                out_shape=tail.out_shape,
                dtype=tail.dtype,
                split_axis=op.split_axis,
                kernels=1,  # one fused kernel, as TensorRT and TVM emit it
            )
        )
    remapped = [
        replace(o, deps=tuple(sorted({new_index[group_of[d]] for d in o.deps}))) for o in fused_ops
    ]
    meta = dict(graph.meta)
    meta["fused"] = True
    name = graph.name if graph.meta.get("fused") else f"{graph.name}_fused"
    return graph.with_ops(remapped, name=name, meta=meta, params=graph.n_params)


def chain_graph(name: str, ops: Iterable[Op]) -> OpGraph:
    """Convenience: a graph whose operators depend each on the previous one (deps overwritten)."""
    out = [replace(op, deps=(i - 1,) if i else ()) for i, op in enumerate(ops)]
    return OpGraph(name=name, ops=tuple(out))
