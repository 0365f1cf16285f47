"""Counting multiply-accumulates with ``torch.utils.flop_counter``, filling the gaps it has.

``FlopCounterMode`` has no formula for the CPU kernel of ``scaled_dot_product_attention`` and
counts it as zero; :func:`flop_counter_mapping` adds it so attention's two batched matmuls are
counted on every device, as torchvision's published figures count them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["flop_counter_mapping", "counting_flops", "count_macs"]


def _sdpa_flop(
    query_shape: Sequence[int],
    key_shape: Sequence[int],
    value_shape: Sequence[int],
    *args: Any,
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    """FLOPs of scaled-dot-product attention: the two batched matmuls Q·Kᵀ and P·V."""
    *batch, s_q, d_q = query_shape
    s_k = key_shape[-2]
    d_v = value_shape[-1]
    n = math.prod(batch)
    return 2 * n * s_q * s_k * d_q + 2 * n * s_q * s_k * d_v


def flop_counter_mapping() -> dict[Any, Callable[..., int]]:
    """``custom_mapping`` for ``FlopCounterMode`` adding the SDPA kernels it misses (CPU)."""
    mapping: dict[Any, Callable[..., int]] = {}
    for op in ("_scaled_dot_product_flash_attention_for_cpu",):
        packet = getattr(torch.ops.aten, op, None)
        if packet is not None:
            mapping[packet] = _sdpa_flop
    return mapping


def counting_flops() -> FlopCounterMode:
    """A silent ``FlopCounterMode`` that also counts CPU attention."""
    return FlopCounterMode(display=False, custom_mapping=flop_counter_mapping())


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass of ``model`` on ``x`` (flop counter ÷ 2)."""
    with torch.no_grad(), counting_flops() as fc:
        model(x)
    return fc.get_total_flops() // 2
