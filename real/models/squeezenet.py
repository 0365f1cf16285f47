"""SqueezeNet 1.1 (torchvision.models.SqueezeNet version "1_1", same keys), fx-traceable.

Published figures (torchvision ``SqueezeNet1_1_Weights.IMAGENET1K_V1`` metadata): 1,235,496
parameters and 0.349 GFLOPS (multiply-accumulates) at 224×224. Each fire module squeezes with a
1×1 convolution and expands through two parallel convolutions (1×1 and 3×3) whose outputs are
concatenated. The initialisation is torchvision's (Kaiming-uniform convolutions, N(0, 0.01) final
convolution, zero biases); the only difference is that activations are out of place.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Fire", "SqueezeNet", "squeezenet1_1"]


class Fire(nn.Module):
    """Squeeze (1×1) → two parallel expands (1×1 and 3×3), concatenated (torchvision's ``Fire``)."""

    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, 1)
        self.squeeze_activation = nn.ReLU(inplace=False)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, 1)
        self.expand1x1_activation = nn.ReLU(inplace=False)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=False)
        self.out_channels = expand1x1_planes + expand3x3_planes

    def forward(self, x: Tensor) -> Tensor:
        """Squeeze, then both expands on the squeezed map, concatenated."""
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


#: SqueezeNet 1.1's fire settings (squeeze, expand1x1, expand3x3), "M" a 3×3 stride-2 max-pool.
_FIRES: tuple[tuple[int, int, int] | str, ...] = (
    (16, 64, 64), (16, 64, 64), "M", (32, 128, 128), (32, 128, 128), "M",
    (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256),
)


class SqueezeNet(nn.Module):
    """SqueezeNet 1.1 (torchvision's keys); ``width`` scales every channel count (1.0 is published)."""

    def __init__(self, num_classes: int = 1000, width: float = 1.0, dropout: float = 0.5) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width!r}")

        def ch(c: int) -> int:
            return max(1, int(round(c * width)))

        layers: list[nn.Module] = [nn.Conv2d(3, ch(64), 3, 2), nn.ReLU(inplace=False),
                                   nn.MaxPool2d(3, 2, ceil_mode=True)]
        in_ch = ch(64)
        for setting in _FIRES:
            if setting == "M":
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
                continue
            sq, e1, e3 = setting
            fire = Fire(in_ch, ch(sq), ch(e1), ch(e3))
            layers.append(fire)
            in_ch = fire.out_channels
        self.features = nn.Sequential(*layers)
        final_conv = nn.Conv2d(in_ch, num_classes, 1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), final_conv, nn.ReLU(inplace=False),
                                        nn.AdaptiveAvgPool2d((1, 1)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Image batch (N, 3, H, W) → logits (N, num_classes)."""
        return torch.flatten(self.classifier(self.features(x)), 1)


def squeezenet1_1(num_classes: int = 1000, width: float = 1.0) -> SqueezeNet:
    """SqueezeNet 1.1 (1.24 M parameters, 0.35 GMACs at 224×224)."""
    return SqueezeNet(num_classes, width)
