"""Measured activation sparsity: a small model trained inside the test, its state_dict and inputs on disk,
extracted with ``extract_measured``; the figures equal a direct hook measurement; each refusal is one line."""

from __future__ import annotations

import hashlib
import math
import pickle

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
from torch import nn  # noqa: E402

from sparoa_sim import GraphError  # noqa: E402
from sparoa_sim.ir.graph import REUSE_SCHEMA_VERSION, SPARSITY_SCHEMA_VERSION, load_graph, save_graph  # noqa: E402
from sparoa_sim.real.models.extract import extract  # noqa: E402
from sparoa_sim.real.models.measured import extract_measured  # noqa: E402

SHAPE = (1, 3, 8, 8)


class Net(nn.Module):
    """conv -> relu -> conv -> relu -> pool -> flatten -> fc -> relu -> fc: ReLU outputs feed conv and linear."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.r1 = nn.ReLU()
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.r2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc1 = nn.Linear(64, 32)
        self.r3 = nn.ReLU()
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        y = self.pool(self.r2(self.c2(self.r1(self.c1(x)))))
        return self.fc2(self.r3(self.fc1(torch.flatten(y, 1))))


def _trained() -> Net:
    """A few plain SGD steps (an L1 push on the weights included) on random data, so trained sparsity
    moves away from initialisation; well under a second of CPU."""
    torch.manual_seed(0)
    net = Net()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(64, 3, 8, 8, generator=gen)
    target = torch.randint(0, 4, (64,), generator=gen)
    for _ in range(12):
        loss = nn.functional.cross_entropy(net(x), target) + 0.05 * sum(p.abs().sum() for p in net.parameters())
        loss.backward()
        with torch.no_grad():
            for p in net.parameters():
                p -= 0.5 * p.grad
                p.grad = None
    return net.eval()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("measured")
    net = _trained()
    torch.save(net.state_dict(), d / "net.pt")
    x = np.random.default_rng(7).normal(size=(10, 3, 8, 8)).astype(np.float32) + 0.3
    np.save(d / "x.npy", x)
    return d, net, x


def _hook_sparsity(net: nn.Module, x: np.ndarray) -> dict[str, tuple[float, float]]:
    """Per module: mean and population std across samples of the zero fraction of its input."""
    seen: dict[str, list[float]] = {}
    handles = []
    for name, m in net.named_modules():
        if name and not list(m.children()):
            handles.append(m.register_forward_pre_hook(
                lambda mod, args, name=name: seen.setdefault(name, []).append(float((args[0] == 0).sum()) / args[0].numel())))
    with torch.no_grad():
        for row in torch.from_numpy(x):
            net(row.unsqueeze(0))
    for h in handles:
        h.remove()
    out = {}
    for name, fr in seen.items():
        mean = sum(fr) / len(fr)
        out[name] = (mean, math.sqrt(sum((f - mean) ** 2 for f in fr) / len(fr)))
    return out


@pytest.fixture(scope="module")
def measured(files):
    d, _, _ = files
    return extract_measured(Net(), SHAPE, name="net", weights=d / "net.pt", inputs=d / "x.npy")


def test_measured_sparsity_equals_a_direct_hook_measurement(files, measured):
    _, net, x = files
    hooks = _hook_sparsity(net, x)
    ops = {op.name: op for op in measured.ops}
    for name in ("c2", "fc1", "fc2", "pool"):
        mean, std = hooks[name]
        assert ops[name].act_sparsity == pytest.approx(mean, abs=1e-12), name
        assert ops[name].act_sparsity_std == pytest.approx(std, abs=1e-12), name
    assert ops["c2"].act_sparsity > 0.05 and ops["c2"].act_sparsity_std > 0  # real zeros, real spread


def test_measured_sparsity_differs_from_initialisation(measured):
    torch.manual_seed(0)
    init = extract(Net(), torch.zeros(SHAPE), name="net")
    diffs = [abs(a.act_sparsity - b.act_sparsity) for a, b in zip(init.ops, measured.ops, strict=True)]
    assert max(diffs) > 0.05
    assert init.sparsity_provenance.kind == "init" and all(op.act_sparsity_std == 0 for op in init.ops)


def test_the_graph_records_both_files_with_their_sha256(files, measured, tmp_path):
    d, _, _ = files
    prov = measured.sparsity_provenance
    assert prov.kind == "measured" and prov.samples == 10
    digests = {f.role: (f.name, f.sha256) for f in prov.files}
    assert digests == {"weights": ("net.pt", hashlib.sha256((d / "net.pt").read_bytes()).hexdigest()),
                       "inputs": ("x.npy", hashlib.sha256((d / "x.npy").read_bytes()).hexdigest())}
    assert "measured" in measured.sparsity_source and "net.pt" in measured.sparsity_source
    back = load_graph(save_graph(measured, tmp_path / "m.json"))
    assert back == measured and back.sparsity_provenance == prov
    assert [op.act_sparsity_std for op in back.ops] == [op.act_sparsity_std for op in measured.ops]
    # measured inputs record the pattern reuse ρ too; a file is schema 4 only where some ρ > 0
    expected = REUSE_SCHEMA_VERSION if any(op.act_reuse > 0 for op in measured.ops) else SPARSITY_SCHEMA_VERSION
    assert '"schema_version": %d' % expected in (tmp_path / "m.json").read_text()


def test_at_most_max_inputs_are_used(files):
    d, net, x = files
    g = extract_measured(Net(), SHAPE, name="net", weights=d / "net.pt", inputs=d / "x.npy", max_inputs=3)
    assert g.sparsity_provenance.samples == 3 and g.meta["calib_batch"] == 3
    mean, std = _hook_sparsity(net, x[:3])["c2"]
    c2 = next(op for op in g.ops if op.name == "c2")
    assert (c2.act_sparsity, c2.act_sparsity_std) == (pytest.approx(mean, abs=1e-12), pytest.approx(std, abs=1e-12))


def test_a_data_parallel_state_dict_is_accepted(files, tmp_path, measured):
    d, net, _ = files
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, tmp_path / "dp.pt")
    g = extract_measured(Net(), SHAPE, name="net", weights=tmp_path / "dp.pt", inputs=d / "x.npy")
    assert [op.act_sparsity for op in g.ops] == [op.act_sparsity for op in measured.ops]


def test_a_folder_of_images_is_read_with_pillow(files, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    d, _, _ = files
    rng = np.random.default_rng(3)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(tmp_path / f"img{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    g = extract_measured(Net(), SHAPE, name="net", weights=d / "net.pt", inputs=tmp_path, max_inputs=3)
    prov = g.sparsity_provenance
    assert prov.samples == 3 and {f.role for f in prov.files} == {"weights", "inputs"}
    again = extract_measured(Net(), SHAPE, name="net", weights=d / "net.pt", inputs=tmp_path, max_inputs=3)
    assert again == g  # same files, same figures and fingerprint
    (tmp_path / "img0.png").write_bytes((tmp_path / "img3.png").read_bytes())
    changed = extract_measured(Net(), SHAPE, name="net", weights=d / "net.pt", inputs=tmp_path, max_inputs=3)
    assert changed.sparsity_provenance.files[1].sha256 != prov.files[1].sha256


class NotTensors:
    """A pickled object a ``weights_only`` load must refuse."""


def _write(tmp_path, name, what):
    path = tmp_path / name
    if what == "module":
        torch.save(Net(), path)
    elif what == "object":
        path.write_bytes(pickle.dumps({"c1.weight": NotTensors()}, protocol=2))
    elif what == "int_value":
        torch.save({"epoch": 3}, path)
    elif what == "garbage":
        path.write_bytes(b"not a torch file at all")
    return path


@pytest.mark.parametrize("what, needles", [
    ("module", ["not a state_dict of tensors", "weights_only=True"]),
    ("object", ["not a state_dict of tensors"]),
    ("int_value", ["'epoch'", "int", "not a tensor"]),
    ("garbage", ["not a state_dict of tensors"]),
])
def test_a_pickled_object_instead_of_tensors_is_refused(files, tmp_path, what, needles):
    d, _, _ = files
    path = _write(tmp_path, "w.pt", what)
    with pytest.raises(GraphError) as err:
        extract_measured(Net(), SHAPE, name="net", weights=path, inputs=d / "x.npy")
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and all(n in msg for n in needles), msg


def test_wrong_keys_and_wrong_shapes_are_refused_naming_them(files, tmp_path):
    d, net, _ = files
    state = net.state_dict()
    renamed = {("head.weight" if k == "fc2.weight" else k): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "keys.pt")
    with pytest.raises(GraphError) as err:
        extract_measured(Net(), SHAPE, name="net", weights=tmp_path / "keys.pt", inputs=d / "x.npy")
    msg = str(err.value)
    assert "\n" not in msg and "keys do not match" in msg and "'fc2.weight'" in msg and "'head.weight'" in msg
    reshaped = dict(state, **{"c2.weight": torch.zeros(16, 8, 5, 5)})
    torch.save(reshaped, tmp_path / "shape.pt")
    with pytest.raises(GraphError) as err:
        extract_measured(Net(), SHAPE, name="net", weights=tmp_path / "shape.pt", inputs=d / "x.npy")
    msg = str(err.value)
    assert "\n" not in msg and "'c2.weight'" in msg and "[16, 8, 5, 5]" in msg and "[16, 8, 3, 3]" in msg


@pytest.mark.parametrize("data, needles", [
    (np.zeros((4, 3, 4, 4), np.float32), ["shape [4, 3, 4, 4]", "(N, 3, 8, 8)"]),
    (np.zeros((3, 8, 8), np.float32), ["shape [3, 8, 8]"]),
    (np.zeros((0, 3, 8, 8), np.float32), ["shape [0, 3, 8, 8]", "N >= 1"]),
    (np.array([{"a": 1}] * 2, dtype=object), ["without pickles"]),
    (np.array(["a", "b"]), ["dtype <U1", "not numeric"]),
    (np.full((2, 3, 8, 8), np.nan, np.float32), ["NaN"]),
])
def test_an_input_file_of_the_wrong_shape_or_kind_is_refused(files, tmp_path, data, needles):
    d, _, _ = files
    path = tmp_path / "bad.npy"
    np.save(path, data, allow_pickle=True)
    with pytest.raises(GraphError) as err:
        extract_measured(Net(), SHAPE, name="net", weights=d / "net.pt", inputs=path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and all(n in msg for n in needles), msg


def test_missing_files_oversized_files_and_bad_limits_are_refused(files, tmp_path):
    d, _, _ = files
    cases = [
        (dict(weights=tmp_path / "nope.pt", inputs=d / "x.npy"), ["weights", "nope.pt", "no such file"]),
        (dict(weights=d / "net.pt", inputs=tmp_path / "nope.npy"), ["inputs", "nope.npy", "no such file"]),
        (dict(weights=d / "net.pt", inputs=d / "x.npy", max_weights_bytes=100), ["over the limit of 100 bytes"]),
        (dict(weights=d / "net.pt", inputs=d / "x.npy", max_input_bytes=1000), ["over the limit of 1000 bytes"]),
        (dict(weights=d / "net.pt", inputs=d / "x.npy", max_inputs=0), ["--max-inputs", "0"]),
        (dict(weights=d / "net.pt", inputs=d / "net.pt"), ["expected a .npy file", ".pt"]),
        (dict(weights=d / "net.pt", inputs=tmp_path), ["no image files"]),
    ]
    for kwargs, needles in cases:
        with pytest.raises(GraphError) as err:
            extract_measured(Net(), SHAPE, name="net", **kwargs)
        msg = str(err.value)
        assert "\n" not in msg and all(n in msg for n in needles), (kwargs, msg)
