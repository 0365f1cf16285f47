"""GoogLeNet (Inception v1; torchvision.models.GoogLeNet at inference, same keys), fx-traceable.

The inference configuration of torchvision's ``googlenet``: ``aux_logits=False`` (the two
auxiliary classifiers exist only for training) and ``transform_input=False``. Published figures
(torchvision ``GoogLeNet_Weights.IMAGENET1K_V1`` metadata): 6,624,904 parameters and 1.498 GFLOPS
(multiply-accumulates) at 224×224. Each inception block is four parallel branches (1×1; 1×1→3×3;
1×1→3×3, torchvision's "5×5" branch, kept as torchvision builds it; 3×3 max-pool→1×1) whose
outputs are concatenated — the branchy structure hybrid placement can run side by side.

Differences from torchvision, none of which changes parameters or MACs: the ReLU is out of place,
and convolutions are Kaiming-initialised (:func:`~sparoa_sim.real.models.blocks.init_cnn`) instead
of torchvision's truncated N(0, 0.01), which makes a random network's activations vanish through
eval-mode batch norms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sparoa_sim.real.models.blocks import init_cnn

__all__ = ["BasicConv2d", "GoogLeNet", "Inception", "googlenet"]


class BasicConv2d(nn.Module):
    """Conv2d (no bias) → BatchNorm2d (eps 0.001) → ReLU (torchvision's GoogLeNet block, same keys)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        """Conv, batch norm, ReLU."""
        return F.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four parallel branches concatenated along channels (torchvision's ``Inception``)."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, 1), BasicConv2d(ch3x3red, ch3x3, 3, padding=1))
        # torchvision's "5×5" branch is a 3×3 convolution (its documented known issue); kept for equal counts
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, 1), BasicConv2d(ch5x5red, ch5x5, 3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv2d(in_channels, pool_proj, 1))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: Tensor) -> Tensor:
        """The four branches on the same input, concatenated."""
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


#: torchvision's inception settings: (name, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj); "pool" marks a
#: stride-2 max-pool between stages (3×3 before stage 4, 2×2 before stage 5).
_INCEPTIONS: tuple[tuple[str, int, int, int, int, int, int], ...] = (
    ("inception3a", 64, 96, 128, 16, 32, 32),
    ("inception3b", 128, 128, 192, 32, 96, 64),
    ("inception4a", 192, 96, 208, 16, 48, 64),
    ("inception4b", 160, 112, 224, 24, 64, 64),
    ("inception4c", 128, 128, 256, 24, 64, 64),
    ("inception4d", 112, 144, 288, 32, 64, 64),
    ("inception4e", 256, 160, 320, 32, 128, 128),
    ("inception5a", 256, 160, 320, 32, 128, 128),
    ("inception5b", 384, 192, 384, 48, 128, 128),
)


class GoogLeNet(nn.Module):
    """GoogLeNet at inference (torchvision's keys without ``aux1``/``aux2``); ``width`` scales every
    channel count (1.0 is the published model), for the reduced test variant."""

    def __init__(self, num_classes: int = 1000, width: float = 1.0, dropout: float = 0.2) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width!r}")

        def ch(c: int) -> int:
            return max(1, int(round(c * width)))

        self.conv1 = BasicConv2d(3, ch(64), 7, 2, 3)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = BasicConv2d(ch(64), ch(64), 1)
        self.conv3 = BasicConv2d(ch(64), ch(192), 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        in_ch = ch(192)
        blocks: dict[str, nn.Module] = {}
        for name, *channels in _INCEPTIONS:
            if name == "inception4a":
                blocks["maxpool3"] = nn.MaxPool2d(3, 2, ceil_mode=True)
            elif name == "inception5a":
                blocks["maxpool4"] = nn.MaxPool2d(2, 2, ceil_mode=True)
            block = Inception(in_ch, *(ch(c) for c in channels))
            blocks[name] = block
            in_ch = block.out_channels
        for name, module in blocks.items():  # attribute order = torchvision's (and the state_dict's) order
            setattr(self, name, module)
        self._stages = tuple(blocks)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_ch, num_classes)
        init_cnn(self, linear_std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        """Image batch (N, 3, H, W) → logits (N, num_classes)."""
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        for name in self._stages:
            x = getattr(self, name)(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))


def googlenet(num_classes: int = 1000, width: float = 1.0) -> GoogLeNet:
    """GoogLeNet for inference (6.62 M parameters, 1.50 GMACs at 224×224)."""
    return GoogLeNet(num_classes, width)
