"""Extraction: hand-computed MACs, FLOPs and bytes of a small module; folding; pruning; errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from sparoa_sim import GraphError  # noqa: E402
from sparoa_sim.hwmodels.kinds import OpKind  # noqa: E402
from sparoa_sim.real.models.extract import extract, extract_factory, magnitude_prune  # noqa: E402


class Small(nn.Module):
    """conv(3->8, 3x3, pad 1, no bias) -> bn -> relu -> (+ skip) -> global pool -> flatten -> fc."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.proj = nn.Conv2d(3, 8, 1, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        y = self.relu(self.bn(self.conv(x)))
        y = y + self.proj(x)
        return self.fc(torch.flatten(self.pool(y), 1))


class Smooth(nn.Module):
    """The element-wise functions whose cost a flop counter's "one op" misrepresents."""

    def __init__(self) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(16)
        self.gelu = nn.GELU()
        self.hswish = nn.Hardswish()
        self.silu = nn.SiLU()

    def forward(self, x):
        y = self.silu(self.hswish(self.gelu(self.ln(x))))
        return torch.nn.functional.gelu(y, approximate="tanh").relu()


def test_element_wise_functions_are_counted_by_their_own_rule():
    from sparoa_sim.hwmodels.kinds import ERF_FLOPS, EXP_FLOPS, FUNCTION_FLOPS

    g = extract(Smooth(), torch.zeros(1, 4, 16), name="smooth")
    per = {op.name: op.flops / 64 for op in g.ops}  # 4 x 16 output elements each
    assert per == {"ln": 8.0, "gelu": ERF_FLOPS + 4.0, "hswish": 4.0, "silu": EXP_FLOPS + 3.0,
                   "gelu_1": FUNCTION_FLOPS["gelu_tanh"], "relu": 1.0}
    assert all(op.kind in (OpKind.ACT, OpKind.NORM) for op in g.ops)


@pytest.fixture(scope="module")
def small_graph():
    return extract(Small(), torch.zeros(1, 3, 8, 8), name="small")


def test_hand_computed_counts(small_graph):
    ops = {op.name: op for op in small_graph.ops}
    assert list(ops) == ["conv", "bn", "relu", "proj", "add", "pool", "fc"], "flatten is a view and is folded"
    hw = 8 * 8
    conv = ops["conv"]
    assert conv.kind is OpKind.CONV
    assert conv.macs == 8 * 3 * 9 * hw  # Cout * Cin * k^2 * H * W
    assert conv.flops == 2 * conv.macs
    assert conv.bytes_in == 4 * 3 * hw and conv.bytes_out == 4 * 8 * hw
    assert conv.bytes_w == 4 * 8 * 3 * 9
    assert conv.out_shape == (1, 8, 8, 8) and conv.split_axis == "channel"
    bn = ops["bn"]
    assert bn.kind is OpKind.NORM and bn.macs == 0
    assert bn.flops == 4 * 8 * hw  # ELEMENTWISE_FLOPS[norm] per output element
    assert bn.bytes_w == 4 * 4 * 8  # weight, bias, running mean, running var
    assert bn.split_axis is None
    assert ops["relu"].flops == 8 * hw
    assert ops["add"].kind is OpKind.ADD and ops["add"].bytes_in == 2 * 4 * 8 * hw
    assert ops["pool"].flops == 8 * hw  # global pooling reads each input element once
    fc = ops["fc"]
    assert fc.macs == 8 * 10 and fc.bytes_w == 4 * (8 * 10 + 10) and fc.bytes_in == 4 * 8
    assert small_graph.n_params == sum(p.numel() for p in Small().parameters())


def test_dependencies_follow_dataflow(small_graph):
    idx = {op.name: i for i, op in enumerate(small_graph.ops)}
    deps = {op.name: {small_graph.ops[d].name for d in op.deps} for op in small_graph.ops}
    assert deps["conv"] == set() and deps["proj"] == set()
    assert deps["add"] == {"relu", "proj"}
    assert deps["fc"] == {"pool"}  # through the folded flatten
    assert idx["add"] > idx["proj"]


def test_activation_sparsity_measured_after_relu(small_graph):
    ops = {op.name: op for op in small_graph.ops}
    assert ops["conv"].act_sparsity == 0.0  # N(0,1) input has no exact zeros
    assert 0.15 < ops["add"].act_sparsity < 0.35  # about half of one of its two equal-sized inputs is zero
    assert ops["pool"].act_sparsity < 0.01  # relu output + projection: almost no exact zeros


def test_pruning_sets_weight_sparsity():
    g = extract(Small(), torch.zeros(1, 3, 8, 8), name="small_pruned", prune=0.75)
    conv = g.ops[0]
    assert conv.w_sparsity == pytest.approx(0.75, abs=0.01)
    assert "pruned to 75%" in g.sparsity_source
    m = magnitude_prune(Small(), 0.5)
    w = m.conv.weight
    assert float((w == 0).float().mean()) == pytest.approx(0.5, abs=0.01)
    with pytest.raises(GraphError, match="prune"):
        magnitude_prune(Small(), 1.5)


def test_deterministic(small_graph):
    torch.manual_seed(0)
    model = Small()
    a = extract(model, torch.zeros(1, 3, 8, 8), name="s")
    b = extract(model, torch.zeros(1, 3, 8, 8), name="s")
    assert a == b


def test_untraceable_and_bad_factories(tmp_path, monkeypatch):
    class Branchy(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: fx cannot trace it
                return x
            return -x

    with pytest.raises(GraphError, match="cannot trace"):
        extract(Branchy(), torch.zeros(1, 3), name="branchy")
    with pytest.raises(GraphError, match="nn.Module"):
        extract("not a model", torch.zeros(1, 3), name="x")  # type: ignore[arg-type]
    (tmp_path / "userfactories.py").write_text(
        "import torch.nn as nn\n"
        "def good():\n    return nn.Sequential(nn.Linear(4, 3), nn.ReLU())\n"
        "def bad():\n    return 42\n"
        "VALUE = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    g = extract_factory("userfactories:good", (1, 4))
    assert [op.kind for op in g.ops] == [OpKind.LINEAR, OpKind.ACT] and g.name == "good"
    with pytest.raises(GraphError, match="returned int, not a torch.nn.Module"):
        extract_factory("userfactories:bad", (1, 4))
    with pytest.raises(GraphError, match="no callable 'VALUE'"):
        extract_factory("userfactories:VALUE", (1, 4))
    with pytest.raises(GraphError, match="cannot import module 'no_such_module_xyz'"):
        extract_factory("no_such_module_xyz:f", (1, 4))
    with pytest.raises(GraphError, match="MODULE:FACTORY"):
        extract_factory("userfactories.good", (1, 4))
    with pytest.raises(GraphError, match="input-shape"):
        extract_factory("userfactories:good", (1, 0))


def test_review_cases_multihead_attention_inplace_functional_pool_and_buffers():
    """nn.MultiheadAttention is counted (its fused inference path had no FLOP formula: 0 MACs);
    an in-place op of kind OTHER is kept (it was dropped as a view); a functional max pool counts
    its window; a constant buffer (a 0 / -100 attention mask) is not weight sparsity."""
    import torch.nn.functional as F

    class Attn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.MultiheadAttention(64, 4, batch_first=True)

        def forward(self, x):
            return self.a(x, x, x, need_weights=False)[0]

    g = extract(Attn().eval(), torch.randn(1, 50, 64), name="attn")
    assert [(o.kind.value, o.macs) for o in g.ops] == [("attention", 1_139_200.0)]

    class Misc(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Conv2d(3, 8, 3)
            self.register_buffer("mask", torch.where(torch.rand(8, 7, 7) > 0.5, 0.0, -100.0))

        def forward(self, x):
            y = self.c(x)
            y.clamp_(0, 6)
            return F.max_pool2d(y, 3, 2) + self.mask

    g = extract(Misc().eval(), torch.randn(1, 3, 18, 18), name="misc")
    ops = {o.name: o for o in g.ops}
    assert ops["clamp_"].kind.value == "other"
    assert ops["max_pool2d"].flops == 8 * 7 * 7 * 9
    assert ops["add"].w_sparsity == 0.0
