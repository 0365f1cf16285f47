"""What-if activation sparsity on a shipped graph, and operators as the act-sparse sweep names shapes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.errors import GraphError
from sparoa_sim.ir.sparsity import act_sweep_shape, with_act_sparsity
from sparoa_sim.workloads import load_workload

VGG = load_workload("vgg16")
VIT = load_workload("vit_b_16")


@given(value=st.floats(0.0, 1.0), std=st.floats(0.0, 0.5))
def test_sets_exactly_the_chosen_kinds(value, std):
    g = with_act_sparsity(VIT, value, std=std)
    for old, new in zip(VIT.ops, g.ops):
        if old.kind.value in ("linear", "matmul"):
            assert (new.act_sparsity, new.act_sparsity_std) == (value, std)
        else:
            assert new == old
    assert g.sparsity_provenance.kind == "synthetic" and "what-if" in g.sparsity_source
    assert g.name == f"vit_b_16_act{int(round(value * 100)):02d}"


def test_by_index_and_label():
    g = with_act_sparsity(VGG, 0.97, ops=[34], label="x")
    assert g.name == "x" and g.ops[34].act_sparsity == 0.97
    assert [i for i, (a, b) in enumerate(zip(VGG.ops, g.ops)) if a != b] == [34]


@pytest.mark.parametrize("kw, field", [({"value": 1.5}, "value"), ({"value": True}, "value"),
                                       ({"value": 0.5, "std": -0.1}, "std"), ({"value": 0.5, "ops": [999]}, "ops"),
                                       ({"value": 0.5, "kinds": ["nope"]}, "kinds")])
def test_bad_input_names_the_field(kw, field):
    with pytest.raises(GraphError, match=f"field '{field}'"):
        with_act_sparsity(VGG, **kw)


def test_sweep_shapes_of_shipped_layers():
    assert [act_sweep_shape(VGG.ops[i]) for i in (32, 34, 36)] == [
        ("linear", 1, 1, 25088, 4096), ("linear", 1, 1, 4096, 4096), ("linear", 1, 1, 4096, 1000)]
    shapes = {act_sweep_shape(op) for op in VIT.ops}
    assert ("linear", 1, 197, 768, 3072) in shapes and ("linear", 1, 197, 3072, 768) in shapes
    assert act_sweep_shape(next(op for op in VGG.ops if op.kind.value == "conv")) is None
