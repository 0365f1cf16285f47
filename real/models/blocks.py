"""Building blocks the zoo's families share: conv-BN-activation, squeeze-excitation, MLP,
permute, MobileNet's channel rounding and torchvision's CNN initialisation.

Kept apart so each family file (``resnet``, ``mobilenet``, ``vgg``, ``vit``, ``swin``) holds
only its own architecture; every block keeps torchvision's ``state_dict`` keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = ["ConvBNAct", "MLP", "Permute", "SqueezeExcitation", "init_cnn", "make_activation", "make_divisible"]


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
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
            layers.append(make_activation(activation))
        super().__init__(*layers)
        self.out_channels = out_channels


def make_activation(activation: Callable[..., nn.Module]) -> nn.Module:
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
        self.activation = make_activation(activation)
        self.scale_activation = make_activation(scale_activation)

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


def init_cnn(module: nn.Module, linear_std: float | None) -> None:
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
