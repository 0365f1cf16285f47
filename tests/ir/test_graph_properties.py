"""Hypothesis properties of the graph IR over generated and raw graphs: JSON round trips, the
struct-of-arrays view, fusion invariants, and loader errors on corrupted documents."""

from __future__ import annotations

import copy
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim import GraphError, OpGraph, fuse, load_graph, save_graph
from sparoa_sim.ir.graph import graph_from_dict
from sparoa_sim.hwmodels.kinds import KIND_CODES
from sparoa_sim.ir.synthetic import generate
from sparoa_sim.testing.strategies import (
    chain_graphs,
    corrupt_graph_dicts,
    graphs,
    ops,
    raw_graph_dicts,
    small_graphs,
)


def _plain_names(doc: dict) -> dict:
    """A copy of ``doc`` whose operators are named ``op<i>`` (no '+' to confuse fused names)."""
    doc = copy.deepcopy(doc)
    for i, op in enumerate(doc["ops"]):
        op["name"] = f"op{i}"
    return doc


any_graphs = st.one_of(graphs(1, 60), raw_graph_dicts(1, 16).map(lambda d: graph_from_dict(_plain_names(d))))


def ancestors(g: OpGraph) -> list[int]:
    """Bitset per operator of every operator that reaches it."""
    anc = [0] * len(g)
    for i, op in enumerate(g.ops):
        for d in op.deps:
            anc[i] |= (1 << d) | anc[d]
    return anc


# -- JSON --------------------------------------------------------------------------------------


@given(any_graphs)
def test_json_round_trip(g):
    text = g.to_json()
    back = graph_from_dict(json.loads(text))
    assert back == g
    assert back.to_json() == text


@given(small_graphs())
def test_file_round_trip(g):
    with tempfile.TemporaryDirectory() as tmp:
        path = save_graph(g, Path(tmp) / "g.json")
        back = load_graph(path)
        assert back == g and back.source == str(path)
        assert [p.name for p in Path(tmp).iterdir()] == ["g.json"]  # no temp file left behind


@given(raw_graph_dicts(1, 12, shuffled=True))
def test_loader_sorts_shuffled_documents(doc):
    g = graph_from_dict(doc)
    assert all(d < i for i, op in enumerate(g.ops) for d in op.deps)
    by_name = {op["name"]: {doc["ops"][d]["name"] for d in op["deps"]} for op in doc["ops"]}
    assert {op.name: {g.ops[d].name for d in op.deps} for op in g.ops} == by_name


@given(corrupt_graph_dicts())
def test_corrupted_documents_raise_clear_graph_errors(case):
    doc, how, fragment = case
    with pytest.raises(GraphError, match=fragment):
        graph_from_dict(doc, source="fuzz.json")


@given(st.data())
def test_ops_strategy_builds_valid_graphs(data):
    n = data.draw(st.integers(1, 8))
    drawn = [data.draw(ops(i)) for i in range(n)]
    named = [type(o)(**{**o.__dict__, "name": f"{o.name}#{i}"}) for i, o in enumerate(drawn)]
    g = OpGraph(name="fuzz", ops=tuple(named))
    assert len(g) == n


# -- struct-of-arrays view ---------------------------------------------------------------------


@given(any_graphs)
def test_arrays_match_ops(g):
    a, n = g.arrays, len(g)
    for name in ("kind", "macs", "flops", "bytes_in", "bytes_out", "bytes_w", "act_sparsity", "w_sparsity",
                 "out_elems", "intensity", "splittable"):
        assert getattr(a, name).shape == (n,), name
    assert list(a.kind) == [KIND_CODES[op.kind] for op in g.ops]
    for name in ("macs", "flops", "bytes_in", "bytes_out", "bytes_w", "act_sparsity", "w_sparsity"):
        assert list(getattr(a, name)) == [getattr(op, name) for op in g.ops], name
    assert list(a.out_elems) == [op.out_elems for op in g.ops]
    assert list(a.splittable) == [op.split_axis is not None for op in g.ops]
    assert a.dep_ptr.shape == (n + 1,) and a.cons_ptr.shape == (n + 1,)
    assert a.dep_ptr[0] == 0 and a.dep_ptr[-1] == len(a.dep_idx) and np.all(np.diff(a.dep_ptr) >= 0)
    assert a.cons_ptr[0] == 0 and a.cons_ptr[-1] == len(a.cons_idx) and np.all(np.diff(a.cons_ptr) >= 0)
    for i, op in enumerate(g.ops):
        assert tuple(a.deps_of(i)) == op.deps
        assert list(a.consumers_of(i)) == [j for j, o in enumerate(g.ops) if i in o.deps]


@given(any_graphs)
def test_intensity_is_flops_per_byte_moved(g):
    for i, op in enumerate(g.ops):
        moved = op.bytes_in + op.bytes_w + op.bytes_out
        expected = op.flops / moved if moved > 0 else 0.0
        assert op.intensity == expected
        assert g.arrays.intensity[i] == expected
    assert g.total_macs == pytest.approx(sum(op.macs for op in g.ops), rel=1e-12)


# -- fusion ------------------------------------------------------------------------------------


def _groups(g: OpGraph, fused: OpGraph) -> list[int]:
    """For each operator of ``g``, the index of the fused operator that holds it."""
    where = {name: j for j, op in enumerate(fused.ops) for name in op.name.split("+")}
    assert sorted(where) == sorted(op.name for op in g.ops)
    return [where[op.name] for op in g.ops]


@given(any_graphs)
def test_fuse_preserves_work_and_validity(g):
    f = fuse(g)  # constructing it validated it (acyclic, topological, finite, in range)
    assert len(f) <= len(g)
    assert all(d < i for i, op in enumerate(f.ops) for d in op.deps)
    assert f.total_macs == pytest.approx(g.total_macs, rel=1e-12)
    assert f.total_flops == pytest.approx(g.total_flops, rel=1e-12)
    assert f.arrays.bytes_w.sum() == pytest.approx(g.arrays.bytes_w.sum(), rel=1e-12)
    head = {op.name: op for op in g.ops}
    for op in f.ops:  # a fused operator's weight sparsity is its head's (a norm's scales are no weights)
        assert op.w_sparsity == head[op.name.split("+")[0]].w_sparsity
    assert f.n_params == g.n_params
    assert f.meta["fused"] is True


@given(any_graphs)
def test_fuse_preserves_reachability(g):
    f = fuse(g)
    group = _groups(g, f)
    before, after = ancestors(g), ancestors(f)
    for b in range(len(g)):
        for a in range(len(g)):
            if before[b] >> a & 1 and group[a] != group[b]:
                assert after[group[b]] >> group[a] & 1, (g.ops[a].name, g.ops[b].name)
    # and no dependency is invented: a fused path comes from some path between members
    members: list[int] = [0] * len(f)
    for i, gi in enumerate(group):
        members[gi] |= 1 << i
    for y in range(len(f)):
        for x in range(len(f)):
            if after[y] >> x & 1:
                assert any(before[j] & members[x] for j in range(len(g)) if members[y] >> j & 1)


@given(chain_graphs(1, 30))
def test_fused_chains_stay_chains(g):
    f = fuse(g)
    assert all(op.deps == ((i - 1,) if i else ()) for i, op in enumerate(f.ops))
    assert len(f) == sum(1 for op in g.ops if op.kind.value == "conv")
    assert fuse(f).to_json() == f.to_json()  # nothing left to fuse


# -- loader robustness -------------------------------------------------------------------------

_HUGE_INTS = st.integers(10**308, 10**400).flatmap(lambda n: st.sampled_from([n, -n]))  # beyond float range
_JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), _HUGE_INTS, st.floats(), st.text(max_size=5)
)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
#: Values that once broke the loader (huge integers, non-string dtypes), drawn often on purpose.
_EDGE_VALUES = st.sampled_from([10**400, -(10**400), float("nan"), float("inf"), [], {}, [[0]], True])
_OP_FIELDS = ("name", "kind", "macs", "flops", "bytes_in", "bytes_out", "bytes_w", "act_sparsity", "w_sparsity",
              "deps", "out_shape", "dtype", "split_axis", "kernels", "act_sparsity_std")


@pytest.mark.parametrize("field", _OP_FIELDS)
@given(doc=raw_graph_dicts(1, 3), data=st.data())
def test_loader_raises_only_graph_errors(field, doc, data):
    """Any JSON value (NaN, integers beyond float range, lists and objects included) in any
    operator field: a valid graph or a GraphError, never another exception."""
    i = data.draw(st.integers(0, len(doc["ops"]) - 1))
    value = data.draw(st.one_of(_EDGE_VALUES, _JSON_VALUES))
    doc["ops"][i][field] = value
    try:
        graph_from_dict(doc)
    except GraphError:
        pass


@pytest.mark.parametrize(
    "field, value",
    [
        ("macs", -1),
        ("deps", [[0]]),
        ("out_shape", [1.5]),
        ("split_axis", []),
        ("dtype", []),
        ("dtype", {}),
        ("macs", 10**400),
    ],
    ids=["negative", "nested-deps", "float-dim", "list-axis", "list-dtype", "dict-dtype", "huge-int"],
)
def test_loader_bad_values(field, value):
    doc = {"schema_version": 1, "name": "bad", "ops": [{"name": "a", "kind": "conv"}]}
    doc["ops"][0][field] = value
    with pytest.raises(GraphError, match=field):
        graph_from_dict(doc)


def test_numpy_scalars_serialise():
    g = OpGraph(name="np", ops=tuple(generate(0, target_ops=2).ops))
    g = g.with_ops([g.ops[0], replace(g.ops[1], deps=(np.int64(0),), macs=np.float32(1.0))])
    assert graph_from_dict(json.loads(g.to_json())).ops[1].deps == (0,)


@given(any_graphs)
def test_equal_graphs_built_apart_hash_alike(g):
    """Hash follows equality across routes that share no object: a JSON round trip, a copy built
    op by op, and a file (another ``source``, which equality leaves out)."""
    rebuilt = OpGraph(name=str(g.name), ops=tuple(replace(op) for op in g.ops), input_shape=g.input_shape,
                      sparsity_source=g.sparsity_source, params=g.params, meta=dict(g.meta),
                      sparsity_provenance=g.sparsity_provenance)
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_graph(save_graph(g, Path(tmp) / "g.json"))
    copies = [graph_from_dict(json.loads(g.to_json())), rebuilt, loaded]
    assert loaded.source != g.source
    for other in copies:
        assert other is not g and other == g
        assert hash(other) == hash(g)
    assert len({g, *copies}) == 1 and {g: "x"}[loaded] == "x"


def test_graphs_that_differ_are_told_apart_as_keys():
    a = generate(0, target_ops=5)
    b = a.with_ops([replace(a.ops[0], macs=a.ops[0].macs + 1.0), *a.ops[1:]])
    c = generate(1, target_ops=5)
    table = {a: "a", b: "b", c: "c"}
    assert len(table) == 3 and hash(a) != hash(b)
    assert table[graph_from_dict(json.loads(b.to_json()))] == "b"
