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

Every model also has a ``reduced`` variant (narrower, shallower where that is cheap, 32×32
inputs, 10 classes) for fast tests. Random initialisation gives the activation sparsity of
random networks (about half zeros after ReLU, almost none after GELU), not of trained ones.

Note on counting MACs: ``torch.utils.flop_counter.FlopCounterMode`` has no formula for the
CPU kernel of ``scaled_dot_product_attention`` and counts it as zero; pass
:func:`flop_counter_mapping` as its ``custom_mapping`` (or use :func:`count_macs`) to count the
attention matmuls on every device, as torchvision's published figures do.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sparoa_sim.real.flops import count_macs, flop_counter_mapping

__all__ = [
    "MODELS",
    "ModelSpec",
    "build",
    "count_macs",
    "example_input",
    "flop_counter_mapping",
    "input_shape",
    "model_names",
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
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "vgg16",
    "vit_b_16",
    "swin_t",
]


# --------------------------------------------------------------------------------------------
# Shared building blocks
# --------------------------------------------------------------------------------------------


def _make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` (MobileNet's rule, as torchvision)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:  # never round down by more than 10 %
        new_v += divisor
    return new_v


class ConvBNAct(nn.Sequential):
    """Conv2d → BatchNorm2d → activation (torchvision's ``Conv2dNormActivation``, same keys)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        dilation: int = 1,
        activation: Callable[[], nn.Module] | None = nn.ReLU,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
    ) -> None:
        padding = (kernel_size - 1) // 2 * dilation
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                dilation=dilation,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum),
        ]
        if activation is not None:
            layers.append(_make_act(activation))
        super().__init__(*layers)
        self.out_channels = out_channels


def _make_act(activation: Callable[..., nn.Module]) -> nn.Module:
    """Instantiate an activation module, out of place where the class has the option."""
    if activation in (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid):
        return activation(inplace=False)
    return activation()


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation gate (torchvision.ops.SqueezeExcitation, same keys)."""

    def __init__(
        self,
        input_channels: int,
        squeeze_channels: int,
        activation: Callable[..., nn.Module] = nn.ReLU,
        scale_activation: Callable[..., nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = _make_act(activation)
        self.scale_activation = _make_act(scale_activation)

    def forward(self, x: Tensor) -> Tensor:
        """Scale each channel of ``x`` by a gate computed from its global average."""
        scale = self.avgpool(x)
        scale = self.fc1(scale)
        scale = self.activation(scale)
        scale = self.fc2(scale)
        scale = self.scale_activation(scale)
        return scale * x


class MLP(nn.Sequential):
    """Linear → GELU → Dropout → Linear → Dropout (torchvision.ops.MLP as ViT and Swin use it)."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0) -> None:
        super().__init__(
            nn.Linear(dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, dim),
            nn.Dropout(dropout),
        )


class Permute(nn.Module):
    """Permute dimensions (torchvision.ops.Permute; a module so Swin's keys keep their indices)."""

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x.permute(dims)``."""
        return torch.permute(x, self.dims)


def _init_cnn(module: nn.Module, linear_std: float | None) -> None:
    """torchvision's CNN initialisation: Kaiming-normal convs, unit BN, N(0, std) linears.

    One deliberate difference: depthwise/grouped convolutions use ``fan_in`` instead of
    torchvision's ``fan_out``. PyTorch computes a depthwise conv's fan_out as channels × k², so
    torchvision's rule shrinks the signal by about √channels at every depthwise conv and a
    randomly initialised MobileNet's activations fall to ~1e-9 (below fp16's range) by the last
    stage; with fan_in they stay O(0.1–1), so measured sparsity and numerics stay meaningful.
    ``linear_std=None`` keeps PyTorch's default ``nn.Linear`` initialisation (as ResNet does).
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            mode = "fan_in" if m.groups > 1 else "fan_out"
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------------------------
# ResNet
# --------------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with a residual connection (ResNet-18/34)."""

    expansion: int = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """Residual block forward pass."""
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1 → 3×3 (strided, "ResNet v1.5") → 1×1 bottleneck with a residual (ResNet-50+)."""

    expansion: int = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        width = planes
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=False)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """Bottleneck block forward pass."""
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet (torchvision.models.ResNet, same keys); ``base_channels`` scales every stage."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        base_channels: int = 64,
    ) -> None:
        super().__init__()
        self.inplanes = base_channels
        self.conv1 = nn.Conv2d(3, base_channels, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_channels)
        self.relu = nn.ReLU(inplace=False)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, base_channels, layers[0], 1)
        self.layer2 = self._make_layer(block, base_channels * 2, layers[1], 2)
        self.layer3 = self._make_layer(block, base_channels * 4, layers[2], 2)
        self.layer4 = self._make_layer(block, base_channels * 8, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(base_channels * 8 * block.expansion, num_classes)
        _init_cnn(self, linear_std=None)

    def _make_layer(
        self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int, stride: int
    ) -> nn.Sequential:
        downsample: nn.Module | None = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers: list[nn.Module] = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Image batch (N, 3, H, W) → logits (N, num_classes)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def resnet18(num_classes: int = 1000, base_channels: int = 64) -> ResNet:
    """ResNet-18 (11.7 M parameters, 1.81 GMACs at 224×224)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, base_channels)


def resnet50(num_classes: int = 1000, base_channels: int = 64) -> ResNet:
    """ResNet-50 v1.5 (25.6 M parameters, 4.09 GMACs at 224×224)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, base_channels)


# --------------------------------------------------------------------------------------------
# MobileNet V2 / V3
# --------------------------------------------------------------------------------------------


class InvertedResidualV2(nn.Module):
    """MobileNetV2 block: 1×1 expand → 3×3 depthwise → 1×1 linear projection (+ residual)."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.stride = stride
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNAct(inp, hidden, 1, activation=nn.ReLU6))
        layers += [
            ConvBNAct(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: Tensor) -> Tensor:
        """Block forward pass."""
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (torchvision.models.MobileNetV2, same keys)."""

    SETTINGS: tuple[tuple[int, int, int, int], ...] = (
        # expand ratio t, channels c, repeats n, stride s
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )

    def __init__(
        self,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        last_channel: int | None = None,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        input_channel = _make_divisible(32 * width_mult)
        if last_channel is None:
            last_channel = _make_divisible(1280 * max(1.0, width_mult))
        self.last_channel = last_channel
        features: list[nn.Module] = [ConvBNAct(3, input_channel, 3, 2, activation=nn.ReLU6)]
        for t, c, n, s in self.SETTINGS:
            output_channel = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(
                    InvertedResidualV2(input_channel, output_channel, s if i == 0 else 1, t)
                )
                input_channel = output_channel
        features.append(ConvBNAct(input_channel, last_channel, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_channel, num_classes))
        _init_cnn(self, linear_std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        """Image batch (N, 3, H, W) → logits (N, num_classes)."""
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier(x)


def mobilenet_v2(
    num_classes: int = 1000, width_mult: float = 1.0, last_channel: int | None = None
) -> MobileNetV2:
    """MobileNetV2 (3.5 M parameters, 0.30 GMACs at 224×224)."""
    return MobileNetV2(num_classes, width_mult, last_channel)


@dataclass(frozen=True)
class _BneckConf:
    """One MobileNetV3 block setting, channel counts already scaled by the width multiplier."""

    input_channels: int
    kernel: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    use_hs: bool
    stride: int


class InvertedResidualV3(nn.Module):
    """MobileNetV3 block: expand → depthwise → optional SE → project (+ residual)."""

    def __init__(self, cnf: _BneckConf) -> None:
        super().__init__()
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        act: Callable[..., nn.Module] = nn.Hardswish if cnf.use_hs else nn.ReLU
        bn = {"bn_eps": 0.001, "bn_momentum": 0.01}
        layers: list[nn.Module] = []
        if cnf.expanded_channels != cnf.input_channels:
            layers.append(
                ConvBNAct(cnf.input_channels, cnf.expanded_channels, 1, activation=act, **bn)
            )
        layers.append(
            ConvBNAct(
                cnf.expanded_channels,
                cnf.expanded_channels,
                cnf.kernel,
                cnf.stride,
                groups=cnf.expanded_channels,
                activation=act,
                **bn,
            )
        )
        if cnf.use_se:
            squeeze = _make_divisible(cnf.expanded_channels // 4, 8)
            layers.append(
                SqueezeExcitation(cnf.expanded_channels, squeeze, scale_activation=nn.Hardsigmoid)
            )
        layers.append(
            ConvBNAct(cnf.expanded_channels, cnf.out_channels, 1, activation=None, **bn)
        )
        self.block = nn.Sequential(*layers)
        self.out_channels = cnf.out_channels

    def forward(self, x: Tensor) -> Tensor:
        """Block forward pass."""
        if self.use_res_connect:
            return self.block(x) + x
        return self.block(x)


class MobileNetV3(nn.Module):
    """MobileNetV3 (torchvision.models.MobileNetV3, same keys)."""

    def __init__(
        self,
        settings: Sequence[_BneckConf],
        last_channel: int,
        num_classes: int = 1000,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        bn = {"bn_eps": 0.001, "bn_momentum": 0.01}
        first = settings[0].input_channels
        layers: list[nn.Module] = [ConvBNAct(3, first, 3, 2, activation=nn.Hardswish, **bn)]
        layers += [InvertedResidualV3(cnf) for cnf in settings]
        lastconv_in = settings[-1].out_channels
        lastconv_out = 6 * lastconv_in
        layers.append(ConvBNAct(lastconv_in, lastconv_out, 1, activation=nn.Hardswish, **bn))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(lastconv_out, last_channel),
            nn.Hardswish(inplace=False),
            nn.Dropout(dropout),
            nn.Linear(last_channel, num_classes),
        )
        _init_cnn(self, linear_std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        """Image batch (N, 3, H, W) → logits (N, num_classes)."""
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier(x)


def mobilenet_v3_small(num_classes: int = 1000, width_mult: float = 1.0) -> MobileNetV3:
    """MobileNetV3-Small (2.5 M parameters, 0.06 GMACs at 224×224)."""

    def ch(c: int) -> int:
        return _make_divisible(c * width_mult, 8)

    table = (
        # in, kernel, expanded, out, SE, hard-swish, stride
        (16, 3, 16, 16, True, False, 2),
        (16, 3, 72, 24, False, False, 2),
        (24, 3, 88, 24, False, False, 1),
        (24, 5, 96, 40, True, True, 2),
        (40, 5, 240, 40, True, True, 1),
        (40, 5, 240, 40, True, True, 1),
        (40, 5, 120, 48, True, True, 1),
        (48, 5, 144, 48, True, True, 1),
        (48, 5, 288, 96, True, True, 2),
        (96, 5, 576, 96, True, True, 1),
        (96, 5, 576, 96, True, True, 1),
    )
    settings = [_BneckConf(ch(i), k, ch(e), ch(o), se, hs, s) for i, k, e, o, se, hs, s in table]
    return MobileNetV3(settings, ch(1024), num_classes)


# --------------------------------------------------------------------------------------------
# VGG
# --------------------------------------------------------------------------------------------


class VGG(nn.Module):
    """VGG without batch norm (torchvision.models.VGG, same keys).

    ``width`` scales the conv channels, ``hidden`` the classifier width and ``pool_size`` the
    adaptive pooling grid (7 at full size; 1 for the 32×32 reduced variant).
    """

    def __init__(
        self,
        cfg: Sequence[int | str],
        num_classes: int = 1000,
        width: float = 1.0,
        hidden: int = 4096,
        pool_size: int = 7,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                out = max(1, int(int(v) * width))
                layers += [nn.Conv2d(in_channels, out, 3, padding=1), nn.ReLU(inplace=False)]
                in_channels = out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = nn.Sequential(
            nn.Linear(in_channels * pool_size * pool_size, hidden),
            nn.ReLU(inplace=False),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=False),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        _init_cnn(self, linear_std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        """Image batch (N, 3, H, W) → logits (N, num_classes)."""
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier(x)


_VGG16_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip


def vgg16(
    num_classes: int = 1000, width: float = 1.0, hidden: int = 4096, pool_size: int = 7
) -> VGG:
    """VGG-16 (138 M parameters, 15.47 GMACs at 224×224)."""
    return VGG(_VGG16_CFG, num_classes, width, hidden, pool_size)


# --------------------------------------------------------------------------------------------
# Vision Transformer
# --------------------------------------------------------------------------------------------


class SelfAttention(nn.Module):
    """Multi-head self-attention as in_proj (q, k, v) → SDPA → out_proj, for a fixed length.

    Same parameters as ``nn.MultiheadAttention`` (in_proj weight/bias + out_proj), but visible
    to fx as linear / attention / linear nodes.
    """

    def __init__(self, dim: int, num_heads: int, seq_len: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.seq_len = seq_len
        self.dim = dim
        self.in_proj = nn.Linear(dim, 3 * dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """(N, L, D) → (N, L, D)."""
        qkv = self.in_proj(x).reshape(-1, self.seq_len, 3, self.num_heads, self.head_dim)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(-1, self.seq_len, self.dim)
        return self.out_proj(out)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x)) (torchvision keys)."""

    def __init__(
        self, dim: int, num_heads: int, mlp_dim: int, seq_len: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = SelfAttention(dim, num_heads, seq_len)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLP(dim, mlp_dim, dropout)

    def forward(self, x: Tensor) -> Tensor:
        """(N, L, D) → (N, L, D)."""
        y = self.dropout(self.self_attention(self.ln_1(x)))
        x = x + y
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    """Position embedding + stack of encoder blocks + final LayerNorm (torchvision keys)."""

    def __init__(
        self,
        seq_len: int,
        num_layers: int,
        num_heads: int,
        dim: int,
        mlp_dim: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_len, dim).normal_(std=0.02))
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(
            OrderedDict(
                (f"encoder_layer_{i}", EncoderBlock(dim, num_heads, mlp_dim, seq_len, dropout))
                for i in range(num_layers)
            )
        )
        self.ln = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        """(N, L, D) → (N, L, D)."""
        return self.ln(self.layers(self.dropout(x + self.pos_embedding)))


class VisionTransformer(nn.Module):
    """ViT (torchvision.models.VisionTransformer); the token count is fixed by ``img_size``."""

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        num_layers: int = 12,
        num_heads: int = 12,
        hidden_dim: int = 768,
        mlp_dim: int = 3072,
        num_classes: int = 1000,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"img_size {img_size} is not divisible by patch_size {patch_size}")
        self.img_size = img_size
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.conv_proj = nn.Conv2d(3, hidden_dim, patch_size, patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        seq_len = (img_size // patch_size) ** 2 + 1
        self.seq_len = seq_len
        self.encoder = Encoder(seq_len, num_layers, num_heads, hidden_dim, mlp_dim, dropout)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(hidden_dim, num_classes)))

        fan_in = 3 * patch_size * patch_size
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
        nn.init.zeros_(self.conv_proj.bias)
        for m in self.modules():
            if isinstance(m, MLP):
                for lin in (m[0], m[3]):
                    nn.init.xavier_uniform_(lin.weight)
                    nn.init.normal_(lin.bias, std=1e-6)
            elif isinstance(m, SelfAttention):
                nn.init.xavier_uniform_(m.in_proj.weight)
                nn.init.zeros_(m.in_proj.bias)
                nn.init.zeros_(m.out_proj.bias)
        # torchvision zeroes the head; a random head keeps the logits informative.
        nn.init.trunc_normal_(self.heads.head.weight, std=0.02)
        nn.init.zeros_(self.heads.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Image batch (N, 3, img_size, img_size) → logits (N, num_classes)."""
        x = self.conv_proj(x)  # N, D, h, w
        x = torch.flatten(x, 2).transpose(1, 2)  # N, h*w, D
        cls = self.class_token.expand_as(x[:, :1, :])  # N, 1, D without querying shapes
        x = torch.cat([cls, x], dim=1)
        x = self.encoder(x)
        return self.heads(x[:, 0])


def vit_b_16(
    img_size: int = 224,
    patch_size: int = 16,
    num_layers: int = 12,
    num_heads: int = 12,
    hidden_dim: int = 768,
    mlp_dim: int = 3072,
    num_classes: int = 1000,
) -> VisionTransformer:
    """ViT-B/16 (86.6 M parameters, 17.56 GMACs at 224×224)."""
    return VisionTransformer(
        img_size, patch_size, num_layers, num_heads, hidden_dim, mlp_dim, num_classes
    )


# --------------------------------------------------------------------------------------------
# Swin Transformer
# --------------------------------------------------------------------------------------------


def _relative_position_index(window: int) -> Tensor:
    """Flattened (window², window²) index into the relative-position bias table."""
    coords = torch.stack(
        torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    ).flatten(1)  # 2, N
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()  # N, N, 2
    rel[:, :, 0] += window - 1
    rel[:, :, 1] += window - 1
    rel[:, :, 0] *= 2 * window - 1
    return rel.sum(-1).flatten()


def _shift_mask(pad_h: int, pad_w: int, window: int, shift: int) -> Tensor:
    """Attention mask (1, windows, 1, N, N) keeping shifted windows from mixing regions."""
    img = torch.zeros(pad_h, pad_w)
    slices = ((0, -window), (-window, -shift), (-shift, None))
    count = 0
    for h0, h1 in slices:
        for w0, w1 in slices:
            img[h0:h1, w0:w1] = count
            count += 1
    n_windows = (pad_h // window) * (pad_w // window)
    img = img.view(pad_h // window, window, pad_w // window, window)
    img = img.permute(0, 2, 1, 3).reshape(n_windows, window * window)
    mask = img.unsqueeze(1) - img.unsqueeze(2)
    mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
    return mask.unsqueeze(1).unsqueeze(0)


class ShiftedWindowAttention(nn.Module):
    """Swin (shifted) window attention for a fixed feature-map size (torchvision keys).

    Padding, the effective shift, the number of windows and the shift mask are decided here,
    from ``input_resolution``, exactly as torchvision decides them at run time.
    """

    def __init__(
        self,
        dim: int,
        window_size: int,
        shift_size: int,
        num_heads: int,
        input_resolution: tuple[int, int],
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        h, w = input_resolution
        ws = window_size
        self.dim = dim
        self.window_size = ws
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.height, self.width = h, w
        self.pad_b = (ws - h % ws) % ws
        self.pad_r = (ws - w % ws) % ws
        self.pad_h, self.pad_w = h + self.pad_b, w + self.pad_r
        # no shift where one window covers the (padded) map, as torchvision
        self.shift_size = 0 if ws >= self.pad_h or ws >= self.pad_w else shift_size
        if self.shift_size and (ws >= self.pad_h) != (ws >= self.pad_w):
            raise ValueError("non-square shifted windows are not supported")
        self.n_windows = (self.pad_h // ws) * (self.pad_w // ws)
        self.n_tokens = ws * ws

        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * ws - 1) * (2 * ws - 1), num_heads)
        )
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", _relative_position_index(ws))
        self.attn_mask: Tensor | None
        if self.shift_size:
            self.register_buffer(
                "attn_mask", _shift_mask(self.pad_h, self.pad_w, ws, self.shift_size), False
            )
        else:
            self.attn_mask = None

    def forward(self, x: Tensor) -> Tensor:
        """(N, H, W, C) → (N, H, W, C)."""
        ws, c, nt, nh = self.window_size, self.dim, self.n_tokens, self.num_heads
        if self.pad_b or self.pad_r:
            x = F.pad(x, (0, 0, 0, self.pad_r, 0, self.pad_b))
        if self.shift_size:
            x = torch.roll(x, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
        # partition into windows: (N * windows, ws*ws, C)
        x = x.view(-1, self.pad_h // ws, ws, self.pad_w // ws, ws, c)
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(-1, nt, c)
        qkv = self.qkv(x).reshape(-1, nt, 3, nh, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q = q * self.head_dim**-0.5
        attn = q.matmul(k.transpose(-2, -1))
        bias = self.relative_position_bias_table[self.relative_position_index]
        bias = bias.view(nt, nt, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        attn = attn + bias
        if self.attn_mask is not None:
            attn = attn.view(-1, self.n_windows, nh, nt, nt) + self.attn_mask
            attn = attn.view(-1, nh, nt, nt)
        attn = F.softmax(attn, dim=-1)
        x = attn.matmul(v).transpose(1, 2).reshape(-1, nt, c)
        x = self.proj(x)
        # reverse the partition
        x = x.view(-1, self.pad_h // ws, self.pad_w // ws, ws, ws, c)
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(-1, self.pad_h, self.pad_w, c)
        if self.shift_size:
            x = torch.roll(x, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        if self.pad_b or self.pad_r:
            x = x[:, : self.height, : self.width, :].contiguous()
        return x


class SwinTransformerBlock(nn.Module):
    """x + attn(norm(x)), then x + mlp(norm(x)), channels last (torchvision keys)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shift_size: int,
        input_resolution: tuple[int, int],
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = ShiftedWindowAttention(
            dim, window_size, shift_size, num_heads, input_resolution
        )
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        """(N, H, W, C) → (N, H, W, C)."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2×2 neighbourhood concat → LayerNorm → Linear(4C, 2C): halves H and W (torchvision keys)."""

    def __init__(self, dim: int, input_resolution: tuple[int, int]) -> None:
        super().__init__()
        self.pad_h = input_resolution[0] % 2
        self.pad_w = input_resolution[1] % 2
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, eps=1e-5)

    def forward(self, x: Tensor) -> Tensor:
        """(N, H, W, C) → (N, ⌈H/2⌉, ⌈W/2⌉, 2C)."""
        if self.pad_h or self.pad_w:
            x = F.pad(x, (0, 0, 0, self.pad_w, 0, self.pad_h))
        x0 = x[..., 0::2, 0::2, :]
        x1 = x[..., 1::2, 0::2, :]
        x2 = x[..., 0::2, 1::2, :]
        x3 = x[..., 1::2, 1::2, :]
        x = torch.cat([x0, x1, x2, x3], -1)
        return self.reduction(self.norm(x))


class SwinTransformer(nn.Module):
    """Swin Transformer v1 (torchvision.models.SwinTransformer, same keys; no stochastic depth).

    Every stage's feature-map size follows from ``img_size`` at construction, so the forward
    pass has no shape-dependent control flow.
    """

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 4,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Sequential(
                nn.Conv2d(3, embed_dim, patch_size, patch_size),
                Permute([0, 2, 3, 1]),
                nn.LayerNorm(embed_dim, eps=1e-5),
            )
        ]
        res = (img_size // patch_size, img_size // patch_size)
        dim = embed_dim
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            layers.append(
                nn.Sequential(
                    *(
                        SwinTransformerBlock(
                            dim, heads, window_size, 0 if j % 2 == 0 else window_size // 2,
                            res, mlp_ratio,
                        )  # fmt: skip
                        for j in range(depth)
                    )
                )
            )
            if i < len(depths) - 1:
                layers.append(PatchMerging(dim, res))
                res = ((res[0] + 1) // 2, (res[1] + 1) // 2)
                dim *= 2
        self.features = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        self.permute = Permute([0, 3, 1, 2])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.head = nn.Linear(dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Image batch (N, 3, img_size, img_size) → logits (N, num_classes)."""
        x = self.permute(self.norm(self.features(x)))
        return self.head(self.flatten(self.avgpool(x)))


def swin_t(
    img_size: int = 224,
    patch_size: int = 4,
    embed_dim: int = 96,
    depths: Sequence[int] = (2, 2, 6, 2),
    num_heads: Sequence[int] = (3, 6, 12, 24),
    window_size: int = 7,
    num_classes: int = 1000,
) -> SwinTransformer:
    """Swin-T (28.3 M parameters, 4.49 GMACs at 224×224)."""
    return SwinTransformer(
        img_size, patch_size, embed_dim, depths, num_heads, window_size, 4.0, num_classes
    )


# --------------------------------------------------------------------------------------------
# Registry and public helpers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """One zoo entry: how to build it, its batch-1 input shapes and torchvision's published counts.

    ``published_gmacs`` is torchvision's "GFLOPS" figure, which counts multiply-accumulates, to
    the three decimals of its weights' ``_ops`` metadata (the docs table rounds to two, which
    for MobileNetV3-Small turns 0.057 into 0.06, a 5 % difference).
    ``reduced_kwargs`` are the factory arguments of the small variant used by fast tests.
    """

    name: str
    factory: Callable[..., nn.Module]
    input_shape: tuple[int, ...]
    published_params: int
    published_gmacs: float
    reduced_kwargs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    reduced_input_shape: tuple[int, ...] = (1, 3, 32, 32)

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
    """Batch-1 input shape (1, 3, H, W) of a zoo model."""
    spec = _spec(name)
    return spec.reduced_input_shape if reduced else spec.input_shape


def example_input(name: str, *, batch: int = 1, reduced: bool = False, seed: int = 0) -> Tensor:
    """A seeded standard-normal input batch for a zoo model (global RNG untouched)."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    shape = (batch, *input_shape(name, reduced)[1:])
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen)


