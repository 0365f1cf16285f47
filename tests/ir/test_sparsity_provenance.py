"""IR schema 3: the per-operator spread of activation sparsity and the graph's sparsity provenance record;
older files load with the documented defaults, and graphs without either keep the schema-2 layout byte for byte."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.errors import GraphError
from sparoa_sim.hwmodels.kinds import OpKind
from sparoa_sim.ir.graph import (
    MAX_SPARSITY_STD, SCHEMA_VERSION, SPARSITY_SCHEMA_VERSION, Op, OpGraph, fuse, graph_from_dict, load_graph,
    save_graph,
)
from sparoa_sim.ir.sparsity import SPARSITY_KINDS, SourceFile, SparsityProvenance, default_provenance
from sparoa_sim.workloads import WORKLOAD_DIR

SHA = "ab" * 32


def _chain(stds=(0.0, 0.0, 0.0), **graph_kw) -> OpGraph:
    ops = (Op("conv", OpKind.CONV, flops=10.0, act_sparsity=0.1, act_sparsity_std=stds[0]),
           Op("bn", OpKind.NORM, flops=2.0, deps=(0,), act_sparsity_std=stds[1]),
           Op("relu", OpKind.ACT, flops=1.0, deps=(1,), act_sparsity=0.2, act_sparsity_std=stds[2]))
    return OpGraph(name="chain", ops=ops, **graph_kw)


def test_a_shipped_schema_2_graph_loads_as_init_and_re_saves_byte_for_byte(tmp_path):
    path = WORKLOAD_DIR / "resnet18.json"
    g = load_graph(path)
    assert json.loads(path.read_text())["schema_version"] == 2
    assert g.sparsity_provenance == SparsityProvenance(kind="init")
    assert not g.records_sparsity and g.arrays.act_sparsity_std.tolist() == [0.0] * len(g)
    assert save_graph(g, tmp_path / "r.json").read_text() == path.read_text()


def test_a_schema_1_file_loads_with_the_defaults(tmp_path):
    doc = {"schema_version": 1, "name": "old", "sparsity_source": "hand-made",
           "ops": [{"name": "a", "kind": "conv", "act_sparsity": 0.3}]}
    g = graph_from_dict(doc)
    assert g.sparsity_provenance == SparsityProvenance(kind="unknown") and g.ops[0].act_sparsity_std == 0.0


@pytest.mark.parametrize("text, kind", [
    ("random initialisation (seed 0); activation zeros measured on 4 N(0,1) inputs; dense weights", "init"),
    ("synthetic (seed 3)", "synthetic"), ("hand-written", "unknown"), ("", "unknown"),
])
def test_the_default_record_follows_the_source_text(text, kind):
    assert default_provenance(text).kind == kind
    assert _chain(sparsity_source=text).sparsity_provenance.kind == kind


def test_a_graph_with_a_spread_or_a_record_is_written_at_schema_3_and_round_trips(tmp_path):
    plain = _chain()
    assert plain.to_dict()["schema_version"] == SCHEMA_VERSION == 2
    assert "sparsity_provenance" not in plain.to_dict() and "act_sparsity_std" not in plain.to_dict()["ops"][0]
    spread = _chain(stds=(0.05, 0.0, 0.125))
    doc = spread.to_dict()
    assert doc["schema_version"] == SPARSITY_SCHEMA_VERSION == 3 and doc["ops"][0]["act_sparsity_std"] == 0.05
    prov = SparsityProvenance(kind="measured", files=(SourceFile("weights", "w.pt", SHA),), samples=8)
    recorded = _chain(sparsity_provenance=prov, sparsity_source="measured")
    assert recorded.to_dict()["sparsity_provenance"] == {
        "kind": "measured", "files": [{"role": "weights", "name": "w.pt", "sha256": SHA}], "samples": 8,
        "reference": ""}
    for g in (spread, recorded):
        back = load_graph(save_graph(g, tmp_path / "g.json"))
        assert back == g and back.to_json() == g.to_json()
    assert spread.arrays.act_sparsity_std.tolist() == [0.05, 0.0, 0.125]


def test_fusion_keeps_the_heads_spread():
    fused = fuse(_chain(stds=(0.05, 0.01, 0.125)))
    assert len(fused) == 1 and fused.ops[0].act_sparsity_std == 0.05


@pytest.mark.parametrize("bad", [-0.1, 0.6, True, "0.1", float("nan")])
def test_a_bad_spread_is_refused_naming_the_field(bad):
    with pytest.raises(GraphError, match="act_sparsity_std"):
        OpGraph(name="g", ops=(Op("a", OpKind.CONV, act_sparsity_std=bad),))


def _doc3(**prov) -> dict:
    base = {"kind": "measured", "files": [{"role": "weights", "name": "w.pt", "sha256": SHA}], "samples": 3,
            "reference": ""}
    return {"schema_version": 3, "name": "g", "sparsity_provenance": {**base, **prov},
            "ops": [{"name": "a", "kind": "conv", "act_sparsity_std": 0.1}]}


@pytest.mark.parametrize("change, needles", [
    (dict(kind="trained"), ["sparsity_provenance.kind", "'trained'"]),
    (dict(samples=-1), ["sparsity_provenance.samples", "-1"]),
    (dict(samples=True), ["sparsity_provenance.samples", "True"]),
    (dict(reference=3), ["sparsity_provenance.reference", "3"]),
    (dict(files=[{"role": "weights", "name": "w.pt", "sha256": "xyz"}]), ["sha256", "'xyz'"]),
    (dict(files=[{"role": "model", "name": "w.pt", "sha256": SHA}]), ["role", "'model'"]),
    (dict(files=[{"role": "weights", "name": "", "sha256": SHA}]), ["name", "''"]),
    (dict(files=[{"role": "weights"}]), ["files", "role, name and sha256"]),
    (dict(files="w.pt"), ["sparsity_provenance.files", "'w.pt'"]),
    (dict(extra=1), ["unknown key", "'extra'"]),
])
def test_a_bad_provenance_record_is_refused_naming_file_and_field(change, needles):
    with pytest.raises(GraphError) as err:
        graph_from_dict(_doc3(**change), source="g.json")
    msg = str(err.value)
    assert msg.startswith("g.json:") and all(n in msg for n in needles), msg


def test_a_schema_3_file_needs_its_record():
    doc = _doc3()
    del doc["sparsity_provenance"]
    with pytest.raises(GraphError, match="schema_version 3 needs the field 'sparsity_provenance'"):
        graph_from_dict(doc)
    assert graph_from_dict(_doc3()).ops[0].act_sparsity_std == 0.1


_files = st.lists(st.builds(SourceFile, st.sampled_from(("weights", "inputs", "data")),
                            st.text(min_size=1, max_size=8), st.text("0123456789abcdef", min_size=64, max_size=64)),
                  max_size=3).map(tuple)
_records = st.builds(SparsityProvenance, st.sampled_from(SPARSITY_KINDS), _files, st.integers(0, 10**6),
                     st.text(max_size=30))


@given(_records, st.lists(st.floats(0.0, MAX_SPARSITY_STD), min_size=3, max_size=3))
def test_any_record_and_spread_round_trip_through_json(record, stds):
    g = dataclasses.replace(_chain(stds=tuple(stds)), sparsity_provenance=record)
    back = graph_from_dict(json.loads(g.to_json()))
    assert back == g and back.sparsity_provenance == record
    assert back.to_dict()["schema_version"] == (3 if g.records_sparsity else 2)


def test_per_request_draws_keep_the_recorded_mean_and_spread():
    import numpy as np

    from sparoa_sim.ir.sparsity import draw_act_sparsity

    mean, std = np.array([0.4, 0.9, 0.0, 0.3]), np.array([0.05, 0.02, 0.1, 0.0])
    draws = draw_act_sparsity(mean, std, np.random.default_rng(0), 20_000)
    assert draws.shape == (20_000, 4) and (draws >= 0).all() and (draws <= 1).all()
    assert np.allclose(draws.mean(axis=0)[:2], mean[:2], atol=2e-3)
    assert np.allclose(draws.std(axis=0)[:2], std[:2], rtol=0.05)
    assert (draws[:, 2] == 0.0).all() and (draws[:, 3] == 0.3).all()  # no room to spread / no spread: exact
    again = draw_act_sparsity(mean, std, np.random.default_rng(0), 20_000)
    assert np.array_equal(draws, again)
    with pytest.raises(GraphError, match="std"):
        draw_act_sparsity(mean, -std - 0.1, np.random.default_rng(0), 1)


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, MAX_SPARSITY_STD)), min_size=1, max_size=6),
       st.integers(0, 2**32 - 1))
def test_draws_are_fractions_for_any_recorded_figures(figures, seed):
    import numpy as np

    from sparoa_sim.ir.sparsity import draw_act_sparsity

    mean, std = (np.array(c) for c in zip(*figures))
    draws = draw_act_sparsity(mean, std, np.random.default_rng(seed), 50)
    assert draws.shape == (50, len(figures)) and ((draws >= 0) & (draws <= 1)).all()
    still = (std <= 1e-6) | (mean * (1 - mean) <= 1e-12)
    assert (draws[:, still] == mean[still]).all()
