"""Branchy zoo models (GoogLeNet, SqueezeNet 1.1, SSDLite-MobileNetV2): published counts, fx tracing,
parallel branches in the extracted and the shipped graphs."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.fx  # noqa: E402
from torch import nn  # noqa: E402

from sparoa_sim.ir.graph import OpGraph  # noqa: E402
from sparoa_sim.hwmodels.kinds import OpKind  # noqa: E402
from sparoa_sim.real.models import zoo  # noqa: E402
from sparoa_sim.real.models.detector import SSDLiteMobileNetV2  # noqa: E402
from sparoa_sim.real.models.extract import extract  # noqa: E402
from sparoa_sim.real.models.googlenet import GoogLeNet  # noqa: E402
from sparoa_sim.real.models.squeezenet import SqueezeNet  # noqa: E402
from sparoa_sim.real.models.tracing import graph_module  # noqa: E402
from sparoa_sim.workloads import load_workload  # noqa: E402

BRANCHY = ("googlenet", "squeezenet1_1", "ssdlite_mobilenetv2")
#: The same, the two larger models marked slow where a test runs them (> 5 s on 2 busy cores).
BRANCHY_TIMED = ("squeezenet1_1",
                 *(pytest.param(n, marks=pytest.mark.slow) for n in ("googlenet", "ssdlite_mobilenetv2")))

#: Published figures (params, GMACs) and where they come from; the two torchvision models match exactly.
PUBLISHED = {
    "googlenet": (6_624_904, 1.498),  # torchvision GoogLeNet_Weights.IMAGENET1K_V1 metadata
    "squeezenet1_1": (1_235_496, 0.349),  # torchvision SqueezeNet1_1_Weights.IMAGENET1K_V1 metadata
    "ssdlite_mobilenetv2": (4_300_000, 0.8),  # Sandler et al. 2018, Table 6, MNet V2 + SSDLite, 320×320
}

#: Operators whose output feeds several consumers none of which depends on another (true parallel branches):
#: GoogLeNet's 9 inception inputs (4 branches each), SqueezeNet's 8 squeezes (2 expands each), and the
#: detector's 6 feature maps (box head, class head, and the next stage on all but the last).
PARALLEL_FANOUTS = {"googlenet": (9, 4), "squeezenet1_1": (8, 2), "ssdlite_mobilenetv2": (6, 3)}


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _outputs(y: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return y if isinstance(y, tuple) else (y,)


def parallel_fanouts(graph: OpGraph) -> dict[int, int]:
    """Operator index → number of its consumers, for operators with ≥ 2 consumers of which at least two are
    unordered (neither is an ancestor of the other)."""
    ancestors: list[int] = []  # bitset of each operator's transitive predecessors
    for op in graph.ops:
        bits = 0
        for d in op.deps:
            bits |= ancestors[d] | (1 << d)
        ancestors.append(bits)
    consumers: dict[int, list[int]] = {}
    for i, op in enumerate(graph.ops):
        for d in op.deps:
            consumers.setdefault(d, []).append(i)
    out: dict[int, int] = {}
    for p, users in consumers.items():
        unordered = any(not (ancestors[b] >> a) & 1 and not (ancestors[a] >> b) & 1
                        for i, a in enumerate(users) for b in users[i + 1:])
        if unordered:
            out[p] = len(users)
    return out


# ---------------------------------------------------------------------------------- registry


def test_branchy_models_are_registered_with_their_shapes() -> None:
    for name in BRANCHY:
        assert name in zoo.MODELS and name in zoo.model_names()
        spec = zoo.MODELS[name]
        assert (spec.published_params, spec.published_gmacs) == PUBLISHED[name]
        assert zoo.resolve_workload(name) == (name, None)
    assert zoo.input_shape("googlenet") == zoo.input_shape("squeezenet1_1") == (1, 3, 224, 224)
    assert zoo.input_shape("ssdlite_mobilenetv2") == (1, 3, 320, 320)
    assert zoo.input_shape("ssdlite_mobilenetv2", reduced=True) == (1, 3, 64, 64)
    assert "Sandler" in zoo.MODELS["ssdlite_mobilenetv2"].published_source
    assert zoo.MODELS["googlenet"].published_source == "torchvision weights metadata"


@pytest.mark.parametrize(("factory", "field"), [(GoogLeNet, "width"), (SqueezeNet, "width"),
                                                (SSDLiteMobileNetV2, "width_mult")])
def test_bad_width_is_a_clear_error(factory, field: str) -> None:
    with pytest.raises(ValueError, match=rf"{field} must be > 0, got -0\.5"):
        factory(**{field: -0.5})


def test_detector_rejects_a_wrong_anchor_list() -> None:
    with pytest.raises(ValueError, match=r"anchors must be 6 positive counts, got \(3, 6\)"):
        SSDLiteMobileNetV2(anchors=(3, 6))


# ------------------------------------------------------------------------- full-size models


@pytest.fixture(scope="module", params=BRANCHY_TIMED)
def full(request: pytest.FixtureRequest) -> tuple[str, nn.Module, int]:
    """A full-size model and its MACs (counted once per model)."""
    model = zoo.build(request.param)
    return request.param, model, zoo.count_macs(model, zoo.example_input(request.param))


def test_full_params_and_macs_within_5pct_of_published(full: tuple[str, nn.Module, int]) -> None:
    name, model, total_macs = full
    params, gmacs = PUBLISHED[name]
    n = _n_params(model)
    macs = total_macs / 1e9
    assert abs(n / params - 1) <= 0.05, f"{name}: {n:,} params vs {params:,}"
    assert abs(macs / gmacs - 1) <= 0.05, f"{name}: {macs:.4f} GMACs vs {gmacs}"
    if name != "ssdlite_mobilenetv2":  # torchvision's own definitions: exactly its parameter count
        assert n == params
    assert not model.training


def test_full_outputs_have_the_published_layout(full: tuple[str, nn.Module, int]) -> None:
    name, model, _ = full
    with torch.no_grad():
        y = _outputs(model(zoo.example_input(name)))
    if name == "ssdlite_mobilenetv2":
        # 3 anchors on the 20×20 map, 6 on 10×10, 5×5, 3×3, 2×2, 1×1: 1200 + 600 + 150 + 54 + 24 + 6
        assert [t.shape for t in y] == [(1, 2034, 4), (1, 2034, 91)]
    else:
        assert [t.shape for t in y] == [(1, 1000)]
    assert all(torch.isfinite(t).all() for t in y)


def test_shipped_graph_is_this_model(full: tuple[str, nn.Module, int]) -> None:
    """The shipped JSON loads, has the model's parameters and MACs, one operator per convolution of the
    model, every operator a call node of the traced model, and kernel counts."""
    name, model, total_macs = full
    g = load_workload(name)
    assert g.name == name and g.input_shape == zoo.input_shape(name)
    assert g.n_params == _n_params(model)
    assert g.total_macs == total_macs
    gm, op_index = graph_module(model, g)  # raises if an operator has no call node
    assert len(op_index) == len(g)
    modules = dict(gm.named_modules())
    convs = sum(1 for n in gm.graph.nodes if n.op == "call_module" and isinstance(modules[str(n.target)], nn.Conv2d))
    assert sum(1 for op in g.ops if op.kind in (OpKind.CONV, OpKind.DWCONV)) == convs
    assert all(op.kernels >= 1 for op in g.ops)
    assert "random initialisation" in g.sparsity_source


# --------------------------------------------------------------------------- reduced models


@pytest.mark.parametrize("name", BRANCHY_TIMED)
def test_reduced_forward_and_trace(name: str) -> None:
    model = zoo.build(name, reduced=True)
    x = zoo.example_input(name, batch=2, reduced=True)
    gm = torch.fx.symbolic_trace(model)  # the default tracer
    with torch.no_grad():
        eager, traced = _outputs(model(x)), _outputs(gm(x))
    assert len(eager) == len(traced)
    for a, b in zip(eager, traced, strict=True):
        assert a.shape[0] == 2 and a.shape[-1] in (4, 10)
        assert torch.isfinite(a).all()
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5 * max(1.0, a.abs().max().item()))
    assert _n_params(model) < PUBLISHED[name][0] / 15
    assert zoo.count_macs(model, zoo.example_input(name, reduced=True)) < 2e7


@pytest.mark.parametrize("name", BRANCHY)
def test_seeded_initialisation_is_deterministic(name: str) -> None:
    rng = torch.get_rng_state()
    a = zoo.build(name, seed=0, reduced=True).state_dict()
    b = zoo.build(name, seed=0, reduced=True).state_dict()
    c = zoo.build(name, seed=1, reduced=True).state_dict()
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize(("name", "layer", "reduced"), [("googlenet", nn.BatchNorm2d, True),
                                                        ("squeezenet1_1", nn.ReLU, True),
                                                        pytest.param("ssdlite_mobilenetv2", nn.ReLU6, False,
                                                                     marks=pytest.mark.slow)])
def test_activations_do_not_vanish(name: str, layer: type[nn.Module], reduced: bool) -> None:
    """Kaiming initialisation keeps a random network's feature maps O(0.1–1) down to the last layer.
    GoogLeNet's ReLU is functional: its batch norms' outputs are hooked instead; SqueezeNet's classifier
    convolution is N(0, 0.01) by design, as torchvision's, so only its features are hooked; the detector is
    checked at full size, where its last maps are 2×2 and 1×1 (a 3×3 depthwise convolution on a 1×1 map sees
    one tap of nine, so the reduced variant's many 1×1 maps shrink the signal at random initialisation)."""
    model = zoo.build(name, reduced=reduced)
    scales: list[float] = []
    for m in getattr(model, "features", model).modules():
        if isinstance(m, layer):
            m.register_forward_hook(lambda module, args, out: scales.append(out.abs().mean().item()))
    with torch.no_grad():
        model(zoo.example_input(name, reduced=reduced))
    assert len(scales) > 10
    assert min(scales) > 2e-2, f"{name}: activations vanish ({min(scales):.2e})"


@pytest.mark.parametrize("name", BRANCHY_TIMED)
def test_reduced_extraction_has_parallel_branches(name: str) -> None:
    model = zoo.build(name, reduced=True)
    g = extract(model, zoo.example_input(name, reduced=True), name=name, calib_batch=2)
    count, width = PARALLEL_FANOUTS[name]
    fanouts = parallel_fanouts(g)
    assert len(fanouts) == count, fanouts
    assert max(fanouts.values()) == width
    concats = [op for op in g.ops if op.kind is OpKind.CONCAT]
    assert len(concats) == {"googlenet": 9, "squeezenet1_1": 8, "ssdlite_mobilenetv2": 2}[name]


# ---------------------------------------------------------------------------- shipped graphs


@pytest.mark.parametrize("name", BRANCHY)
def test_shipped_graphs_have_parallel_branches_and_the_published_counts(name: str) -> None:
    g = load_workload(name)
    count, width = PARALLEL_FANOUTS[name]
    fanouts = parallel_fanouts(g)
    assert len(fanouts) == count and max(fanouts.values()) == width
    params, gmacs = PUBLISHED[name]
    assert g.n_params == pytest.approx(params, rel=0.05)
    assert g.total_macs / 1e9 == pytest.approx(gmacs, rel=0.05)
    expected_ops = {"googlenet": 195, "squeezenet1_1": 64, "ssdlite_mobilenetv2": 245}[name]
    assert len(g) == expected_ops


def test_parallel_fanouts_tells_branches_from_chains() -> None:
    """The helper itself: a diamond is parallel, a residual (one consumer downstream of the other) is not."""
    from sparoa_sim.ir.graph import Op

    def op(name: str, deps: tuple[int, ...]) -> Op:
        return Op(name=name, kind=OpKind.CONV, macs=1.0, flops=2.0, bytes_in=4.0, bytes_out=4.0, bytes_w=4.0,
                  act_sparsity=0.0, w_sparsity=0.0, deps=deps, out_shape=(1,), dtype="float32")

    diamond = OpGraph(name="d", ops=(op("a", ()), op("b", (0,)), op("c", (0,)), op("d", (1, 2))),
                      input_shape=(1,))
    residual = OpGraph(name="r", ops=(op("a", ()), op("b", (0,)), op("c", (0, 1))), input_shape=(1,))
    assert parallel_fanouts(diamond) == {0: 2}
    assert parallel_fanouts(residual) == {}
