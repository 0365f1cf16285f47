"""The shipped model zoo, in plain PyTorch (no torchvision).

Seven image classifiers, architecturally identical to torchvision's reference definitions (same
layers, same parameter counts, same MACs, and for the CNNs and Swin the same ``state_dict`` keys),
rewritten so that every one of them traces with ``torch.fx.symbolic_trace`` and the default
tracer: shapes that torchvision computes at run time (Swin's window padding, shifted-window
masks and relative-position index; ViT's sequence length) are fixed at construction from the
``img_size`` given to the constructor, and attention is spelled out (linear → attention → linear)
instead of hidden in ``nn.MultiheadAttention``.

Deliberate differences from torchvision, none of which changes parameters or MACs:

- activations are never in-place (``inplace=False``), so the fx graph has no aliasing;
- stochastic depth (Swin) is left out: it is the identity at inference;
- depthwise convolutions are Kaiming-initialised with ``fan_in``, not torchvision's ``fan_out``,
  which makes a random MobileNet's activations vanish (~1e-9) by the last stage;
- ViT's classification head is initialised with a truncated normal (std 0.02) instead of zeros,
  so that randomly initialised models give non-trivial outputs;
- ViT's fused input projection is an ``nn.Linear`` named ``in_proj``: torchvision's
  ``self_attention.in_proj_weight`` / ``in_proj_bias`` are ``self_attention.in_proj.weight`` /
  ``.bias`` here.

Three branchy models follow, for the placements that run parallel branches side by side: GoogLeNet
and SqueezeNet 1.1 (torchvision's inference definitions, same parameters and MACs; ``googlenet``,
``squeezenet``) and SSDLite on MobileNetV2, a multi-scale detector (``detector``; held to the
MobileNetV2 paper's figures, torchvision has no such model).

Every model also has a ``reduced`` variant (narrower, shallower where that is cheap, 32×32
inputs (64×64 for the detector), 10 classes) for fast tests. Random initialisation gives the
activation sparsity of random networks (about half zeros after ReLU, almost none after GELU), not
of trained ones.

Note on counting MACs: ``torch.utils.flop_counter.FlopCounterMode`` has no formula for the
CPU kernel of ``scaled_dot_product_attention`` and counts it as zero; pass
:func:`flop_counter_mapping` as its ``custom_mapping`` (or use :func:`count_macs`) to count the
attention matmuls on every device, as torchvision's published figures do.

This module is the registry (:data:`MODELS`, :func:`build`, :func:`input_shape`,
:func:`example_input`, :func:`resolve_workload`); the architectures live one family per module
(``resnet``, ``mobilenet``, ``vgg``, ``vit``, ``swin``, ``googlenet``, ``squeezenet``, ``detector``,
shared parts in ``blocks``) and every class and factory is re-exported here under its old name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn

from sparoa_sim.errors import GraphError
from sparoa_sim.real.models.blocks import MLP, ConvBNAct, Permute, SqueezeExcitation
from sparoa_sim.real.models.detector import SSDLiteHead, SSDLiteMobileNetV2, ssdlite_mobilenet_v2
from sparoa_sim.real.models.flops import count_macs, flop_counter_mapping
from sparoa_sim.real.models.googlenet import BasicConv2d, GoogLeNet, Inception, googlenet
from sparoa_sim.real.models.mobilenet import (
    InvertedResidualV2,
    InvertedResidualV3,
    MobileNetV2,
    MobileNetV3,
    mobilenet_v2,
    mobilenet_v3_small,
)
from sparoa_sim.real.models.resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet50
from sparoa_sim.real.models.squeezenet import Fire, SqueezeNet, squeezenet1_1
from sparoa_sim.real.models.swin import (
    PatchMerging,
    ShiftedWindowAttention,
    SwinTransformer,
    SwinTransformerBlock,
    swin_t,
)
from sparoa_sim.real.models.vgg import VGG, vgg16
from sparoa_sim.real.models.vit import Encoder, EncoderBlock, SelfAttention, VisionTransformer, vit_b_16

__all__ = [
    "MODELS",
    "ModelSpec",
    "build",
    "count_macs",
    "example_input",
    "flop_counter_mapping",
    "input_shape",
    "model_names",
    "resolve_workload",
    # building blocks and model classes
    "ConvBNAct",
    "SqueezeExcitation",
    "InvertedResidualV2",
    "InvertedResidualV3",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "MobileNetV2",
    "MobileNetV3",
    "VGG",
    "MLP",
    "Permute",
    "SelfAttention",
    "EncoderBlock",
    "Encoder",
    "VisionTransformer",
    "ShiftedWindowAttention",
    "SwinTransformerBlock",
    "PatchMerging",
    "SwinTransformer",
    "BasicConv2d",
    "Inception",
    "GoogLeNet",
    "Fire",
    "SqueezeNet",
    "SSDLiteHead",
    "SSDLiteMobileNetV2",
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "vgg16",
    "vit_b_16",
    "swin_t",
    "googlenet",
    "squeezenet1_1",
    "ssdlite_mobilenet_v2",
]

_PRUNED = re.compile(r"^(?P<base>.+)_pruned(?P<pct>\d{1,2})$")


@dataclass(frozen=True)
class ModelSpec:
    """One zoo entry: how to build it, its batch-1 input shapes and its published counts.

    ``published_gmacs`` is torchvision's "GFLOPS" figure, which counts multiply-accumulates, to
    the three decimals of its weights' ``_ops`` metadata (the docs table rounds to two, which
    for MobileNetV3-Small turns 0.057 into 0.06, a 5 % difference); ``published_source`` names
    where both figures come from when it is not torchvision.
    ``reduced_kwargs`` are the factory arguments of the small variant used by fast tests.
    """

    name: str
    factory: Callable[..., nn.Module]
    input_shape: tuple[int, ...]
    published_params: int
    published_gmacs: float
    reduced_kwargs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    reduced_input_shape: tuple[int, ...] = (1, 3, 32, 32)
    published_source: str = "torchvision weights metadata"

    def __post_init__(self) -> None:
        object.__setattr__(self, "reduced_kwargs", MappingProxyType(dict(self.reduced_kwargs)))


MODELS: Mapping[str, ModelSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            ModelSpec(
                "resnet18", resnet18, (1, 3, 224, 224), 11_689_512, 1.814,
                {"num_classes": 10, "base_channels": 8},
            ),
            ModelSpec(
                "resnet50", resnet50, (1, 3, 224, 224), 25_557_032, 4.089,
                {"num_classes": 10, "base_channels": 8},
            ),
            ModelSpec(
                "mobilenetv2", mobilenet_v2, (1, 3, 224, 224), 3_504_872, 0.301,
                {"num_classes": 10, "width_mult": 0.25, "last_channel": 128},
            ),
            ModelSpec(
                "mobilenetv3_small", mobilenet_v3_small, (1, 3, 224, 224), 2_542_856, 0.057,
                {"num_classes": 10, "width_mult": 0.25},
            ),
            ModelSpec(
                "vgg16", vgg16, (1, 3, 224, 224), 138_357_544, 15.47,
                {"num_classes": 10, "width": 0.125, "hidden": 64, "pool_size": 1},
            ),
            ModelSpec(
                "vit_b_16", vit_b_16, (1, 3, 224, 224), 86_567_656, 17.564,
                {"img_size": 32, "patch_size": 8, "num_layers": 2, "num_heads": 2,
                 "hidden_dim": 32, "mlp_dim": 64, "num_classes": 10},
            ),
            ModelSpec(
                "swin_t", swin_t, (1, 3, 224, 224), 28_288_354, 4.491,
                {"img_size": 32, "patch_size": 2, "embed_dim": 16, "depths": (2, 2, 2, 2),
                 "num_heads": (1, 2, 4, 8), "window_size": 4, "num_classes": 10},
            ),
            ModelSpec(
                "googlenet", googlenet, (1, 3, 224, 224), 6_624_904, 1.498,
                {"num_classes": 10, "width": 0.125},
            ),
            ModelSpec(
                "squeezenet1_1", squeezenet1_1, (1, 3, 224, 224), 1_235_496, 0.349,
                {"num_classes": 10, "width": 0.25},
            ),
            ModelSpec(
                "ssdlite_mobilenetv2", ssdlite_mobilenet_v2, (1, 3, 320, 320), 4_300_000, 0.8,
                {"num_classes": 10, "width_mult": 0.25, "last_channel": 128},
                reduced_input_shape=(1, 3, 64, 64),
                published_source="Sandler et al. 2018 (MobileNetV2), Table 6: MNet V2 + SSDLite at 320x320",
            ),
        )
    }
)  # fmt: skip
"""The shipped models by workload name (lower case, underscores)."""


def model_names() -> tuple[str, ...]:
    """Names of the shipped models, in registry order."""
    return tuple(MODELS)


def _spec(name: str) -> ModelSpec:
    """Look a model up, with a clear error for unknown names."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r} (known: {', '.join(MODELS)})") from None


def build(name: str, *, seed: int = 0, reduced: bool = False) -> nn.Module:
    """Build a zoo model in eval mode, initialised deterministically from ``seed``.

    The global RNG state is left as it was (the seeding happens inside ``fork_rng``).
    """
    spec = _spec(name)
    kwargs = dict(spec.reduced_kwargs) if reduced else {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = spec.factory(**kwargs)
    return model.eval()


def input_shape(name: str, reduced: bool = False) -> tuple[int, ...]:
    """Batch-1 input shape (1, 3, H, W) of a zoo model (224×224 but for the 320×320 detector)."""
    spec = _spec(name)
    return spec.reduced_input_shape if reduced else spec.input_shape


def example_input(name: str, *, batch: int = 1, reduced: bool = False, seed: int = 0) -> Tensor:
    """A seeded standard-normal input batch for a zoo model (global RNG untouched)."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    shape = (batch, *input_shape(name, reduced)[1:])
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen)


def resolve_workload(name: str) -> tuple[str, float | None]:
    """Zoo model and pruning level of a workload name (``resnet50_pruned80`` → resnet50, 0.8)."""
    if name in MODELS:
        return name, None
    m = _PRUNED.match(name)
    if m and m.group("base") in MODELS:
        return m.group("base"), int(m.group("pct")) / 100.0
    raise GraphError(f"unknown workload {name!r} (known: {', '.join(MODELS)}, and NAME_prunedNN)")
