"""Vision Transformer ViT-B/16 (torchvision's definition), fx-traceable.

The sequence length is fixed at construction from ``img_size``, and attention is spelled out
(linear → ``scaled_dot_product_attention`` → linear) instead of ``nn.MultiheadAttention``; the
fused input projection is an ``nn.Linear`` named ``in_proj``. The classification head is
initialised with a truncated normal (std 0.02) instead of zeros, so random models give
non-trivial outputs.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sparoa_sim.real.models.blocks import MLP

__all__ = ["Encoder", "EncoderBlock", "SelfAttention", "VisionTransformer", "vit_b_16"]


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
