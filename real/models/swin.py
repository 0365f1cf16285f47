"""Swin Transformer Swin-T (torchvision's definition, same keys), fx-traceable.

Window padding, the shifted-window masks and the relative-position index — computed at run
time by torchvision — are fixed at construction from ``img_size``. Stochastic depth is left
out (the identity at inference).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sparoa_sim.real.models.blocks import MLP, Permute

__all__ = ["PatchMerging", "ShiftedWindowAttention", "SwinTransformer", "SwinTransformerBlock", "swin_t"]


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
