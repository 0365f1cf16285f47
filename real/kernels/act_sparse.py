"""Activation-sparse CPU kernels: linear, matmul and 1x1 convolution that skip zero input features.

Each kernel turns its activation into a CSR matrix whose rows are the output positions (tokens,
pixels, matrix rows) and whose columns are the reduction (input) features, then multiplies it by
the dense operand with ``torch.sparse.mm`` (sparse x dense): every stored non-zero ``x[r, j]``
reads row ``j`` of the transposed weight, so zero inputs cost neither FLOPs nor weight traffic.
The work is ``flops · (1 − act_sparsity)`` at a sparse kernel's efficiency plus the gather (the
scan and compaction of the activation into CSR) — the twin's activation-sparse kernel
(``hwmodels.latency``, docs/architecture.md §3). The executor and the sweep
(``real.measure.act_sparse_sweep``) call these very functions, so the twin is fitted to the
kernel that runs.

A k×k convolution variant is not offered: it needs an im2col (9× the activation for 3×3) before
the same sparse product, so it cannot win where the 1×1 form loses (issue 19 item 1).
"""

from __future__ import annotations

import warnings

import torch

__all__ = ["act_sparse_conv1x1", "act_sparse_linear", "act_sparse_matmul", "to_csr_rows", "transpose_weight"]


def to_csr_rows(x2: torch.Tensor) -> torch.Tensor:
    """A 2-D activation (positions × features) as CSR: the gather that skips its zeros."""
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore")
        return x2.to_sparse_csr()


def transpose_weight(w: torch.Tensor) -> torch.Tensor:
    """A linear / 1x1-conv weight (out, in[, 1, 1]) as the contiguous (in, out) operand the kernels read.

    Computed once per operator by the executor (it is a layout, like the CSR weight cache).
    """
    return w.reshape(w.shape[0], -1).t().contiguous()


def _spmm(x2: torch.Tensor, w_t: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.sparse.mm(to_csr_rows(x2), w_t)


def act_sparse_linear(x: torch.Tensor, w_t: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear(x, w, bias)`` skipping zero inputs; ``w_t`` is :func:`transpose_weight` of ``w``."""
    if x.shape[-1] != w_t.shape[0]:
        raise ValueError(f"act_sparse_linear: input has {x.shape[-1]} features, weight expects {w_t.shape[0]}")
    y = _spmm(x.reshape(-1, x.shape[-1]), w_t)
    if bias is not None:
        y = y + bias
    return y.reshape(*x.shape[:-1], w_t.shape[1])


def act_sparse_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``torch.matmul(a, b)`` skipping zeros of the left operand ``a`` (..., m, k) @ (..., k, n).

    Leading dimensions broadcast as ``torch.matmul`` does. The whole batch is one sparse product:
    the g matrices of ``a`` form a block-diagonal (g·m) × (g·k) CSR matrix, those of ``b`` one
    (g·k) × n operand (attention heads: one call, not a dozen).
    """
    if a.dim() < 2 or b.dim() < 2:
        raise ValueError(f"act_sparse_matmul: operands must be at least 2-D, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"act_sparse_matmul: inner dimensions differ: {tuple(a.shape)} @ {tuple(b.shape)}")
    lead = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    a3 = a.expand(*lead, m, k).reshape(-1, m, k)
    b2 = b.expand(*lead, k, n).reshape(-1, n)
    g = a3.shape[0]
    if g == 1:
        return _spmm(a3[0], b2).reshape(*lead, m, n)
    csr = to_csr_rows(a3.reshape(g * m, k))
    crow, col = csr.crow_indices(), csr.col_indices()
    block = torch.repeat_interleave(torch.arange(g * m, dtype=col.dtype) // m, crow.diff())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        diag = torch.sparse_csr_tensor(crow, col + block * k, csr.values(), size=(g * m, g * k))
        out = torch.sparse.mm(diag, b2)
    return out.reshape(*lead, m, n)


def act_sparse_conv1x1(x: torch.Tensor, w_t: torch.Tensor, bias: torch.Tensor | None,
                       stride: tuple[int, int] = (1, 1)) -> torch.Tensor:
    """A 1x1, groups-1, unpadded ``Conv2d`` skipping zero input pixels-channels.

    ``x`` (N, C, H, W); ``w_t`` (C, O) from :func:`transpose_weight`. The activation goes
    channels-last (positions × channels), is gathered into CSR and multiplied by ``w_t``; the
    output comes back to (N, O, H', W').
    """
    if x.dim() != 4 or x.shape[1] != w_t.shape[0]:
        raise ValueError(f"act_sparse_conv1x1: input {tuple(x.shape)} does not match a weight of "
                         f"{w_t.shape[0]} input channels")
    if stride != (1, 1):
        x = x[:, :, ::stride[0], ::stride[1]]
    n, c, h, w = x.shape
    y = _spmm(x.permute(0, 2, 3, 1).reshape(-1, c), w_t)
    if bias is not None:
        y = y + bias
    return y.reshape(n, h, w, -1).permute(0, 3, 1, 2).contiguous()
