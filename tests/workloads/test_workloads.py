"""Shipped workloads: names, counts against torchvision's published figures, metadata."""

from __future__ import annotations

import pytest

from sparoa_sim import GraphError, list_workloads, load_workload
from sparoa_sim.hwmodels.kinds import OpKind

#: torchvision's published figures: params and "GFLOPS" (which counts multiply-accumulates), the
#: latter at the precision of torchvision's weights metadata (``_ops``), e.g. 0.057 not 0.06.
PUBLISHED = {
    "resnet18": (11_689_512, 1.814),
    "resnet50": (25_557_032, 4.089),
    "mobilenetv2": (3_504_872, 0.301),
    "mobilenetv3_small": (2_542_856, 0.057),
    "vgg16": (138_357_544, 15.47),
    "vit_b_16": (86_567_656, 17.564),
    "swin_t": (28_288_354, 4.491),
}
PRUNED = {"resnet50_pruned50": 0.5, "resnet50_pruned80": 0.8, "vit_b_16_pruned50": 0.5, "vit_b_16_pruned80": 0.8}


BRANCHY = {"googlenet", "squeezenet1_1", "ssdlite_mobilenetv2"}  # counts checked in tests/real/models/test_zoo_branchy.py


def test_every_named_workload_is_shipped():
    assert set(list_workloads()) == set(PUBLISHED) | set(PRUNED) | BRANCHY


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_counts_within_5_percent_of_published(name):
    params, gmacs = PUBLISHED[name]
    g = load_workload(name)
    assert g.n_params == pytest.approx(params, rel=0.05)
    assert g.total_macs / 1e9 == pytest.approx(gmacs, rel=0.05)
    assert g.input_shape == (1, 3, 224, 224)
    assert "random initialisation" in g.sparsity_source


@pytest.mark.parametrize("name", sorted(PRUNED))
def test_pruned_variants_have_their_weight_sparsity(name):
    g = load_workload(name)
    base = load_workload(name.split("_pruned")[0])
    assert g.total_macs == pytest.approx(base.total_macs) and len(g) == len(base)
    heavy = [op for op in g.ops if op.kind in (OpKind.CONV, OpKind.LINEAR) and op.bytes_w > 4096]
    assert heavy
    for op in heavy:
        assert op.w_sparsity == pytest.approx(PRUNED[name], abs=0.01), op.name
    assert f"{PRUNED[name]:.0%}" in g.sparsity_source


def test_relu_networks_show_activation_sparsity_gelu_networks_do_not():
    relu = load_workload("resnet50")
    gelu = load_workload("vit_b_16")
    convs = [op.act_sparsity for op in relu.ops if op.kind is OpKind.CONV][1:]
    assert sum(convs) / len(convs) > 0.3
    linears = [op.act_sparsity for op in gelu.ops if op.kind is OpKind.LINEAR]
    assert max(linears) < 0.05


def test_load_by_path_and_unknown_name(tmp_path):
    from sparoa_sim import save_graph

    g = load_workload("resnet18")
    path = save_graph(g, tmp_path / "mine.json")
    assert load_workload(str(path)) == g
    with pytest.raises(GraphError, match=r"unknown workload 'resnet19' \(known: .*resnet18"):
        load_workload("resnet19")
