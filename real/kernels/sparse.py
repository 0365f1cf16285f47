"""The CSR kernels the executor runs for sparse weights, shared with the profiler's sweep.

The twin's sparse-kernel figures are fitted to the profiler's dense-vs-CSR sweep
(``hwmodels.calibrate.fit_sparse``); timing there the very functions the executor calls — the
same layout changes included — keeps the twin's choice of kernel and the executor's speed in
step.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["sparse_conv2d", "sparse_linear", "to_csr"]


def to_csr(w: torch.Tensor) -> torch.Tensor:
    """A weight as a CSR matrix of shape (out, everything else)."""
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore")
        return w.reshape(w.shape[0], -1).to_sparse_csr()


def sparse_linear(x: torch.Tensor, w_csr: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear`` with a CSR weight: (W @ x^T)^T."""
    x2 = x.reshape(-1, x.shape[-1])
    y = torch.sparse.mm(w_csr, x2.t().contiguous()).t()
    if bias is not None:
        y = y + bias
    return y.reshape(*x.shape[:-1], w_csr.shape[0])


def sparse_conv2d(x: torch.Tensor, w_csr: torch.Tensor, bias: torch.Tensor | None, conv: nn.Conv2d,
                  kernel: tuple[int, int]) -> torch.Tensor:
    """A dense-groups-1 ``Conv2d`` as im2col + CSR matmul."""
    n, _, h, w = x.shape
    cols = F.unfold(x, kernel, dilation=conv.dilation, padding=conv.padding, stride=conv.stride)
    out = torch.stack([torch.sparse.mm(w_csr, cols[i]) for i in range(n)])
    ho = (h + 2 * conv.padding[0] - conv.dilation[0] * (kernel[0] - 1) - 1) // conv.stride[0] + 1
    wo = (w + 2 * conv.padding[1] - conv.dilation[1] * (kernel[1] - 1) - 1) // conv.stride[1] + 1
    out = out.reshape(n, w_csr.shape[0], ho, wo)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out
