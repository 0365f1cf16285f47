"""``load_workload(name, sparsity=...)``: the recorded figures by default, the published ones on request."""

from __future__ import annotations

import pytest

from sparoa_sim.errors import GraphError
from sparoa_sim.workloads import load_workload
from sparoa_sim.workloads.published import with_published_sparsity


def test_init_is_the_default_and_unchanged():
    assert load_workload("resnet18", sparsity="init") is load_workload("resnet18")


def test_published_equals_the_published_transform():
    g = load_workload("resnet18", sparsity="published")
    assert g == with_published_sparsity(load_workload("resnet18"))
    assert g.name == "resnet18_published" and g.sparsity_provenance.kind == "published"
    assert g.ops[0].act_sparsity == load_workload("resnet18").ops[0].act_sparsity  # the stem reads the image
    assert {op.act_sparsity for op in g.ops if op.kind.value == "conv"} - {g.ops[0].act_sparsity} == {0.44}


def test_published_on_a_pruned_variant_uses_its_network():
    assert load_workload("resnet50_pruned80", sparsity="published").meta["published_network"] == "resnet50"


def test_errors_name_the_field_or_the_network():
    with pytest.raises(GraphError, match="field 'sparsity' is 'trained'"):
        load_workload("resnet18", sparsity="trained")
    with pytest.raises(GraphError, match="no published activation sparsity for network 'vit_b_16'"):
        load_workload("vit_b_16", sparsity="published")
