"""``python -m sparoa_sim.real.models.regenerate`` in full (not ``--kernels-only``): reduced zoo
models written to a temporary folder, each file the graph that ``extract`` gives, pruned variants
pruned, the named workloads and no others written, unknown names refused."""

from __future__ import annotations

import types

import pytest

pytest.importorskip("torch")

from sparoa_sim.ir.graph import load_graph  # noqa: E402
from sparoa_sim.real.models import regenerate, zoo  # noqa: E402
from sparoa_sim.real.models.extract import extract  # noqa: E402

#: The real table's entries for resnet18, plus a pruned variant of it in the form the table gives
#: resnet50 and vit_b_16 (a reduced resnet50 would only make the test slower).
SHIPPED = {"resnet18": regenerate.SHIPPED["resnet18"], "resnet18_pruned80": ("resnet18", 0.8),
           "resnet50_pruned80": regenerate.SHIPPED["resnet50_pruned80"]}


@pytest.fixture
def reduced_zoo(tmp_path, monkeypatch):
    """regenerate writing into ``tmp_path`` from the reduced variants of the zoo's models."""
    monkeypatch.setattr(regenerate, "WORKLOAD_DIR", tmp_path)
    monkeypatch.setattr(regenerate, "SHIPPED", SHIPPED)
    monkeypatch.setattr(regenerate, "zoo", types.SimpleNamespace(
        build=lambda name, seed: zoo.build(name, seed=seed, reduced=True),
        example_input=lambda name: zoo.example_input(name, reduced=True)))
    return tmp_path


def _weight_sparsity(graph) -> float:
    """Zero fraction of the convolution and linear weights (what magnitude pruning prunes)."""
    weighted = [op for op in graph.ops if op.bytes_w > 0 and op.kind.value in ("conv", "dwconv", "linear")]
    return sum(op.w_sparsity * op.bytes_w for op in weighted) / sum(op.bytes_w for op in weighted)


def test_regenerate_writes_each_named_workload_as_extracted(reduced_zoo, capsys):
    assert SHIPPED["resnet50_pruned80"] == ("resnet50", 0.8)  # the shipped table's form of a pruned variant
    assert regenerate.main(["resnet18", "resnet18_pruned80", "--seed", "3"]) == 0
    assert sorted(p.name for p in reduced_zoo.iterdir()) == ["resnet18.json", "resnet18_pruned80.json"]
    expected = extract(zoo.build("resnet18", seed=3, reduced=True), zoo.example_input("resnet18", reduced=True),
                       name="resnet18", seed=3)
    plain = load_graph(reduced_zoo / "resnet18.json")
    pruned = load_graph(reduced_zoo / "resnet18_pruned80.json")
    assert plain == expected  # the file is the extraction, field for field
    assert pruned.name == "resnet18_pruned80" and len(plain) > 10
    assert [op.name for op in pruned.ops] == [op.name for op in plain.ops]
    assert pruned.total_macs == pytest.approx(plain.total_macs, rel=1e-12)
    print(_weight_sparsity(plain), _weight_sparsity(pruned))
    assert _weight_sparsity(plain) < 0.05  # a randomly initialised network has almost no zero weights
    assert _weight_sparsity(pruned) == pytest.approx(0.8, abs=0.02)  # magnitude-pruned to 80 %
    err = capsys.readouterr().err
    assert "resnet18.json: " in err and "resnet18_pruned80.json: " in err


def test_regenerate_refuses_unknown_names_and_writes_nothing(reduced_zoo, capsys):
    with pytest.raises(SystemExit) as exc:
        regenerate.main(["resnet18", "no_such_net"])
    assert exc.value.code == 2
    assert "unknown workload(s) no_such_net" in capsys.readouterr().err
    assert list(reduced_zoo.iterdir()) == []
