"""The activation-sparse kernels give the dense kernels' values (1e-5 relative) at any sparsity and shape."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sparoa_sim.real.kernels.act_sparse import (  # noqa: E402
    act_sparse_conv1x1, act_sparse_linear, act_sparse_matmul, transpose_weight)
from sparoa_sim.real.measure.act_sparse_sweep import sparse_activation  # noqa: E402

_SPARSITY = st.sampled_from([0.0, 0.3, 0.9, 0.99, 1.0]) | st.floats(0.0, 1.0)


def _close(out: torch.Tensor, ref: torch.Tensor) -> None:
    """Equal within 1e-5 relative to the output's scale (float32 sums in another order)."""
    assert out.shape == ref.shape and out.dtype == ref.dtype
    scale = float(ref.abs().max()) if ref.numel() else 0.0
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * max(scale, 1e-12))


@given(rows=st.integers(1, 9), inner=st.integers(1, 40), outer=st.integers(1, 30), lead=st.integers(0, 2),
       s=_SPARSITY, bias=st.booleans(), seed=st.integers(0, 2**16))
def test_linear_matches_dense(rows, inner, outer, lead, s, bias, seed):
    gen = torch.Generator().manual_seed(seed)
    x = sparse_activation((*(2,) * lead, rows, inner), s, gen)
    w = torch.randn(outer, inner, generator=gen)
    b = torch.randn(outer, generator=gen) if bias else None
    _close(act_sparse_linear(x, transpose_weight(w), b), F.linear(x, w, b))


@given(g=st.integers(1, 4), m=st.integers(1, 8), k=st.integers(1, 20), n=st.integers(1, 12),
       s=_SPARSITY, broadcast=st.booleans(), seed=st.integers(0, 2**16))
def test_matmul_matches_dense(g, m, k, n, s, broadcast, seed):
    gen = torch.Generator().manual_seed(seed)
    a = sparse_activation((2, g, m, k), s, gen)
    b = torch.randn(k, n, generator=gen) if broadcast else torch.randn(2, g, k, n, generator=gen)
    _close(act_sparse_matmul(a, b), torch.matmul(a, b))


def test_matmul_two_dimensional_and_errors():
    gen = torch.Generator().manual_seed(0)
    a, b = sparse_activation((5, 7), 0.6, gen), torch.randn(7, 3, generator=gen)
    _close(act_sparse_matmul(a, b), a @ b)
    with pytest.raises(ValueError, match="inner dimensions"):
        act_sparse_matmul(a, torch.randn(6, 3))
    with pytest.raises(ValueError, match="at least 2-D"):
        act_sparse_matmul(torch.randn(7), b)


@given(c=st.integers(1, 12), o=st.integers(1, 10), h=st.integers(1, 7), n=st.integers(1, 2),
       stride=st.integers(1, 2), s=_SPARSITY, bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv1x1_matches_dense(c, o, h, n, stride, s, bias, seed):
    gen = torch.Generator().manual_seed(seed)
    x = sparse_activation((n, c, h, h + 1), s, gen)
    w = torch.randn(o, c, 1, 1, generator=gen)
    b = torch.randn(o, generator=gen) if bias else None
    _close(act_sparse_conv1x1(x, transpose_weight(w), b, (stride, stride)), F.conv2d(x, w, b, stride=stride))


def test_shape_errors_name_the_mismatch():
    w_t = transpose_weight(torch.randn(4, 6))
    with pytest.raises(ValueError, match="5 features, weight expects 6"):
        act_sparse_linear(torch.randn(2, 5), w_t, None)
    with pytest.raises(ValueError, match="input channels"):
        act_sparse_conv1x1(torch.randn(1, 5, 3, 3), w_t, None)


def test_sparse_activation_has_exactly_the_zeros_asked():
    gen = torch.Generator().manual_seed(3)
    for s in (0.0, 0.25, 0.9, 1.0):
        x = sparse_activation((10, 20), s, gen)
        assert int((x == 0).sum()) == round(s * 200)
