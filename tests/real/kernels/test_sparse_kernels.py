"""The CSR kernels the executor and the profiler's sweep share give the dense kernels' values."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from sparoa_sim.real.kernels.sparse import sparse_conv2d, sparse_linear, to_csr  # noqa: E402


def _prune(w: torch.Tensor, keep: float = 0.3) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return w * (torch.rand(w.shape, generator=gen) < keep)


def test_sparse_linear_matches_dense():
    gen = torch.Generator().manual_seed(1)
    w = _prune(torch.randn(12, 20, generator=gen))
    b = torch.randn(12, generator=gen)
    for x in (torch.randn(5, 20, generator=gen), torch.randn(2, 3, 20, generator=gen)):
        assert torch.allclose(sparse_linear(x, to_csr(w), b), F.linear(x, w, b), atol=1e-5)


def test_sparse_conv2d_matches_dense():
    torch.manual_seed(2)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1).eval()
    with torch.no_grad():
        conv.weight.copy_(_prune(conv.weight))
    x = torch.randn(2, 4, 9, 9)
    out = sparse_conv2d(x, to_csr(conv.weight.detach()), conv.bias, conv, tuple(conv.kernel_size))
    with torch.no_grad():
        assert torch.allclose(out, conv(x), atol=1e-5)
