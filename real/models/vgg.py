"""VGG-16 without batch norm (torchvision.models.VGG, same keys), fx-traceable."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from sparoa_sim.real.models.blocks import init_cnn

__all__ = ["VGG", "vgg16"]


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
        init_cnn(self, linear_std=0.01)

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
