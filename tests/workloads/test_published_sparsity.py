"""The ``published`` sparsity source: every row of the shipped data file cites its figure, applying it to a
shipped graph changes exactly the operators it covers and records the provenance; bad data files are refused."""

from __future__ import annotations

import hashlib
import json

import pytest

from sparoa_sim.errors import GraphError
from sparoa_sim.hwmodels.kinds import OpKind
from sparoa_sim.ir.graph import graph_from_dict
from sparoa_sim.workloads import list_workloads, load_workload
from sparoa_sim.workloads.published import PUBLISHED_FILE, load_published, network_of, with_published_sparsity


@pytest.fixture(scope="module")
def data():
    return load_published()


def test_every_row_cites_a_source_with_what_was_measured(data):
    assert data.rows, "the shipped data file has rows"
    for name, row in data.rows.items():
        assert name in list_workloads(), name
        src = row.source
        assert src.url.startswith("https://") and src.original and src.stated_in and src.dataset and src.measured
        assert row.basis and isinstance(row.assumed, bool)
        assert (row.rule is not None and src.value is not None) or row.layers
    assert data.file.sha256 == hashlib.sha256(PUBLISHED_FILE.read_bytes()).hexdigest()


def test_applied_to_resnet18_it_sets_every_convolution_after_the_stem(data):
    base = load_workload("resnet18")
    g = with_published_sparsity(base, data=data)
    value = data.rows["resnet18"].source.value
    convs = [i for i, op in enumerate(base.ops) if op.kind in (OpKind.CONV, OpKind.DWCONV)]
    for i, (old, new) in enumerate(zip(base.ops, g.ops, strict=True)):
        if i in convs[1:]:
            assert (new.act_sparsity, new.act_sparsity_std) == (value, 0.0)
        else:
            assert new == old
    assert g.name == "resnet18_published" and g.meta["published_network"] == "resnet18"
    prov = g.sparsity_provenance
    assert prov.kind == "published" and prov.reference == data.rows["resnet18"].source.url
    assert prov.files == (data.file,)
    assert "ASSUMED" in g.sparsity_source and "Cnvlutin" in g.sparsity_source
    back = graph_from_dict(json.loads(g.to_json()))
    assert back == g and back.to_dict()["schema_version"] == 3


def test_a_pruned_variant_uses_its_dense_network(data):
    assert network_of("resnet50_pruned80") == "resnet50" and network_of("resnet50") == "resnet50"
    g = with_published_sparsity(load_workload("resnet50_pruned80"), data=data)
    assert g.meta["published_network"] == "resnet50" and g.name == "resnet50_pruned80_published"


def test_a_network_without_published_figures_is_refused_naming_the_known_ones(data):
    with pytest.raises(GraphError, match=r"no published activation sparsity for network 'vit_b_16' \(known: .*resnet18"):
        with_published_sparsity(load_workload("vit_b_16"), data=data)


HEAD = """schema_version = 1
[[source]]
id = "paper"
original = "A. Author: A paper, 2020"
url = "https://example.org/paper"
stated_in = "table 2"
dataset = "ImageNet validation"
measured = "per-layer input zeros"
"""


def test_per_layer_rows_set_the_named_operators(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(HEAD + '[[network]]\nname = "resnet18"\nsource = "paper"\nassumed = false\nbasis = "measured"\n'
                    '[network.layers]\nlayer1_0_conv1 = 0.61\nfc = 0.25\n')
    data = load_published(path)
    g = with_published_sparsity(load_workload("resnet18"), data=data)
    changed = {op.name: op.act_sparsity for old, op in zip(load_workload("resnet18").ops, g.ops, strict=True)
               if old.act_sparsity != op.act_sparsity}
    assert changed == {"layer1_0_conv1": 0.61, "fc": 0.25}
    assert g.sparsity_provenance.files[0].name == "p.toml" and "(per layer)" in g.sparsity_source
    path.write_text(HEAD + '[[network]]\nname = "resnet18"\nsource = "paper"\nassumed = false\nbasis = "m"\n'
                    '[network.layers]\nnot_an_op = 0.5\n')
    with pytest.raises(GraphError, match="'not_an_op'"):
        with_published_sparsity(load_workload("resnet18"), data=load_published(path))


NET = '[[network]]\nname = "resnet18"\nsource = "paper"\nassumed = false\nbasis = "m"\n'


@pytest.mark.parametrize("text, needles", [
    (HEAD.replace("schema_version = 1", "schema_version = 2"), ["schema_version", "2"]),
    (HEAD.replace('url = "https://example.org/paper"', 'url = "a book"'), ["source 0", "'url'", "'a book'"]),
    (HEAD.replace('dataset = "ImageNet validation"', ""), ["source 0", "'dataset'"]),
    (HEAD + "value = 1.5\n", ["source 0", "'value'", "1.5"]),
    (HEAD + "value = 0.4\n" + NET.replace('"paper"', '"other"') + 'rule = "conv_after_stem"\n', ["'source'", "'other'"]),
    (HEAD + "value = 0.4\n" + NET + 'rule = "everything"\n', ["'rule'", "'everything'"]),
    (HEAD + NET + 'rule = "conv_after_stem"\n', ["needs a 'value'"]),
    (HEAD + "value = 0.4\n" + NET, ["either 'rule' or 'layers'"]),
    (HEAD + NET.replace("false", '"no"') + "[network.layers]\nfc = 0.1\n", ["'assumed'", "'no'"]),
    (HEAD + NET + "[network.layers]\nfc = -0.1\n", ["layer 'fc'", "-0.1"]),
    ("schema_version = [", ["malformed TOML"]),
])
def test_a_bad_data_file_is_refused_naming_the_field(tmp_path, text, needles):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(GraphError) as err:
        load_published(path)
    msg = str(err.value)
    assert str(path) in msg and all(n in msg for n in needles), msg
