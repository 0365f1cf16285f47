"""Model zoo: published parameter/MAC counts, fx traceability, determinism, reduced variants."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

torch = pytest.importorskip("torch")
import torch.fx  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from sparoa_sim.real.models import zoo  # noqa: E402

NAMES = ("resnet18", "resnet50", "mobilenetv2", "mobilenetv3_small", "vgg16", "vit_b_16", "swin_t")


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _assert_traced_equals_eager(model: nn.Module, x: torch.Tensor) -> torch.fx.GraphModule:
    graph_module = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        eager = model(x)
        traced = graph_module(x)
    scale = max(1.0, eager.abs().max().item())
    torch.testing.assert_close(traced, eager, rtol=1e-5, atol=1e-5 * scale)
    return graph_module


# ---------------------------------------------------------------------------------- registry


BRANCHY = ("googlenet", "squeezenet1_1", "ssdlite_mobilenetv2")


def test_registry_holds_the_classifiers_and_the_branchy_models() -> None:
    assert tuple(zoo.MODELS) == NAMES + BRANCHY
    assert zoo.model_names() == NAMES + BRANCHY
    for name, spec in zoo.MODELS.items():
        assert spec.name == name
    assert zoo.input_shape("ssdlite_mobilenetv2") == (1, 3, 320, 320)
    for name in NAMES + BRANCHY[:2]:
        assert zoo.input_shape(name) == (1, 3, 224, 224)
        assert zoo.input_shape(name, reduced=True) == (1, 3, 32, 32)


def test_spec_is_frozen() -> None:
    spec = zoo.MODELS["resnet18"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.published_params = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.reduced_kwargs["num_classes"] = 3  # type: ignore[index]
    with pytest.raises(TypeError):
        zoo.MODELS["x"] = spec  # type: ignore[index]


@pytest.mark.parametrize("call", [zoo.build, zoo.input_shape, zoo.example_input])
def test_unknown_name_is_a_clear_value_error(call) -> None:
    with pytest.raises(ValueError, match=r"unknown model 'resnet19' \(known: resnet18, "):
        call("resnet19")


def test_example_input_is_seeded_and_leaves_global_rng_alone() -> None:
    state = torch.get_rng_state()
    a = zoo.example_input("vit_b_16", batch=3, seed=5)
    b = zoo.example_input("vit_b_16", batch=3, seed=5)
    c = zoo.example_input("vit_b_16", batch=3, seed=6)
    assert torch.equal(torch.get_rng_state(), state)
    assert a.shape == (3, 3, 224, 224) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert zoo.example_input("swin_t", reduced=True).shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="batch"):
        zoo.example_input("resnet18", batch=0)


# ------------------------------------------------------------------------- full-size models


@pytest.fixture(scope="module", params=NAMES)
def full(request: pytest.FixtureRequest) -> tuple[str, nn.Module]:
    """One full-size model at a time (pytest groups the tests by parameter, so VGG-16's
    550 MB are freed before the next model is built)."""
    return request.param, zoo.build(request.param)


def test_full_params_equal_published(full: tuple[str, nn.Module]) -> None:
    name, model = full
    assert _n_params(model) == zoo.MODELS[name].published_params
    assert not model.training


# (number of entries, sha256[:16] of the sorted "key:shape" lines) of torchvision 0.29's
# state_dict() for the same models: the zoo can load torchvision checkpoints key for key
# (ViT after renaming ``in_proj_weight``/``in_proj_bias`` to ``in_proj.weight``/``.bias``).
TORCHVISION_STATE_DICT = {
    "resnet18": (122, "1dcde4b21afa712c"),
    "resnet50": (320, "ce6ad2593ee187ab"),
    "mobilenetv2": (314, "8e46697c9016e576"),
    "mobilenetv3_small": (244, "bcde2d45a27d4888"),
    "vgg16": (32, "8d869fc271c12104"),
    "vit_b_16": (152, "a225aad3d62d44e8"),
    "swin_t": (185, "65f2d8a5ac79fe47"),
}


def test_full_state_dict_layout_matches_torchvision(full: tuple[str, nn.Module]) -> None:
    name, model = full
    state = model.state_dict()
    lines = sorted(
        f"{k.replace('in_proj.weight', 'in_proj_weight').replace('in_proj.bias', 'in_proj_bias')}"
        f":{tuple(v.shape)}"
        for k, v in state.items()
    )
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    assert (len(state), digest) == TORCHVISION_STATE_DICT[name]


def test_full_macs_within_5pct_of_published(full: tuple[str, nn.Module]) -> None:
    name, model = full
    gmacs = zoo.count_macs(model, zoo.example_input(name)) / 1e9
    published = zoo.MODELS[name].published_gmacs
    assert abs(gmacs / published - 1) <= 0.05, f"{name}: {gmacs:.4f} GMACs vs {published}"


def test_full_trace_matches_eager(full: tuple[str, nn.Module]) -> None:
    name, model = full
    x = zoo.example_input(name)
    graph_module = _assert_traced_equals_eager(model, x)
    with torch.no_grad():
        assert graph_module(x).shape == (1, 1000)


# --------------------------------------------------------------------------- reduced models


@pytest.mark.parametrize("name", NAMES)
def test_reduced_forward_and_trace(name: str) -> None:
    # Size, not wall time, keeps the reduced variants fast (timings are a benchmark's job).
    model = zoo.build(name, reduced=True)
    x = zoo.example_input(name, batch=2, reduced=True)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 10)
    assert torch.isfinite(y).all()
    _assert_traced_equals_eager(model, x)


@pytest.mark.parametrize("name", NAMES)
def test_reduced_is_much_smaller_than_full(name: str) -> None:
    model = zoo.build(name, reduced=True)
    assert _n_params(model) < zoo.MODELS[name].published_params / 20
    assert zoo.count_macs(model, zoo.example_input(name, reduced=True)) < 2e7


@pytest.mark.parametrize("name", NAMES)
def test_seeded_initialisation_is_deterministic(name: str) -> None:
    rng = torch.get_rng_state()
    a = zoo.build(name, seed=0, reduced=True).state_dict()
    b = zoo.build(name, seed=0, reduced=True).state_dict()
    c = zoo.build(name, seed=1, reduced=True).state_dict()
    assert torch.equal(torch.get_rng_state(), rng)
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2", "mobilenetv3_small", "vgg16"])
def test_relu_family_activations_have_realistic_zeros(name: str) -> None:
    """Random init gives ~half zeros after ReLU-like activations, and no vanishing signal."""
    model = zoo.build(name, reduced=True)
    x = zoo.example_input(name, batch=2, reduced=True)
    fractions: list[float] = []
    scales: list[float] = []

    def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        fractions.append((out == 0).float().mean().item())
        scales.append(out.abs().mean().item())

    # only the feature extractor: the classifiers' N(0, 0.01) linears shrink the signal by design
    body = model if isinstance(model, zoo.ResNet) else model.features
    for module in body.modules():
        if isinstance(module, (nn.ReLU, nn.ReLU6)):
            module.register_forward_hook(hook)
    with torch.no_grad():
        model(x)
    assert fractions
    mean_zeros = sum(fractions) / len(fractions)
    assert 0.25 < mean_zeros < 0.75, mean_zeros
    assert min(scales) > 1e-4, f"{name}: activations vanish ({min(scales):.2e})"


# ------------------------------------------------------------------ transformer specifics


def test_vit_graph_shows_linear_attention_linear() -> None:
    graph_module = torch.fx.symbolic_trace(zoo.build("vit_b_16", reduced=True))
    modules = dict(graph_module.named_modules())
    seq = [
        n
        for n in graph_module.graph.nodes
        if n.op == "call_function" and n.target is F.scaled_dot_product_attention
        or n.op == "call_module" and n.target.endswith(("in_proj", "out_proj"))
    ]
    assert len(seq) == 3 * 2  # two encoder layers
    kinds = [
        "sdpa" if n.op == "call_function" else type(modules[n.target]).__name__ for n in seq
    ]
    assert kinds == ["Linear", "sdpa", "Linear"] * 2
    assert not any(isinstance(m, nn.MultiheadAttention) for m in graph_module.modules())


def test_swin_graph_has_rolls_matmuls_and_no_shape_queries() -> None:
    model = zoo.build("swin_t", reduced=True)
    graph_module = torch.fx.symbolic_trace(model)
    targets = [n.target for n in graph_module.graph.nodes]
    # stages 1-2 (16×16, 8×8 tokens, window 4) shift their second block; stage 3 (4×4) is one
    # window and stage 4 (2×2, padded to one 4×4 window) too, so they do not
    assert targets.count(torch.roll) == 2 * 2  # roll there and back
    assert targets.count("matmul") == 2 * 8
    assert "size" not in targets and getattr not in targets
    blocks = [m for m in model.modules() if isinstance(m, zoo.ShiftedWindowAttention)]
    assert [b.shift_size for b in blocks] == [0, 2, 0, 2, 0, 0, 0, 0]
    assert blocks[-1].pad_b == blocks[-1].pad_r == 2


def test_swin_full_windows_match_torchvision_geometry() -> None:
    model = zoo.swin_t()
    blocks = [m for m in model.modules() if isinstance(m, zoo.ShiftedWindowAttention)]
    assert [b.n_windows for b in blocks] == [64] * 2 + [16] * 2 + [4] * 6 + [1] * 2
    # the 7×7 last stage is one window, so torchvision drops its shift
    assert [b.shift_size for b in blocks] == [0, 3] * 5 + [0, 0]
    assert all(b.pad_b == b.pad_r == 0 for b in blocks)
    assert blocks[1].attn_mask.shape == (1, 64, 1, 49, 49)
    # the mask is built, not learned: not in the state_dict; the position index is, as in torchvision
    keys = model.state_dict().keys()
    assert "features.1.1.attn.relative_position_index" in keys
    assert not any(k.endswith("attn_mask") for k in keys)


def test_count_macs_includes_sdpa_on_every_device() -> None:
    """FlopCounterMode alone counts the CPU SDPA kernel as zero; count_macs must not."""
    dim, heads, seq = 16, 2, 5
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        attention = zoo.SelfAttention(dim, heads, seq).eval()
    x = torch.randn(1, seq, dim)
    expected = seq * dim * 3 * dim + seq * dim * dim + 2 * seq * seq * dim
    assert zoo.count_macs(attention, x) == expected
    assert zoo.count_macs(attention, x.expand(3, seq, dim)) == 3 * expected


def test_vit_attention_matches_multihead_attention() -> None:
    """Same parameters as nn.MultiheadAttention (torchvision's), same outputs."""
    dim, heads, seq = 16, 4, 7
    ours = zoo.SelfAttention(dim, heads, seq).eval()
    ref = nn.MultiheadAttention(dim, heads, batch_first=True).eval()
    assert _n_params(ours) == _n_params(ref)
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.in_proj.weight)
        ref.in_proj_bias.copy_(ours.in_proj.bias)
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
        x = torch.randn(2, seq, dim)
        torch.testing.assert_close(ours(x), ref(x, x, x, need_weights=False)[0])


def test_build_returns_eval_mode() -> None:
    for name in NAMES:
        model = zoo.build(name, seed=3, reduced=True)
        assert not model.training
        assert all(not m.training for m in model.modules())
