"""The measurement table: per-operator timings that calibrate the hardware twin (plain JSON).

Written by ``sparoa_sim.real.measure.profiler`` on a real device, read here by the calibration without
torch: this module imports only the standard library, numpy and ``hwmodels`` itself (docs/architecture.md §1).

Layout on disk (``schema_version`` 1; times in seconds, work and traffic per sample as in the
operator graph, ``batch`` applied on top)::

    {"schema_version": 1, "kind": "sparoa-measurements", "device": "cpu" | "cuda",
     "host": {"cpu_model", "logical_cpus", "torch_threads", "torch_version", "cuda_device",
              "platform", ...},
     "created": ISO-8601 time, "meta": {... how it was measured ...},
     "bandwidth": null | {"nbytes", "threads", "copy": FIGURE, "triad": FIGURE | null},
     "sparse_sweep": [{"out_features", "in_features", "cols", "sparsity", "w_sparsity", "nnz",
                       "dense_s", "dense_s_a", "dense_s_b", "sparse_s", "sparse_s_a",
                       "sparse_s_b", "speedup", "reps"}],
     "act_sweep": [{"kind", "groups", "rows", "inner", "outer", "sparsity", "act_sparsity",
                    "dense_s", "dense_s_a", "dense_s_b", "sparse_s", "sparse_s_a",
                    "sparse_s_b", "speedup", "reps"}],                  # optional
     "rows": [{"workload", "op", "op_index", "kind", "batch", "context": "isolated" | "graph",
               "macs", "flops", "bytes_in", "bytes_out", "bytes_w", "act_sparsity",
               "w_sparsity", "out_elems", "time_s", "time_s_a", "time_s_b", "reps"}],
     "end_to_end": [{"workload", "batch", "time_s", "time_s_a", "time_s_b", "reps",
                     "sum_isolated_s", "sum_graph_s"}]}

    FIGURE = {"bytes_per_s", "bytes_per_s_a", "bytes_per_s_b", "bytes_moved",
              "time_s", "time_s_a", "time_s_b", "reps"}

Every timed figure is a median over ``reps`` repetitions plus two independent medians ``*_a`` and
``*_b`` (the two halves of the repetitions, taken at different moments of the run) so that each
figure carries its own repeatability: ``rel_spread = |a − b| / median``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from sparoa_sim.hwmodels.errors import CalibrationError
from sparoa_sim.hwmodels.fileio import read_json
from sparoa_sim.hwmodels.kinds import KIND_CODES, parse_kind

__all__ = [
    "SCHEMA_VERSION",
    "TABLE_KIND",
    "CONTEXTS",
    "DEVICES",
    "MeasuredOp",
    "EndToEnd",
    "StreamFigure",
    "Bandwidth",
    "SparsePoint",
    "ACT_POINT_KINDS",
    "ActSparsePoint",
    "RowArrays",
    "MeasurementTable",
    "table_from_dict",
    "table_to_dict",
    "table_to_json",
    "load_table",
    "merge_tables",
    "repeatability",
    "rel_spread",
]

#: Version of the JSON layout; loading another version fails.
SCHEMA_VERSION = 1
#: Value of the top-level ``kind`` field, so a graph or a profile is not read as a table.
TABLE_KIND = "sparoa-measurements"
#: Where an operator was timed: alone on stored inputs, or inside the running graph.
CONTEXTS = ("isolated", "graph")
#: Device kinds a table can describe.
DEVICES = ("cpu", "cuda")
#: Host fields that identify the machine; tables merge only when these agree.
HOST_IDENTITY = ("cpu_model", "logical_cpus", "torch_threads", "cuda_device")


def rel_spread(a: float, b: float, median: float) -> float:
    """Repeatability of one figure: the gap between its two independent medians, relative."""
    return abs(a - b) / median if median > 0 else math.inf


# ---------------------------------------------------------------------------------------------
# values


class _TwoMedians:
    """A timed figure with two independent half medians, so its repeatability is known."""

    time_s: float
    time_s_a: float
    time_s_b: float

    @property
    def rel_spread(self) -> float:
        """``|time_s_a − time_s_b| / time_s``."""
        return rel_spread(self.time_s_a, self.time_s_b, self.time_s)


@dataclass(frozen=True)
class MeasuredOp(_TwoMedians):
    """One operator timed at one batch size in one context, with its IR features per sample."""

    workload: str
    op: str
    op_index: int
    kind: str
    batch: int
    context: str
    macs: float
    flops: float
    bytes_in: float
    bytes_out: float
    bytes_w: float
    act_sparsity: float
    w_sparsity: float
    out_elems: float
    time_s: float
    time_s_a: float
    time_s_b: float
    reps: int


@dataclass(frozen=True)
class EndToEnd(_TwoMedians):
    """Eager ``model(x)`` latency at one batch size, beside the sums of its operators' times."""

    workload: str
    batch: int
    time_s: float
    time_s_a: float
    time_s_b: float
    reps: int
    sum_isolated_s: float
    sum_graph_s: float


@dataclass(frozen=True)
class StreamFigure(_TwoMedians):
    """One STREAM-like kernel (copy or triad): sustained bytes/s, median and two half medians."""

    bytes_per_s: float
    bytes_per_s_a: float
    bytes_per_s_b: float
    bytes_moved: float
    time_s: float
    time_s_a: float
    time_s_b: float
    reps: int


@dataclass(frozen=True)
class Bandwidth:
    """Sustained memory bandwidth of the device: STREAM copy (the twin's ``B_d``) and triad."""

    nbytes: int
    threads: int
    copy: StreamFigure
    triad: StreamFigure | None = None

    @property
    def sustained_bytes_per_s(self) -> float:
        """The figure the twin uses as ``B_d``: the copy kernel's median bytes/s."""
        return self.copy.bytes_per_s


@dataclass(frozen=True)
class SparsePoint:
    """Dense ``mm`` vs CSR ``sparse.mm`` of one linear-layer shape at one weight sparsity.

    The weight is ``out_features × in_features``, the right-hand side ``in_features × cols``
    (``cols`` = batch × tokens). ``speedup = dense_s / sparse_s`` (> 1: the sparse kernel wins).
    """

    out_features: int
    in_features: int
    cols: int
    sparsity: float
    w_sparsity: float
    nnz: int
    dense_s: float
    dense_s_a: float
    dense_s_b: float
    sparse_s: float
    sparse_s_a: float
    sparse_s_b: float
    speedup: float
    reps: int


#: The operator forms of the dense-vs-activation-sparse sweep, and the twin's kind of each.
ACT_POINT_KINDS: dict[str, str] = {"linear": "linear", "matmul": "matmul", "conv1x1": "conv"}


@dataclass(frozen=True)
class ActSparsePoint:
    """Dense vs activation-sparse kernel of one operator shape at one activation sparsity.

    The operator is ``groups`` products of a ``rows × inner`` activation (its zeros skipped) by an
    ``inner × outer`` operand: a weight for ``linear`` / ``conv1x1`` (rows = tokens or pixels),
    a second activation for ``matmul``. ``speedup = dense_s / sparse_s`` (> 1: the sparse kernel wins).
    """

    kind: str
    groups: int
    rows: int
    inner: int
    outer: int
    sparsity: float
    act_sparsity: float
    dense_s: float
    dense_s_a: float
    dense_s_b: float
    sparse_s: float
    sparse_s_a: float
    sparse_s_b: float
    speedup: float
    reps: int

    def __post_init__(self) -> None:
        if self.kind not in ACT_POINT_KINDS:
            raise CalibrationError(f"act-sparse point: kind must be one of {', '.join(ACT_POINT_KINDS)}, got {self.kind!r}")
        for name in ("groups", "rows", "inner", "outer", "reps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise CalibrationError(f"act-sparse point: {name} must be an integer >= 1, got {v!r}")
        for name in ("sparsity", "act_sparsity"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and 0.0 <= v <= 1.0):
                raise CalibrationError(f"act-sparse point: {name} must lie in [0, 1], got {v!r}")
        for name in ("dense_s", "dense_s_a", "dense_s_b", "sparse_s", "sparse_s_a", "sparse_s_b", "speedup"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise CalibrationError(f"act-sparse point: {name} must be a positive finite number, got {v!r}")

    @property
    def shape(self) -> tuple[str, int, int, int, int]:
        """(kind, groups, rows, inner, outer): the operator apart from its sparsity."""
        return (self.kind, self.groups, self.rows, self.inner, self.outer)


@dataclass(frozen=True)
class RowArrays:
    """Struct-of-arrays view of a table's operator rows (read-only numpy columns)."""

    workload: np.ndarray  # str
    op: np.ndarray  # str
    op_index: np.ndarray  # int64
    kind: np.ndarray  # str
    kind_code: np.ndarray  # int8, hwmodels.kinds.KIND_CODES
    batch: np.ndarray  # int64
    context: np.ndarray  # str
    macs: np.ndarray
    flops: np.ndarray
    bytes_in: np.ndarray
    bytes_out: np.ndarray
    bytes_w: np.ndarray
    act_sparsity: np.ndarray
    w_sparsity: np.ndarray
    out_elems: np.ndarray
    time_s: np.ndarray
    time_s_a: np.ndarray
    time_s_b: np.ndarray
    reps: np.ndarray  # int64
    rel_spread: np.ndarray

    def __len__(self) -> int:
        return int(self.time_s.shape[0])

    def select(self, mask: np.ndarray) -> RowArrays:
        """The rows where boolean ``mask`` holds."""
        out = {f.name: getattr(self, f.name)[mask] for f in fields(self)}
        for v in out.values():
            v.flags.writeable = False
        return RowArrays(**out)


_INT_COLS = {"op_index": np.int64, "batch": np.int64, "reps": np.int64}
_STR_COLS = ("workload", "op", "kind", "context")


def _row_arrays(rows: Sequence[MeasuredOp]) -> RowArrays:
    cols: dict[str, np.ndarray] = {}
    for f in fields(MeasuredOp):
        values = [getattr(r, f.name) for r in rows]
        if f.name in _STR_COLS:
            cols[f.name] = np.array(values, dtype=str) if values else np.array([], dtype=str)
        else:
            cols[f.name] = np.array(values, dtype=_INT_COLS.get(f.name, np.float64))
    cols["kind_code"] = np.array([KIND_CODES[parse_kind(k)] for k in cols["kind"]], dtype=np.int8)
    t = cols["time_s"]
    cols["rel_spread"] = np.abs(cols["time_s_a"] - cols["time_s_b"]) / np.where(t > 0, t, np.nan)
    for v in cols.values():
        v.flags.writeable = False
    return RowArrays(**cols)


@dataclass(frozen=True)
class MeasurementTable:
    """A measurement table of one device on one host (immutable; see the module docstring)."""

    device: str
    host: Mapping[str, Any]
    rows: tuple[MeasuredOp, ...] = ()
    end_to_end: tuple[EndToEnd, ...] = ()
    bandwidth: Bandwidth | None = None
    sparse_sweep: tuple[SparsePoint, ...] = ()
    created: str = ""
    act_sweep: tuple[ActSparsePoint, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    source: str = field(default="<memory>", compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "host", MappingProxyType(dict(self.host)))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))
        object.__setattr__(self, "rows", tuple(self.rows))
        object.__setattr__(self, "end_to_end", tuple(self.end_to_end))
        object.__setattr__(self, "sparse_sweep", tuple(self.sparse_sweep))
        object.__setattr__(self, "act_sweep", tuple(self.act_sweep))
        # validate through the dict form: one set of rules for memory and disk
        table_from_dict(table_to_dict(self), self.source)

    @cached_property
    def _all_arrays(self) -> RowArrays:
        return _row_arrays(self.rows)

    def arrays(
        self,
        context: str | None = None,
        *,
        workload: str | Iterable[str] | None = None,
        batch: int | None = None,
    ) -> RowArrays:
        """Numpy columns of the operator rows, optionally only one context, workload(s), batch."""
        a = self._all_arrays
        mask = np.ones(len(a), dtype=bool)
        if context is not None:
            if context not in CONTEXTS:
                raise CalibrationError(f"{self.source}: unknown context {context!r} (known: {', '.join(CONTEXTS)})")
            mask &= a.context == context
        if workload is not None:
            names = [workload] if isinstance(workload, str) else list(workload)
            mask &= np.isin(a.workload, names)
        if batch is not None:
            mask &= a.batch == batch
        return a if mask.all() else a.select(mask)

    @property
    def workloads(self) -> tuple[str, ...]:
        """Workload names in order of first appearance."""
        return tuple(dict.fromkeys(r.workload for r in self.rows))


# ---------------------------------------------------------------------------------------------
# reading and validation


class _Checker:
    """Typed access to a parsed JSON document; errors name the file, the entry and the key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, where: str, msg: str) -> CalibrationError:
        return CalibrationError(f"{self.source}: {where}: {msg}")

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, f"must be a JSON object, got {type(value).__name__}")
        return value

    def keys(self, doc: dict[str, Any], where: str, required: Sequence[str], optional: Sequence[str] = ()) -> None:
        for k in required:
            if k not in doc:
                raise self.error(where, f"missing key {k!r}")
        unknown = sorted(set(doc) - set(required) - set(optional))
        if unknown:
            raise self.error(where, f"unknown key(s) {', '.join(map(repr, unknown))}")

    def text(self, doc: dict[str, Any], key: str, where: str, choices: Sequence[str] | None = None) -> str:
        v = doc[key]
        if not isinstance(v, str) or not v:
            raise self.error(where, f"key {key!r} must be a non-empty string, got {v!r}")
        if choices is not None and v not in choices:
            raise self.error(where, f"key {key!r} is {v!r} (known: {', '.join(choices)})")
        return v

    def num(self, doc: dict[str, Any], key: str, where: str, *, positive: bool = False, hi: float = math.inf) -> float:
        v = doc[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error(where, f"key {key!r} must be a number, got {v!r}")
        v = float(v)
        if not math.isfinite(v):
            raise self.error(where, f"key {key!r} is not finite: {v!r}")
        if positive and v <= 0:
            raise self.error(where, f"key {key!r} must be > 0, got {v!r}")
        if v < 0:
            raise self.error(where, f"key {key!r} is negative: {v!r}")
        if v > hi:
            raise self.error(where, f"key {key!r} must be <= {hi:g}, got {v!r}")
        return v

    def integer(self, doc: dict[str, Any], key: str, where: str, *, lo: int = 0) -> int:
        v = doc[key]
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(where, f"key {key!r} must be an integer, got {v!r}")
        if v < lo:
            raise self.error(where, f"key {key!r} must be >= {lo}, got {v!r}")
        return v


_ROW_KEYS = tuple(f.name for f in fields(MeasuredOp))
_FEATURES = ("macs", "flops", "bytes_in", "bytes_out", "bytes_w", "out_elems")
_TIMES = ("time_s", "time_s_a", "time_s_b")
_E2E_KEYS = tuple(f.name for f in fields(EndToEnd))
_FIGURE_KEYS = tuple(f.name for f in fields(StreamFigure))
_SPARSE_KEYS = tuple(f.name for f in fields(SparsePoint))
_TOP_REQUIRED = ("schema_version", "kind", "device", "host", "created", "rows", "end_to_end")
_TOP_OPTIONAL = ("bandwidth", "sparse_sweep", "act_sweep", "meta")
_ACT_KEYS = ("kind", "groups", "rows", "inner", "outer", "sparsity", "act_sparsity", "dense_s", "dense_s_a",
             "dense_s_b", "sparse_s", "sparse_s_a", "sparse_s_b", "speedup", "reps")


def _row(c: _Checker, raw: Any, i: int) -> MeasuredOp:
    where = f"rows[{i}]"
    raw = c.obj(raw, where)
    if isinstance(raw.get("op"), str):
        where = f"rows[{i}] (op {raw['op']!r}, {raw.get('context')}, batch {raw.get('batch')})"
    c.keys(raw, where, _ROW_KEYS)
    kind = c.text(raw, "kind", where)
    try:
        parse_kind(kind)
    except ValueError as exc:
        raise c.error(where, f"key 'kind': {exc}") from None
    return MeasuredOp(
        workload=c.text(raw, "workload", where),
        op=c.text(raw, "op", where),
        op_index=c.integer(raw, "op_index", where),
        kind=kind,
        batch=c.integer(raw, "batch", where, lo=1),
        context=c.text(raw, "context", where, CONTEXTS),
        **{k: c.num(raw, k, where) for k in _FEATURES},
        act_sparsity=c.num(raw, "act_sparsity", where, hi=1.0),
        w_sparsity=c.num(raw, "w_sparsity", where, hi=1.0),
        **{k: c.num(raw, k, where, positive=True) for k in _TIMES},
        reps=c.integer(raw, "reps", where, lo=1),
    )


def _e2e(c: _Checker, raw: Any, i: int) -> EndToEnd:
    where = f"end_to_end[{i}]"
    raw = c.obj(raw, where)
    c.keys(raw, where, _E2E_KEYS)
    return EndToEnd(
        workload=c.text(raw, "workload", where),
        batch=c.integer(raw, "batch", where, lo=1),
        **{k: c.num(raw, k, where, positive=True) for k in _TIMES},
        reps=c.integer(raw, "reps", where, lo=1),
        sum_isolated_s=c.num(raw, "sum_isolated_s", where),
        sum_graph_s=c.num(raw, "sum_graph_s", where),
    )


def _figure(c: _Checker, raw: Any, where: str) -> StreamFigure:
    raw = c.obj(raw, where)
    c.keys(raw, where, _FIGURE_KEYS)
    values: dict[str, Any] = {k: c.num(raw, k, where, positive=True) for k in _FIGURE_KEYS if k != "reps"}
    return StreamFigure(**values, reps=c.integer(raw, "reps", where, lo=1))


def _bandwidth(c: _Checker, raw: Any) -> Bandwidth | None:
    if raw is None:
        return None
    where = "bandwidth"
    raw = c.obj(raw, where)
    c.keys(raw, where, ("nbytes", "threads", "copy"), ("triad",))
    triad = raw.get("triad")
    return Bandwidth(
        nbytes=c.integer(raw, "nbytes", where, lo=1),
        threads=c.integer(raw, "threads", where, lo=1),
        copy=_figure(c, raw["copy"], "bandwidth.copy"),
        triad=None if triad is None else _figure(c, triad, "bandwidth.triad"),
    )


def _sparse(c: _Checker, raw: Any, i: int) -> SparsePoint:
    where = f"sparse_sweep[{i}]"
    raw = c.obj(raw, where)
    c.keys(raw, where, _SPARSE_KEYS)
    ints = ("out_features", "in_features", "cols", "reps")
    values: dict[str, Any] = {k: c.integer(raw, k, where, lo=1) for k in ints}
    values["nnz"] = c.integer(raw, "nnz", where)
    values["sparsity"] = c.num(raw, "sparsity", where, hi=1.0)
    values["w_sparsity"] = c.num(raw, "w_sparsity", where, hi=1.0)
    for k in ("dense_s", "dense_s_a", "dense_s_b", "sparse_s", "sparse_s_a", "sparse_s_b", "speedup"):
        values[k] = c.num(raw, k, where, positive=True)
    return SparsePoint(**values)


def _act(c: _Checker, raw: Any, i: int) -> ActSparsePoint:
    where = f"act_sweep[{i}]"
    raw = c.obj(raw, where)
    c.keys(raw, where, _ACT_KEYS)
    try:
        return ActSparsePoint(**raw)
    except CalibrationError as exc:
        raise c.error(where, str(exc).removeprefix("act-sparse point: ")) from None


def _list(c: _Checker, doc: dict[str, Any], key: str) -> list[Any]:
    v = doc.get(key, [])
    if not isinstance(v, list):
        raise c.error(key, f"must be a JSON list, got {type(v).__name__}")
    return v


def table_from_dict(doc: Any, source: str = "<memory>") -> MeasurementTable:
    """Build and validate a table from its JSON document; errors name ``source``, entry and key."""
    c = _Checker(source)
    if not isinstance(doc, dict):
        raise c.error("top level", f"must be a JSON object, got {type(doc).__name__}")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise c.error("key 'schema_version'", f"is {version!r}; this version reads {SCHEMA_VERSION}")
    if doc.get("kind") != TABLE_KIND:
        raise c.error("key 'kind'", f"is {doc.get('kind')!r}, expected {TABLE_KIND!r} (not a measurement table)")
    c.keys(doc, "top level", _TOP_REQUIRED, _TOP_OPTIONAL)
    device = c.text(doc, "device", "top level", DEVICES)
    host = c.obj(doc["host"], "host")
    created = doc["created"]
    if not isinstance(created, str):
        raise c.error("top level", f"key 'created' must be a string, got {created!r}")
    meta = c.obj(doc.get("meta", {}), "meta")
    rows = tuple(_row(c, r, i) for i, r in enumerate(_list(c, doc, "rows")))
    e2e = tuple(_e2e(c, r, i) for i, r in enumerate(_list(c, doc, "end_to_end")))
    sparse = tuple(_sparse(c, r, i) for i, r in enumerate(_list(c, doc, "sparse_sweep")))
    act = tuple(_act(c, r, i) for i, r in enumerate(_list(c, doc, "act_sweep")))
    bandwidth = _bandwidth(c, doc.get("bandwidth"))
    table = object.__new__(MeasurementTable)  # skip __post_init__'s re-validation
    for name, value in (
        ("device", device), ("host", MappingProxyType(dict(host))), ("rows", rows), ("end_to_end", e2e),
        ("bandwidth", bandwidth), ("sparse_sweep", sparse), ("act_sweep", act), ("created", created),
        ("meta", MappingProxyType(dict(meta))), ("source", source),
    ):  # fmt: skip
        object.__setattr__(table, name, value)
    return table


def _asdict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def table_to_dict(table: MeasurementTable) -> dict[str, Any]:
    """The JSON document of ``table`` (``schema_version`` first; plain types only)."""
    bw = table.bandwidth
    bandwidth = None
    if bw is not None:
        bandwidth = {
            "nbytes": bw.nbytes,
            "threads": bw.threads,
            "copy": _asdict(bw.copy),
            "triad": None if bw.triad is None else _asdict(bw.triad),
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": TABLE_KIND,
        "device": table.device,
        "host": dict(table.host),
        "created": table.created,
        "meta": dict(table.meta),
        "bandwidth": bandwidth,
        "sparse_sweep": [_asdict(p) for p in table.sparse_sweep],
        **({"act_sweep": [_asdict(p) for p in table.act_sweep]} if table.act_sweep else {}),
        "rows": [_asdict(r) for r in table.rows],
        "end_to_end": [_asdict(e) for e in table.end_to_end],
    }


def table_to_json(table: MeasurementTable, indent: int | None = None) -> str:
    """JSON text of :func:`table_to_dict` (non-finite numbers refused)."""
    return json.dumps(table_to_dict(table), indent=indent, allow_nan=False)


def load_table(path: str | os.PathLike[str]) -> MeasurementTable:
    """Read and validate a measurement table JSON file; errors name the file, row and key."""
    p = Path(path)
    # NaN/Infinity parse, then fail validation naming row and key
    doc = read_json(p, "measurement table", CalibrationError)
    return table_from_dict(doc, source=str(p))


# ---------------------------------------------------------------------------------------------
# merging and summaries


def merge_tables(tables: Sequence[MeasurementTable]) -> MeasurementTable:
    """One table from several of the same device and host (identity: :data:`HOST_IDENTITY`).

    Rows, end-to-end figures and sparse-sweep points are concatenated; where a later table
    measured the same thing again (same workload, op, batch and context; same workload and
    batch; same shape and sparsity), the later figure replaces the earlier one. The last
    bandwidth measurement wins. ``meta.merged_from`` lists the sources.
    """
    tables = list(tables)
    if not tables:
        raise CalibrationError("merge_tables: no tables given")
    first = tables[0]
    for t in tables[1:]:
        if t.device != first.device:
            raise CalibrationError(f"{t.source}: device {t.device!r} differs from {first.source}'s {first.device!r}")
        for key in HOST_IDENTITY:
            if t.host.get(key) != first.host.get(key):
                raise CalibrationError(
                    f"{t.source}: host key {key!r} is {t.host.get(key)!r}, "
                    f"but {first.source} has {first.host.get(key)!r}; tables from different hosts do not merge"
                )
    rows: dict[tuple[Any, ...], MeasuredOp] = {}
    e2e: dict[tuple[Any, ...], EndToEnd] = {}
    sparse: dict[tuple[Any, ...], SparsePoint] = {}
    act: dict[tuple[Any, ...], ActSparsePoint] = {}
    bandwidth: Bandwidth | None = None
    for t in tables:
        for r in t.rows:
            rows[(r.workload, r.op, r.batch, r.context)] = r
        for e in t.end_to_end:
            e2e[(e.workload, e.batch)] = e
        for p in t.sparse_sweep:
            sparse[(p.out_features, p.in_features, p.cols, p.sparsity)] = p
        for a in t.act_sweep:
            act[(*a.shape, a.sparsity)] = a
        bandwidth = t.bandwidth or bandwidth
    meta = dict(first.meta)
    meta["merged_from"] = [t.source for t in tables]
    return MeasurementTable(
        device=first.device,
        host=first.host,
        rows=tuple(rows.values()),
        end_to_end=tuple(e2e.values()),
        bandwidth=bandwidth,
        sparse_sweep=tuple(sparse.values()),
        act_sweep=tuple(act.values()),
        created=max(t.created for t in tables),
        meta=meta,
        source="+".join(t.source for t in tables),
    )


def repeatability(table: MeasurementTable, context: str = "isolated", tol: float = 0.10) -> dict[str, float]:
    """Share of operator rows whose two independent medians agree within ``tol``, per kind.

    The key ``"all"`` holds the share over every row of that context. This is the yardstick the
    twin's per-operator fit is shown beside (docs/architecture.md §3).
    """
    a = table.arrays(context)
    out: dict[str, float] = {}
    if len(a) == 0:
        return out
    ok = a.rel_spread <= tol
    out["all"] = float(ok.mean())
    for kind in sorted(set(a.kind.tolist())):
        m = a.kind == kind
        out[kind] = float(ok[m].mean())
    return out
