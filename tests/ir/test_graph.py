"""Graph IR: construction, validation, JSON loading errors, derived values, fusion."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sparoa_sim import GraphError, Op, OpGraph, fuse, load_graph, save_graph
from sparoa_sim.ir.graph import SCHEMA_VERSION, graph_from_dict
from sparoa_sim.hwmodels.kinds import OpKind


def conv_bn_relu_graph() -> OpGraph:
    """conv -> bn -> relu -> (conv2, skip) -> add -> linear: a fusible residual toy."""
    ops = [
        Op("conv", OpKind.CONV, macs=100, flops=200, bytes_in=40, bytes_out=80, bytes_w=36, w_sparsity=0.5,
           out_shape=(1, 2, 2, 5), split_axis="channel"),
        Op("bn", OpKind.NORM, flops=80, bytes_in=80, bytes_out=80, bytes_w=16, deps=(0,), out_shape=(1, 2, 2, 5)),
        Op("relu", OpKind.ACT, flops=20, bytes_in=80, bytes_out=80, deps=(1,), out_shape=(1, 2, 2, 5),
           split_axis="channel"),
        Op("conv2", OpKind.CONV, macs=50, flops=100, bytes_in=80, bytes_out=80, bytes_w=20, act_sparsity=0.5,
           deps=(2,), out_shape=(1, 2, 2, 5)),
        Op("add", OpKind.ADD, flops=20, bytes_in=160, bytes_out=80, deps=(2, 3), out_shape=(1, 2, 2, 5)),
        Op("fc", OpKind.LINEAR, macs=40, flops=80, bytes_in=80, bytes_out=8, bytes_w=168, deps=(4,),
           out_shape=(1, 2)),
    ]
    return OpGraph(name="toy", ops=tuple(ops), input_shape=(1, 2, 2, 5), sparsity_source="hand-written")


def doc_of(graph: OpGraph) -> dict:
    return json.loads(graph.to_json())


def write(tmp_path, doc, name="g.json") -> str:
    p = tmp_path / name
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return str(p)


def test_derived_values():
    g = conv_bn_relu_graph()
    conv = g.ops[0]
    assert conv.intensity == pytest.approx(200 / (40 + 36 + 80))
    assert conv.out_elems == 20
    assert g.total_macs == 190
    assert g.arrays.intensity[0] == pytest.approx(conv.intensity)
    assert list(g.arrays.deps_of(4)) == [2, 3]
    assert list(g.arrays.consumers_of(2)) == [3, 4]
    assert g.n_params == round((36 + 16 + 20 + 168) / 4)
    np.testing.assert_array_equal(g.sparsity("max"), np.maximum(g.arrays.act_sparsity, g.arrays.w_sparsity))


def test_arrays_are_read_only():
    g = conv_bn_relu_graph()
    with pytest.raises(ValueError):
        g.arrays.flops[0] = 1.0


def test_json_round_trip_exact(tmp_path):
    g = conv_bn_relu_graph()
    path = save_graph(g, tmp_path / "toy.json")
    assert load_graph(path) == g
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    assert not list(tmp_path.glob(".*.tmp")), "temp file left behind"


def test_loader_sorts_acyclic_out_of_order_ops():
    doc = doc_of(conv_bn_relu_graph())
    doc["ops"] = doc["ops"][::-1]
    n = len(doc["ops"])
    for op in doc["ops"]:
        op["deps"] = [n - 1 - d for d in op["deps"]]
    g = graph_from_dict(doc)
    assert [o.name for o in g.ops] == ["conv", "bn", "relu", "conv2", "add", "fc"]
    assert g == conv_bn_relu_graph()


# -- bad input: every case raises GraphError naming the file, op and value ---------------------

BAD_CASES = {
    "wrong schema": (lambda d: d.update(schema_version=99), ["schema_version", "99"]),
    "missing schema": (lambda d: d.pop("schema_version"), ["schema_version", "None"]),
    "cycle": (lambda d: d["ops"][0].update(deps=[5]), ["cycle", "conv", "fc"]),
    "index out of range": (lambda d: d["ops"][3].update(deps=[17]), ["conv2", "17", "out of range"]),
    "negative index": (lambda d: d["ops"][3].update(deps=[-1]), ["conv2", "-1"]),
    "negative count": (lambda d: d["ops"][1].update(flops=-3.0), ["'bn'", "flops", "-3.0"]),
    "sparsity above 1": (lambda d: d["ops"][2].update(act_sparsity=1.5), ["'relu'", "act_sparsity", "1.5"]),
    "sparsity below 0": (lambda d: d["ops"][2].update(w_sparsity=-0.1), ["'relu'", "w_sparsity", "-0.1"]),
    "unknown kind": (lambda d: d["ops"][0].update(kind="convolution"), ["'conv'", "kind", "convolution"]),
    "string count": (lambda d: d["ops"][0].update(macs="many"), ["'conv'", "macs", "many"]),
    "null count": (lambda d: d["ops"][0].update(macs=None), ["'conv'", "macs", "null"]),
    "unknown field": (lambda d: d["ops"][0].update(colour="red"), ["'conv'", "colour"]),
    "missing name": (lambda d: d["ops"][0].pop("name"), ["op 0", "name"]),
    "duplicate name": (lambda d: d["ops"][1].update(name="conv"), ["duplicate", "conv"]),
    "self dependency": (lambda d: d["ops"][1].update(deps=[1]), ["'bn'", "itself"]),
    "bad split axis": (lambda d: d["ops"][0].update(split_axis="diagonal"), ["split_axis", "diagonal"]),
    "bad dtype": (lambda d: d["ops"][0].update(dtype="float7"), ["dtype", "float7"]),
    "no ops": (lambda d: d.update(ops=[]), ["no operators"]),
    "ops not a list": (lambda d: d.update(ops={}), ["ops", "list"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_graph_file_raises_naming_file_and_value(tmp_path, case):
    mutate, needles = BAD_CASES[case]
    doc = doc_of(conv_bn_relu_graph())
    mutate(doc)
    path = write(tmp_path, doc, name=f"bad-{case.replace(' ', '-')}.json")
    with pytest.raises(GraphError) as info:
        load_graph(path)
    msg = str(info.value)
    assert path in msg
    for needle in needles:
        assert needle in msg, f"{needle!r} missing from {msg!r}"


def test_nan_in_file_is_rejected(tmp_path):
    text = conv_bn_relu_graph().to_json()
    assert '"flops": 80,' in text
    text = text.replace('"flops": 80,', '"flops": NaN,', 1)
    path = write(tmp_path, text)
    with pytest.raises(GraphError, match=r"op \d+ \('\w+'\): field 'flops' is not finite: nan") as info:
        load_graph(path)  # the file, the op and the field named
    assert path in str(info.value)


def test_nan_in_memory_is_rejected():
    with pytest.raises(GraphError, match=r"'x'.*flops.*not finite: nan"):
        OpGraph(name="g", ops=(Op("x", OpKind.ACT, flops=math.nan),))


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(GraphError, match="no such graph file"):
        load_graph(tmp_path / "absent.json")
    path = write(tmp_path, '{"schema_version": 1, "ops": [')
    with pytest.raises(GraphError, match=r"malformed JSON at line 1"):
        load_graph(path)
    path = write(tmp_path, "[1, 2]", name="list.json")
    with pytest.raises(GraphError, match="top level must be a JSON object"):
        load_graph(path)


def test_graph_error_is_a_sparoa_error():
    from sparoa_sim import SparOAError

    assert issubclass(GraphError, SparOAError)


# -- fusion --------------------------------------------------------------------------------------


def test_fusion_merges_conv_bn_relu_and_keeps_dependencies():
    g = conv_bn_relu_graph()
    f = fuse(g)
    assert [o.name for o in f.ops] == ["conv+bn+relu", "conv2", "add", "fc"]
    head = f.ops[0]
    assert head.kind is OpKind.CONV
    assert head.macs == 100 and head.flops == 300
    assert head.bytes_in == 40 and head.bytes_out == 80 and head.bytes_w == 52
    assert head.w_sparsity == pytest.approx(0.5)  # the head's weights: a norm's scales do not dilute it
    assert [o.deps for o in f.ops] == [(), (0,), (0, 1), (2,)]
    assert f.total_macs == g.total_macs and f.total_flops == g.total_flops
    assert f.meta["fused"] is True and f.name == "toy_fused"
    assert fuse(f).ops == f.ops  # idempotent


def test_fusion_stops_at_a_shared_intermediate():
    g = conv_bn_relu_graph()
    ops = list(g.ops)
    # the bn output also feeds the add, so relu is not bn's sole consumer: only conv+bn fuse
    ops[4] = Op("add", OpKind.ADD, flops=20, bytes_in=160, bytes_out=80, deps=(1, 3), out_shape=(1, 2, 2, 5))
    f = fuse(g.with_ops(ops))
    assert [o.name for o in f.ops] == ["conv+bn", "relu", "conv2", "add", "fc"]
    assert [o.deps for o in f.ops] == [(), (0,), (1,), (0, 2), (3,)]


def test_out_elems_counts_a_window_partitioned_shape_whole():
    """Swin's window ops fold the batch into the first dimension: (64, 49, 288) at batch 1 is
    903,168 elements per sample, not 14,112 (bytes_out says so)."""
    op = Op(name="qkv", kind=OpKind.LINEAR, bytes_out=64 * 49 * 288 * 4.0, out_shape=(64, 49, 288))
    assert op.out_elems == 64 * 49 * 288
    assert Op(name="c", kind=OpKind.CONV, bytes_out=4.0 * 64 * 56 * 56, out_shape=(1, 64, 56, 56)).out_elems == 64 * 56 * 56
    assert Op(name="s", kind=OpKind.OTHER, out_shape=(1, 10)).out_elems == 10  # no bytes: the shape rule


def test_channel_split_parts_read_their_share_of_a_per_channel_input():
    from sparoa_sim.sim.predtables import _scaled

    ops = OpGraph(name="t", ops=(
        Op(name="dw", kind=OpKind.DWCONV, flops=1e6, macs=5e5, bytes_in=4e5, bytes_out=4e5, bytes_w=1e3,
           out_shape=(1, 32, 56, 56), split_axis="channel"),
        Op(name="conv", kind=OpKind.CONV, flops=1e7, macs=5e6, bytes_in=4e5, bytes_out=4e5, bytes_w=1e4, deps=(0,),
           out_shape=(1, 32, 56, 56), split_axis="channel"))).hw_ops
    assert _scaled(ops, 0, 0.25, "channel").bytes_in[0] == pytest.approx(1e5)  # depthwise: its channels only
    assert _scaled(ops, 1, 0.25, "channel").bytes_in[0] == pytest.approx(4e5)  # conv: every input channel


def test_a_version_1_file_loads_with_one_kernel_per_operator(tmp_path):
    """Schema 2 added ``kernels``; a graph written before it loads, each operator one kernel."""
    doc = {"schema_version": 1, "name": "old", "ops": [
        {"name": "a", "kind": "conv", "flops": 10.0}, {"name": "b", "kind": "act", "deps": [0]}]}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    g = load_graph(path)
    assert [op.kernels for op in g.ops] == [1, 1]
    assert g.hw_ops.kernels.tolist() == [1.0, 1.0]


def test_kernels_round_trip_and_reach_the_twin(tmp_path):
    ops = (Op("a", OpKind.CONV, flops=10.0, kernels=3), Op("v", OpKind.RESHAPE, deps=(0,), kernels=0))
    g = OpGraph(name="k", ops=ops)
    back = load_graph(save_graph(g, tmp_path / "k.json"))
    assert [op.kernels for op in back.ops] == [3, 0]
    assert json.loads((tmp_path / "k.json").read_text())["schema_version"] == 2
    assert back.hw_ops.kernels.tolist() == [3.0, 0.0]
    chain = OpGraph(name="c", ops=(Op("c", OpKind.CONV, flops=10.0, kernels=2), Op("n", OpKind.NORM, deps=(0,), kernels=1),
                                   Op("r", OpKind.ACT, deps=(1,), kernels=1)))
    assert [op.kernels for op in fuse(chain).ops] == [1]  # a fused chain is one kernel


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2", None, 10**6])
def test_a_bad_kernel_count_is_refused_naming_the_field(bad):
    doc = {"schema_version": 2, "name": "bad", "ops": [{"name": "a", "kind": "conv", "kernels": bad}]}
    with pytest.raises(GraphError, match="kernels"):
        graph_from_dict(doc, "bad.json")
