"""``sparoa extract … --weights FILE --inputs FILE|DIR``: measured sparsity through the command line, and its
refusals as one line on stderr with exit status 2."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from sparoa_sim.cli import main  # noqa: E402
from sparoa_sim.ir.graph import load_graph  # noqa: E402

MODELS = """import torch.nn as nn
def build():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
"""


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def work(tmp_path, monkeypatch):
    (tmp_path / "tiny_measured_models.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import tiny_measured_models

    torch.manual_seed(3)
    model = tiny_measured_models.build()
    with torch.no_grad():
        model[2].bias.fill_(-0.2)  # a "trained" bias that zeroes more than half the second ReLU's outputs
    torch.save(model.state_dict(), tmp_path / "w.pt")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(6, 3, 8, 8)).astype(np.float32))
    return tmp_path


def test_extract_with_weights_and_inputs_writes_a_measured_graph(capsys, work):
    code, out, err = run(capsys, "extract", "tiny_measured_models:build", "--input-shape", "1,3,8,8",
                         "--weights", "w.pt", "--inputs", "x.npy", "--max-inputs", "4", "-o", "g.json", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["sparsity_kind"] == "measured" and doc["sparsity_samples"] == 4 and doc["ops"] == 5
    g = load_graph(work / "g.json")
    assert g.sparsity_provenance.kind == "measured" and g.sparsity_provenance.samples == 4
    assert [f.name for f in g.sparsity_provenance.files] == ["w.pt", "x.npy"]
    linear = next(op for op in g.ops if op.kind.value == "linear")
    assert linear.act_sparsity > 0.5 and linear.act_sparsity_std > 0
    code, out, _ = run(capsys, "extract", "tiny_measured_models:build", "--input-shape", "1,3,8,8", "-o", "i.json",
                       "--json")
    assert code == 0 and json.loads(out)["sparsity_kind"] == "init"
    assert load_graph(work / "i.json").sparsity_source.startswith("random initialisation")


def test_the_table_output_names_the_source(capsys, work):
    code, out, _ = run(capsys, "extract", "tiny_measured_models:build", "--input-shape", "1,3,8,8",
                       "--weights", "w.pt", "--inputs", "x.npy", "-o", "g.json")
    assert code == 0 and "wrote g.json" in out and "measured" in out


@pytest.mark.parametrize("extra, needle", [
    (["--weights", "w.pt"], "--weights: measured sparsity needs --inputs"),
    (["--inputs", "x.npy"], "--inputs: measured sparsity needs --weights"),
    (["--weights", "nope.pt", "--inputs", "x.npy"], "weights nope.pt: no such file"),
    (["--weights", "w.pt", "--inputs", "nope.npy"], "inputs nope.npy: no such file"),
    (["--weights", "w.pt", "--inputs", "small.npy"], "inputs small.npy: shape [2, 3, 4, 4]"),
    (["--weights", "keys.pt", "--inputs", "x.npy"], "keys do not match"),
    (["--weights", "shape.pt", "--inputs", "x.npy"], "key '2.weight' has shape [4, 8, 3, 3]"),
    (["--weights", "module.pt", "--inputs", "x.npy"], "not a state_dict of tensors"),
    (["--weights", "w.pt", "--inputs", "x.npy", "--max-inputs", "0"], "--max-inputs"),
])
def test_bad_weights_or_inputs_exit_2_with_one_line(capsys, work, extra, needle):
    import tiny_measured_models

    state = torch.load(work / "w.pt", weights_only=True)
    torch.save({("head.bias" if k == "5.bias" else k): v for k, v in state.items()}, work / "keys.pt")
    torch.save(dict(state, **{"2.weight": torch.zeros(4, 8, 3, 3)}), work / "shape.pt")
    torch.save(tiny_measured_models.build(), work / "module.pt")
    np.save(work / "small.npy", np.zeros((2, 3, 4, 4), np.float32))
    code, out, err = run(capsys, "extract", "tiny_measured_models:build", "--input-shape", "1,3,8,8", "-o", "g.json",
                         *extra)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("sparoa") and needle in err, err
    assert not (work / "g.json").exists()  # nothing written half


def test_a_model_that_is_neither_a_factory_nor_a_zoo_model_is_named(capsys, work):
    code, _, err = run(capsys, "extract", "resnet19", "-o", "g.json")
    assert code == 2 and "MODEL 'resnet19'" in err and "resnet18" in err and err.count("\n") == 1
    code, _, err = run(capsys, "extract", "tiny_measured_models:build", "-o", "g.json")
    assert code == 2 and "--input-shape: required" in err


def test_a_zoo_model_name_is_extracted_at_the_given_shape(capsys, work):
    code, out, err = run(capsys, "extract", "squeezenet1_1", "--input-shape", "1,3,32,32", "-o", "z.json", "--json")
    assert code == 0, err
    doc = json.loads(out)
    g = load_graph(work / "z.json")
    assert doc["name"] == g.name == "squeezenet1_1" and g.input_shape == (1, 3, 32, 32)
    assert doc["sparsity_kind"] == "init" and doc["params"] == 1235496  # torchvision's SqueezeNet 1.1
