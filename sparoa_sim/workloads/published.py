"""Published activation sparsity of trained networks, applied to the shipped graphs (docs/architecture.md §2).

The ``published`` sparsity source: ``published_sparsity.toml`` (next to the graphs) lists cited
figures (``[[source]]``: value, what was measured, dataset, where it is stated) and, per shipped
network, how one applies (``[[network]]``: a rule over the operators, or per-layer values by
operator name). :func:`with_published_sparsity` returns a copy of a graph with those figures as its
activation sparsity and a ``published`` provenance record (the data file's name and sha256, the
citation); operators no row covers keep their figures, as the graph's ``sparsity_source`` says.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from sparoa_sim.errors import GraphError
from sparoa_sim.hwmodels.fileio import loads_toml, read_bounded_text
from sparoa_sim.hwmodels.kinds import OpKind
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.ir.sparsity import SourceFile, SparsityProvenance
from sparoa_sim.limits import MAX_PROFILE_FILE_BYTES

__all__ = ["PUBLISHED_FILE", "RULES", "PublishedData", "PublishedRow", "PublishedSource", "load_published",
           "network_of", "with_published_sparsity"]

#: The shipped data file of published figures.
PUBLISHED_FILE = Path(__file__).with_name("published_sparsity.toml")
#: How a network row's single ``value`` applies to a graph's operators.
RULES = ("conv_after_stem",)
_PRUNED = re.compile(r"^(?P<base>.+)_pruned\d+$")
_SOURCE_KEYS = {"id", "original", "url", "stated_in", "dataset", "measured", "value"}
_NETWORK_KEYS = {"name", "source", "rule", "assumed", "basis", "layers"}


@dataclass(frozen=True)
class PublishedSource:
    """One published figure: what was measured, on which data, by whom, and where it is stated."""

    id: str
    original: str
    url: str
    stated_in: str
    dataset: str
    measured: str
    value: float | None = None


@dataclass(frozen=True)
class PublishedRow:
    """How one source applies to one shipped network: a rule with the source's value, or per-layer values."""

    network: str
    source: PublishedSource
    rule: str | None
    assumed: bool
    basis: str
    layers: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishedData:
    """The rows of a data file by network name, with the file's name and sha256."""

    rows: Mapping[str, PublishedRow]
    file: SourceFile


def _fraction(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise GraphError(f"{where} must be a number in [0, 1], got {value!r}")
    return float(value)


def _text(table: Mapping[str, object], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise GraphError(f"{where}: field {key!r} must be a non-empty string, got {value!r}")
    return value


def load_published(path: str | os.PathLike[str] = PUBLISHED_FILE) -> PublishedData:
    """Read and check a published-sparsity file; errors name the file, the row and the field."""
    p = Path(path)
    raw = read_bounded_text(p, "published-sparsity file", GraphError, MAX_PROFILE_FILE_BYTES)
    doc = loads_toml(raw, str(p), GraphError)  # the one bounded reader (size, nesting)
    if doc.get("schema_version") != 1:
        raise GraphError(f"{p}: field 'schema_version' is {doc.get('schema_version')!r}; this version reads 1")
    sources: dict[str, PublishedSource] = {}
    for i, s in enumerate(doc.get("source", [])):
        where = f"{p}: source {i}"
        unknown = sorted(set(s) - _SOURCE_KEYS)
        if unknown:
            raise GraphError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
        texts = {k: _text(s, k, where) for k in ("id", "original", "url", "stated_in", "dataset", "measured")}
        if not texts["url"].startswith(("https://", "http://")):
            raise GraphError(f"{where}: field 'url' must be a web address, got {texts['url']!r}")
        value = _fraction(s["value"], f"{where}: field 'value'") if "value" in s else None
        sources[texts["id"]] = PublishedSource(**texts, value=value)
    rows: dict[str, PublishedRow] = {}
    for i, r in enumerate(doc.get("network", [])):
        where = f"{p}: network {i}"
        unknown = sorted(set(r) - _NETWORK_KEYS)
        if unknown:
            raise GraphError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
        name, source_id, basis = (_text(r, k, where) for k in ("name", "source", "basis"))
        if source_id not in sources:
            raise GraphError(f"{where}: field 'source' is {source_id!r} (known: {', '.join(sources) or 'none'})")
        if not isinstance(r.get("assumed"), bool):
            raise GraphError(f"{where}: field 'assumed' must be true or false, got {r.get('assumed')!r}")
        rule, layers = r.get("rule"), r.get("layers", {})
        if (rule is None) == (not layers):
            raise GraphError(f"{where}: give either 'rule' or 'layers' (per-layer values), not both or neither")
        if rule is not None and rule not in RULES:
            raise GraphError(f"{where}: field 'rule' is {rule!r} (known: {', '.join(RULES)})")
        if rule is not None and sources[source_id].value is None:
            raise GraphError(f"{where}: rule {rule!r} needs a 'value' in source {source_id!r}")
        if not isinstance(layers, dict):
            raise GraphError(f"{where}: field 'layers' must be a table of operator = value, got {layers!r}")
        checked = {str(k): _fraction(v, f"{where}: layer {k!r}") for k, v in layers.items()}
        if name in rows:
            raise GraphError(f"{where}: network {name!r} has two rows")
        rows[name] = PublishedRow(name, sources[source_id], rule, r["assumed"], basis, MappingProxyType(checked))
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()  # the file's bytes (strict UTF-8 round-trips)
    return PublishedData(MappingProxyType(rows), SourceFile("data", p.name, digest))


def network_of(graph_name: str) -> str:
    """The network a shipped graph name stands for (``resnet50_pruned80`` → ``resnet50``): pruning zeroes
    weights, and the published figures are those of the dense trained network."""
    m = _PRUNED.match(graph_name)
    return m.group("base") if m else graph_name


def with_published_sparsity(graph: OpGraph, network: str | None = None, *,
                            data: PublishedData | None = None) -> OpGraph:
    """A copy of ``graph`` named ``<name>_published`` whose activation sparsity is the published figure
    of ``network`` (default: the graph's own network) where a row covers an operator (spread 0: one figure)."""
    data = load_published() if data is None else data
    net = network or network_of(graph.name)
    row = data.rows.get(net)
    if row is None:
        raise GraphError(f"no published activation sparsity for network {net!r} "
                         f"(known: {', '.join(sorted(data.rows)) or 'none'}; see {PUBLISHED_FILE.name})")
    if row.rule == "conv_after_stem":
        heads = [i for i, op in enumerate(graph.ops) if op.kind in (OpKind.CONV, OpKind.DWCONV)]
        values = {i: row.source.value for i in heads[1:]}
    else:
        names = {op.name: i for i, op in enumerate(graph.ops)}
        missing = sorted(set(row.layers) - set(names))
        if missing:
            raise GraphError(f"published sparsity of {net!r}: operator(s) {', '.join(map(repr, missing[:3]))} "
                             f"are not in graph {graph.name!r}")
        values = {names[k]: v for k, v in row.layers.items()}
    # one figure per layer: no spread, and no pattern reuse known (ρ 0: random patterns)
    ops = tuple(replace(op, act_sparsity=values[i], act_sparsity_std=0.0, act_reuse=0.0) if i in values else op
                for i, op in enumerate(graph.ops))
    covered = f"{len(values)} of {len(graph)} operators"
    text = (f"published: {row.source.measured} — {row.source.original} (stated in {row.source.stated_in}); "
            f"dataset: {row.source.dataset}; applied to {covered}"
            + (f" ({row.rule})" if row.rule else " (per layer)")
            + (f"; ASSUMED for {net}: {row.basis}" if row.assumed else f"; {row.basis}")
            + f"; other operators keep: {graph.sparsity_source}")
    provenance = SparsityProvenance(kind="published", files=(data.file,), reference=row.source.url)
    meta = dict(graph.meta, published_network=net, published_assumed=row.assumed)
    return replace(graph, name=f"{graph.name}_published", ops=ops, sparsity_source=text,
                   sparsity_provenance=provenance, meta=meta)
