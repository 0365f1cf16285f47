"""The pattern reuse ρ recorded per operator (``Op.act_reuse``, IR schema 4): round trip, old files load with ρ 0
and bit-identical predictions, the twin reads the graph's ρ, bad values refused with one line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.errors import GraphError
from sparoa_sim.hwmodels import OpArrays, load_platform, predict
from sparoa_sim.hwmodels.act_sparse import CACHE_TERM
from sparoa_sim.hwmodels.kinds import OpKind
from sparoa_sim.ir.graph import (
    REUSE_SCHEMA_VERSION, SCHEMA_VERSION, SPARSITY_SCHEMA_VERSION, Op, OpGraph, chain_graph, fuse, graph_from_dict,
    load_graph, save_graph,
)
from sparoa_sim.ir.sparsity import SparsityProvenance, with_act_sparsity
from sparoa_sim.workloads import load_workload

WORKLOADS = Path(__file__).resolve().parents[2] / "sparoa_sim" / "workloads"
AGX = load_platform("jetson-agx-orin-64gb")
needs_cache_term = pytest.mark.skipif(not CACHE_TERM, reason="LatencyParams lacks act_cache / act_miss")


def cache_platform():
    """AGX with the activation-sparse kernel offered for linear and a cache term (C 8 MB, µ 2e-10 s/B)."""
    lat = dataclasses.replace(AGX.cpu.latency, act_kinds=("linear",), act_eta=0.05, act_gather=20.0, act_launch=3e-5,
                              g_a=1.0, act_cache=8e6, act_miss=2e-10)
    return AGX.with_latency("cpu", lat, origin="assumed", note="test")


def linear_chain(reuse=(0.0, 0.0, 0.0), act=0.9, size=4096, std=0.0, measured=False) -> OpGraph:
    """Three 4096×4096 linear operators (64 MiB of weights each) with input sparsity ``act``."""
    ops = [Op(f"fc{i}", OpKind.LINEAR, macs=size * size, flops=2.0 * size * size, bytes_in=4.0 * size,
              bytes_out=4.0 * size, bytes_w=4.0 * size * size, act_sparsity=act, act_sparsity_std=std, act_reuse=r,
              out_shape=(1, size)) for i, r in enumerate(reuse)]
    g = chain_graph("fc3", ops)
    return dataclasses.replace(g, sparsity_provenance=SparsityProvenance(kind="measured", samples=4)) if measured else g


def test_round_trip_keeps_each_value_and_writes_schema_4(tmp_path):
    g = linear_chain((0.25, 0.0, 1.0), measured=True)
    back = load_graph(save_graph(g, tmp_path / "g.json"))
    assert back == g and [op.act_reuse for op in back.ops] == [0.25, 0.0, 1.0]
    doc = json.loads((tmp_path / "g.json").read_text())
    assert doc["schema_version"] == REUSE_SCHEMA_VERSION == 4
    assert ["act_reuse" in op for op in doc["ops"]] == [True, False, True]  # written only where non-zero
    assert doc["sparsity_provenance"]["kind"] == "measured"
    assert np.array_equal(back.hw_ops.act_reuse, [0.25, 0.0, 1.0])
    assert np.array_equal(back.arrays.act_reuse, [0.25, 0.0, 1.0])


@given(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=6))
def test_any_reuse_in_the_unit_interval_round_trips_exactly(values):
    g = linear_chain(tuple(values), size=8)
    back = graph_from_dict(json.loads(g.to_json()))
    assert [op.act_reuse for op in back.ops] == values
    assert back.schema_version == (REUSE_SCHEMA_VERSION if any(values) else SCHEMA_VERSION)


@pytest.mark.parametrize("name", ["resnet18", "vit_b_16", "vgg16"])
def test_shipped_graphs_load_with_reuse_0_and_save_byte_for_byte(name):
    path = WORKLOADS / f"{name}.json"
    g = load_graph(path)
    assert all(op.act_reuse == 0.0 for op in g.ops) and g.hw_ops.act_reuse is None
    assert g.schema_version == SCHEMA_VERSION
    assert g.to_json(indent=1) + "\n" == path.read_text()


def test_a_schema_3_file_loads_with_reuse_0_and_keeps_its_layout(tmp_path):
    g = linear_chain(std=0.02, measured=True)  # a spread and a record: schema 3, no ρ
    text = g.to_json(indent=1)
    assert json.loads(text)["schema_version"] == SPARSITY_SCHEMA_VERSION and "act_reuse" not in text
    (tmp_path / "old.json").write_text(text + "\n")
    back = load_graph(tmp_path / "old.json")
    assert [op.act_reuse for op in back.ops] == [0.0] * 3 and back.hw_ops.act_reuse is None
    assert back.to_json(indent=1) == text


@needs_cache_term
def test_predictions_of_a_graph_without_reuse_are_bit_identical_to_reuse_0():
    plat = cache_platform()
    g = linear_chain()
    plain = OpArrays(**{f.name: getattr(g.hw_ops, f.name) for f in dataclasses.fields(OpArrays) if f.name != "act_reuse"})
    for kernel in ("auto", "act_sparse"):
        a = predict(plat, g.hw_ops, kernel=kernel)
        b = predict(plat, plain, kernel=kernel, act_reuse=0.0)
        assert np.array_equal(a.latency, b.latency) and np.array_equal(a.t_compute, b.t_compute)


@needs_cache_term
def test_the_twin_reads_each_operators_reuse_from_the_graph():
    plat = cache_platform()
    reuse = (0.0, 0.5, 1.0)
    g = linear_chain(reuse)
    told = predict(plat, linear_chain().hw_ops, kernel="act_sparse", act_reuse=np.array(reuse))
    own = predict(plat, g.hw_ops, kernel="act_sparse")
    assert np.array_equal(own.latency, told.latency)
    t = own.t_compute[:, 0]
    assert t[0] > t[1] > t[2]  # rows every input keeps (6.7 MB at 90 % zeros) fit the 8 MB cache: fewer stalls
    explicit = predict(plat, g.hw_ops, kernel="act_sparse", act_reuse=0.0)  # an explicit argument wins
    assert np.array_equal(explicit.latency[:, 0], np.full(3, explicit.latency[0, 0]))


def test_op_arrays_carry_reuse_through_take_and_refuse_bad_values():
    g = linear_chain((0.1, 0.2, 0.3))
    assert np.array_equal(g.hw_ops.take([2, 0]).act_reuse, [0.3, 0.1])
    assert linear_chain().hw_ops.take([1]).act_reuse is None
    base = {f.name: getattr(g.hw_ops, f.name) for f in dataclasses.fields(OpArrays)}
    for bad, needle in (([0.1, 0.2], "shape (3,)"), ([0.1, np.nan, 0.2], "index 1 is nan"),
                        ([0.0, 0.0, 1.5], "index 2 is 1.5"), ([-0.1, 0.0, 0.0], "index 0 is -0.1")):
        with pytest.raises(ValueError, match="act_reuse") as err:
            OpArrays(**{**base, "act_reuse": np.array(bad)})
        assert needle in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="read-only"):
        g.hw_ops.act_reuse[0] = 0.5  # read-only, like every other array


def _doc_with(value, version=REUSE_SCHEMA_VERSION):
    doc = json.loads(linear_chain((0.5, 0.0, 0.0), measured=True).to_json())
    doc["schema_version"] = version
    doc["ops"][1]["act_reuse"] = value
    return doc


@pytest.mark.parametrize("value", [1.5, -0.25, "0.5", True, [0.5]])
def test_bad_values_in_a_file_are_refused_with_one_line_naming_file_op_and_field(value):
    with pytest.raises(GraphError) as err:
        graph_from_dict(_doc_with(value), source="g.json")
    msg = str(err.value)
    assert msg.startswith("g.json") and "fc1" in msg and "'act_reuse'" in msg and "\n" not in msg
    assert repr(value) in msg


def test_nan_and_null_in_a_file_are_refused(tmp_path):
    text = json.dumps(_doc_with(0.125)).replace("0.125", "NaN")
    (tmp_path / "nan.json").write_text(text)
    with pytest.raises(GraphError, match=r"nan\.json.*fc1.*'act_reuse'.*nan"):
        load_graph(tmp_path / "nan.json")
    with pytest.raises(GraphError, match=r"fc1.*'act_reuse' is null"):
        graph_from_dict(_doc_with(None), source="g.json")


@pytest.mark.parametrize("version", [1, 2, 3])
def test_reuse_in_a_file_of_an_older_schema_is_refused(version):
    with pytest.raises(GraphError, match=rf"g\.json: op 0 \('fc0'\): field 'act_reuse' needs schema_version 4, "
                                         rf"the file says {version}"):
        graph_from_dict(_doc_with(0.5, version), source="g.json")


def test_a_schema_4_file_needs_its_provenance_record():
    doc = _doc_with(0.5)
    del doc["sparsity_provenance"]
    with pytest.raises(GraphError, match="schema_version 4 needs the field 'sparsity_provenance'"):
        graph_from_dict(doc, source="g.json")


def test_bad_values_in_memory_are_refused():
    for bad in (1.01, -1e-9, float("nan"), float("inf")):
        with pytest.raises(GraphError, match=r"op 1 \('fc1'\): field 'act_reuse' must be a number in \[0, 1.0\]"):
            linear_chain((0.0, bad, 0.0))


def test_fusion_keeps_the_heads_reuse():
    ops = [Op("fc", OpKind.LINEAR, macs=64, flops=128, bytes_in=32, bytes_out=32, bytes_w=256, act_sparsity=0.8,
              act_reuse=0.7, out_shape=(1, 8)),
           Op("relu", OpKind.ACT, flops=8, bytes_in=32, bytes_out=32, act_reuse=0.2, out_shape=(1, 8)),
           Op("out", OpKind.LINEAR, macs=64, flops=128, bytes_in=32, bytes_out=32, bytes_w=256, out_shape=(1, 8))]
    fused = fuse(chain_graph("net", ops))
    assert [(op.name, op.act_reuse) for op in fused.ops] == [("fc+relu", 0.7), ("out", 0.0)]


def test_what_if_and_published_sparsity_set_reuse_0_unless_given():
    g = linear_chain((0.9, 0.9, 0.9), measured=True)
    assert [op.act_reuse for op in with_act_sparsity(g, 0.95, ops=[0]).ops] == [0.0, 0.9, 0.9]
    told = with_act_sparsity(g, 0.95, ops=[1], reuse=0.4)
    assert [op.act_reuse for op in told.ops] == [0.9, 0.4, 0.9] and "pattern reuse 0.4" in told.sparsity_source
    assert "pattern reuse" not in with_act_sparsity(g, 0.95, ops=[1]).sparsity_source
    for bad in (1.5, -0.1, True):
        with pytest.raises(GraphError, match=r"with_act_sparsity: field 'reuse' must be a number in \[0, 1\]"):
            with_act_sparsity(g, 0.95, reuse=bad)
    from sparoa_sim.workloads.published import with_published_sparsity

    base = load_workload("resnet18")
    conv = [i for i, op in enumerate(base.ops) if op.kind is OpKind.CONV]
    rich = with_act_sparsity(base, 0.5, ops=conv, reuse=0.6)
    pub = with_published_sparsity(rich, "resnet18")
    covered = [i for i in conv if pub.ops[i].act_sparsity != 0.5]
    assert covered and all(pub.ops[i].act_reuse == 0.0 for i in covered)
