"""MobileNetV2 and MobileNetV3-Small (torchvision's definitions, same keys), fx-traceable.

Depthwise convolutions are Kaiming-initialised with ``fan_in`` (see :func:`~sparoa_sim.real.models.blocks.init_cnn`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sparoa_sim.real.models.blocks import ConvBNAct, SqueezeExcitation, init_cnn, make_divisible

__all__ = [
    "InvertedResidualV2",
    "InvertedResidualV3",
    "MobileNetV2",
    "MobileNetV3",
    "mobilenet_v2",
    "mobilenet_v3_small",
]


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
        input_channel = make_divisible(32 * width_mult)
        if last_channel is None:
            last_channel = make_divisible(1280 * max(1.0, width_mult))
        self.last_channel = last_channel
        features: list[nn.Module] = [ConvBNAct(3, input_channel, 3, 2, activation=nn.ReLU6)]
        for t, c, n, s in self.SETTINGS:
            output_channel = make_divisible(c * width_mult)
            for i in range(n):
                features.append(
                    InvertedResidualV2(input_channel, output_channel, s if i == 0 else 1, t)
                )
                input_channel = output_channel
        features.append(ConvBNAct(input_channel, last_channel, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_channel, num_classes))
        init_cnn(self, linear_std=0.01)

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
            squeeze = make_divisible(cnf.expanded_channels // 4, 8)
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
        init_cnn(self, linear_std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        """Image batch (N, 3, H, W) → logits (N, num_classes)."""
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier(x)


def mobilenet_v3_small(num_classes: int = 1000, width_mult: float = 1.0) -> MobileNetV3:
    """MobileNetV3-Small (2.5 M parameters, 0.06 GMACs at 224×224)."""

    def ch(c: int) -> int:
        return make_divisible(c * width_mult, 8)

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
