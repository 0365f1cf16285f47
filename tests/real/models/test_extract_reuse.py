"""Extraction with a user's inputs records each operator's pattern reuse ρ (``act_reuse``): equal to
``ir.sparsity.pattern_reuse`` of the masks a hook sees, ≈ 1 for a fixed zero pattern, ≈ 0 for random ones;
without inputs (or ``reuse=False``) nothing changes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
from torch import nn  # noqa: E402

from sparoa_sim.ir.graph import REUSE_SCHEMA_VERSION, SCHEMA_VERSION, load_graph, save_graph  # noqa: E402
from sparoa_sim.ir.sparsity import pattern_reuse  # noqa: E402
from sparoa_sim.real.models.extract import extract  # noqa: E402
from sparoa_sim.real.models.measured import extract_measured  # noqa: E402
from sparoa_sim.real.models.reuse import ReuseAccumulator, nonzero_mask  # noqa: E402

FEATURES = 256


class ReluFc(nn.Module):
    """relu -> fc -> relu -> fc: the first linear sees the zero pattern of the input's negative entries."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.r1 = nn.ReLU()
        self.fc1 = nn.Linear(FEATURES, 64)
        self.r2 = nn.ReLU()
        self.fc2 = nn.Linear(64, 4)

    def forward(self, x):
        return self.fc2(self.r2(self.fc1(self.r1(x))))


def _measure(tmp_path, x: np.ndarray, **kw):
    net = ReluFc().eval()
    torch.save(net.state_dict(), tmp_path / "w.pt")
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    g = extract_measured(ReluFc(), (1, FEATURES), name="relufc", weights=tmp_path / "w.pt",
                         inputs=tmp_path / "x.npy", **kw)
    return net, g


def _op(g, name):
    return next(op for op in g.ops if op.name == name)


def test_a_fixed_zero_pattern_gives_reuse_1(tmp_path):
    rng = np.random.default_rng(0)
    sign = np.where(rng.random(FEATURES) < 0.8, -1.0, 1.0)  # 80 % of the features always negative
    x = np.abs(rng.normal(size=(12, FEATURES))) * sign + 0.0
    _, g = _measure(tmp_path, x)
    fc1 = _op(g, "fc1")
    assert fc1.act_sparsity == pytest.approx(float((sign < 0).mean()), abs=1e-12) and fc1.act_sparsity_std == 0.0
    assert fc1.act_reuse == pytest.approx(1.0, abs=1e-12)
    back = load_graph(save_graph(g, tmp_path / "g.json"))
    assert back == g and json.loads((tmp_path / "g.json").read_text())["schema_version"] == REUSE_SCHEMA_VERSION


def test_random_zero_patterns_give_reuse_near_0(tmp_path):
    x = np.random.default_rng(1).normal(size=(12, FEATURES))  # each input's zeros drawn afresh
    _, g = _measure(tmp_path, x)
    fc1 = _op(g, "fc1")
    assert fc1.act_sparsity == pytest.approx(0.5, abs=0.05)
    assert 0.0 <= fc1.act_reuse < 0.05


def test_a_mixed_pattern_sits_between_and_equals_a_hook_measurement(tmp_path):
    rng = np.random.default_rng(2)
    fixed = np.where(rng.random(FEATURES) < 0.5, -1.0, 1.0)
    x = np.abs(rng.normal(size=(10, FEATURES))) * np.where(rng.random((10, FEATURES)) < 0.5, fixed,
                                                           np.sign(rng.normal(size=(10, FEATURES))))
    net, g = _measure(tmp_path, x)
    seen: dict[str, list] = {"fc1": [], "fc2": [], "r2": []}
    hooks = [getattr(net, n).register_forward_pre_hook(lambda _m, a, n=n: seen[n].append(a[0].reshape(-1) != 0))
             for n in seen]
    with torch.no_grad():
        for row in torch.from_numpy(x.astype(np.float32)):
            net(row.unsqueeze(0))
    for h in hooks:
        h.remove()
    for name, masks in seen.items():
        assert _op(g, name).act_reuse == pytest.approx(pattern_reuse(torch.stack(masks).numpy()), abs=1e-12), name
    assert 0.2 < _op(g, "fc1").act_reuse < 0.8


def test_without_inputs_or_with_one_input_or_reuse_off_nothing_is_recorded(tmp_path):
    g = extract(ReluFc(), torch.zeros(1, FEATURES), name="relufc")
    assert all(op.act_reuse == 0.0 for op in g.ops) and g.schema_version == SCHEMA_VERSION
    x = np.random.default_rng(3).normal(size=(6, FEATURES))
    _, off = _measure(tmp_path, x, reuse=False)
    assert all(op.act_reuse == 0.0 for op in off.ops) and off.hw_ops.act_reuse is None
    _, on = _measure(tmp_path, x)
    assert [op.act_sparsity for op in on.ops] == [op.act_sparsity for op in off.ops]  # ρ alone differs
    assert [op.act_sparsity_std for op in on.ops] == [op.act_sparsity_std for op in off.ops]
    _, one = _measure(tmp_path, x, max_inputs=1)  # no pair of inputs: no evidence of reuse
    assert all(op.act_reuse == 0.0 for op in one.ops)


@given(st.integers(2, 6), st.integers(1, 40), st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.integers(0, 2**31 - 1))
def test_the_accumulator_equals_pattern_reuse_of_the_stacked_masks(n, f, density, keep, seed):
    rng = np.random.default_rng(seed)
    base = rng.random(f) < density
    masks = np.where(rng.random((n, f)) < keep, base, rng.random((n, f)) < density)
    if seed % 3 == 0:
        masks[0] = False  # an input with no non-zeros at all
    acc = ReuseAccumulator()
    for m in masks:
        acc.add(torch.from_numpy(m))
    assert acc.value() == pytest.approx(pattern_reuse(masks), abs=1e-12)


def test_the_accumulator_without_two_inputs_or_with_changing_sizes_says_0():
    acc = ReuseAccumulator()
    assert acc.value() == 0.0
    acc.add(torch.tensor([True, False]))
    assert acc.value() == 0.0
    acc.add(torch.tensor([True, False, True]))
    acc.add(torch.tensor([True, False]))
    assert acc.value() == 0.0 and not acc.consistent


def test_nonzero_mask_concatenates_floating_inputs_only():
    m = nonzero_mask([torch.tensor([[0.0, 2.0]]), torch.tensor([3, 0]), torch.tensor([0.0, 0.0, 1.0])])
    assert m.tolist() == [False, True, False, False, True]
    assert nonzero_mask([torch.tensor([1, 2])]) is None
