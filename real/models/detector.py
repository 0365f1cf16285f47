"""SSDLite on a MobileNetV2 backbone (Sandler et al. 2018, §6.2), fx-traceable: a multi-scale detector.

The detector of the MobileNetV2 paper as the TensorFlow Object Detection API builds it
(``ssdlite_mobilenet_v2_coco``): the MobileNetV2 feature extractor (this zoo's
:class:`~sparoa_sim.real.models.mobilenet.MobileNetV2` blocks), six feature maps — the 576-channel
expansion output of block 15 (stride 16), the 1280-channel last layer (stride 32) and four extra
blocks (1×1 → 3×3 depthwise stride 2 → 1×1, 512, 256, 256, 128 channels) — and on every map a
class head and a box head, each a 3×3 depthwise convolution (BN, ReLU6) then a 1×1 convolution:
"SSDLite" replaces SSD's regular 3×3 prediction convolutions by these separable ones. COCO's 90
classes plus background (91 scores per anchor); 3 anchors per location on the first map (the API's
``reduce_boxes_in_lowest_layer``) and 6 on the others: 2,034 anchors at 320×320.

Published figures held to (MobileNetV2 paper, Table 6, "MNet V2 + SSDLite", 320×320 input): 4.3 M
parameters and 0.8 B multiply-adds. This module has 4,500,543 parameters (+4.7 %; the paper's
figure is rounded, and 81 COCO scores per anchor instead of the API's 91 would give 4.34 M) and
0.804 GMACs at 320×320 (+0.5 %). torchvision ships no MobileNetV2 SSDLite (its
``ssdlite320_mobilenet_v3_large`` is built on MobileNetV3-Large).

Only the network: anchor generation, box decoding and non-maximum suppression are not DNN operators
(and not fx-traceable); the outputs are the per-level predictions, flattened and concatenated per
image as torchvision's SSD heads return them: box regressions (N, anchors, 4) and class logits
(N, anchors, 91). Every convolution is Kaiming-initialised (:func:`~sparoa_sim.real.models.blocks.init_cnn`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from sparoa_sim.real.models.blocks import ConvBNAct, init_cnn, make_divisible
from sparoa_sim.real.models.mobilenet import MobileNetV2

__all__ = ["SSDLiteHead", "SSDLiteMobileNetV2", "extra_block", "ssdlite_mobilenet_v2"]

#: Index in ``MobileNetV2.features`` of the block whose expansion output is the first feature map
#: (the TF API's ``layer_15/expansion_output``: the first 160-channel block, stride 16 → 32).
_C4_BLOCK = 14


def extra_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """One SSDLite extra layer: 1×1 to half the output width → 3×3 depthwise stride 2 → 1×1 (BN, ReLU6 each)."""
    mid = out_channels // 2
    return nn.Sequential(
        ConvBNAct(in_channels, mid, 1, activation=nn.ReLU6),
        ConvBNAct(mid, mid, 3, 2, groups=mid, activation=nn.ReLU6),
        ConvBNAct(mid, out_channels, 1, activation=nn.ReLU6),
    )


class SSDLiteHead(nn.Module):
    """Per feature map, a separable prediction: 3×3 depthwise (BN, ReLU6) → 1×1 conv to ``anchors × width``
    outputs; the maps' outputs are flattened per image (location-major) and concatenated: (N, Σ anchors, width)."""

    def __init__(self, in_channels: Sequence[int], anchors: Sequence[int], width: int) -> None:
        super().__init__()
        self.width = width
        self.module_list = nn.ModuleList(
            nn.Sequential(ConvBNAct(c, c, 3, groups=c, activation=nn.ReLU6), nn.Conv2d(c, a * width, 1))
            for c, a in zip(in_channels, anchors, strict=True)
        )

    def forward(self, features: list[Tensor]) -> Tensor:
        """Feature maps → (N, total anchors, width)."""
        outs = [torch.flatten(head(f).permute(0, 2, 3, 1), 1) for head, f in zip(self.module_list, features)]
        return torch.cat(outs, 1).unflatten(1, (-1, self.width))


class SSDLiteMobileNetV2(nn.Module):
    """SSDLite with a MobileNetV2 feature extractor; ``width_mult`` scales the backbone and the extras
    (1.0 is the published model), for the reduced test variant. Returns (box regressions, class logits)."""

    EXTRAS: tuple[int, ...] = (512, 256, 256, 128)

    def __init__(self, num_classes: int = 91, width_mult: float = 1.0, last_channel: int | None = None,
                 anchors: Sequence[int] = (3, 6, 6, 6, 6, 6)) -> None:
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"width_mult must be > 0, got {width_mult!r}")
        if len(anchors) != 1 + 1 + len(self.EXTRAS) or any(a < 1 for a in anchors):
            raise ValueError(f"anchors must be {2 + len(self.EXTRAS)} positive counts, got {tuple(anchors)!r}")
        features = MobileNetV2(width_mult=width_mult, last_channel=last_channel).features
        split = features[_C4_BLOCK].conv
        # stage 1 ends at block 15's expansion (a feature map); stage 2 is the rest of that block onwards
        self.stage1 = nn.Sequential(*features[:_C4_BLOCK], split[0])
        self.stage2 = nn.Sequential(*split[1:], *features[_C4_BLOCK + 1:])
        c4 = split[0].out_channels
        c5 = features[-1].out_channels
        extras = [make_divisible(c * width_mult, 8) for c in self.EXTRAS]
        self.extras = nn.ModuleList(extra_block(i, o) for i, o in zip([c5, *extras[:-1]], extras, strict=True))
        channels = [c4, c5, *extras]
        self.box_head = SSDLiteHead(channels, anchors, 4)
        self.cls_head = SSDLiteHead(channels, anchors, num_classes)
        init_cnn(self, linear_std=None)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Image batch (N, 3, H, W) → (box regressions (N, A, 4), class logits (N, A, num_classes))."""
        c4 = self.stage1(x)
        x = self.stage2(c4)
        maps = [c4, x]
        for block in self.extras:
            x = block(x)
            maps.append(x)
        return self.box_head(maps), self.cls_head(maps)


def ssdlite_mobilenet_v2(num_classes: int = 91, width_mult: float = 1.0,
                         last_channel: int | None = None) -> SSDLiteMobileNetV2:
    """SSDLite-MobileNetV2 (4.50 M parameters, 0.80 GMACs at 320×320; published: 4.3 M, 0.8 B)."""
    return SSDLiteMobileNetV2(num_classes, width_mult, last_channel)
