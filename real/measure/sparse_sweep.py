"""The dense-vs-CSR sweep: ``F.linear`` against the executor's CSR kernel, per layer shape and
weight sparsity, so the sparse gain the twin models is measured, not assumed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from sparoa_sim.errors import CalibrationError
from sparoa_sim.hwmodels.measurements import SparsePoint
from sparoa_sim.real.kernels.sparse import sparse_linear, to_csr
from sparoa_sim.real.measure.hostinfo import resolve_device
from sparoa_sim.real.measure.timing import figure, make_clock, quiet_runtime, time_adaptive

__all__ = ["DEFAULT_SPARSE_SHAPES", "DEFAULT_SPARSITIES", "sparse_sweep"]

#: Weight sparsities of the dense-vs-CSR sweep.
DEFAULT_SPARSITIES: tuple[float, ...] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95)
#: (out_features, in_features, cols) of the sweep: a ResNet classifier at batch 1, a square
#: layer at a small batch, and ViT-B's projection and both MLP layers over its 197 tokens (the
#: CSR kernel's speed depends on the shape: at 80 % sparsity it wins on the first two and loses
#: by up to 1.5x on the MLP's 3072-wide input, so the sweep covers the layers the pruned
#: workloads have).
DEFAULT_SPARSE_SHAPES: tuple[tuple[int, int, int], ...] = (
    (1000, 2048, 1), (1024, 1024, 16), (768, 768, 197), (3072, 768, 197), (768, 3072, 197))


def _sparse_weight(out_f: int, in_f: int, sparsity: float, gen: torch.Generator) -> torch.Tensor:
    """A random weight with exactly ``round(sparsity · numel)`` zeros at random positions."""
    w = torch.randn(out_f, in_f, generator=gen)
    k = int(round(sparsity * w.numel()))
    if k:
        idx = torch.randperm(w.numel(), generator=gen)[:k]
        w.view(-1)[idx] = 0.0
    return w


def sparse_sweep(
    device: str = "cpu",
    shapes: Sequence[tuple[int, int, int]] = DEFAULT_SPARSE_SHAPES,
    sparsities: Sequence[float] = DEFAULT_SPARSITIES,
    *,
    reps: int = 20,
    min_reps: int = 6,
    warmup: int = 2,
    target_s: float = 0.05,
    seed: int = 0,
    threads: int | None = None,
    clock: str = "wall",
) -> tuple[SparsePoint, ...]:
    """Dense ``F.linear`` vs its CSR form per (out, in, cols) shape and weight sparsity.

    The CSR side is the executor's own kernel (``real.kernels.sparse.sparse_linear``, layout
    changes included); the measured speed-up ``dense_s / sparse_s`` is what the twin's
    sparse-kernel figures are fitted to (``hwmodels.calibrate.fit_sparse``). Dense and sparse
    alternate in two halves so each carries its repeatability.
    """
    dev = resolve_device(device)
    for s in sparsities:
        if not 0.0 <= s < 1.0:
            raise CalibrationError(f"sparse_sweep: sparsity must lie in [0, 1), got {s!r}")
    for shape in shapes:
        if len(shape) != 3 or any(int(d) < 1 for d in shape):
            raise CalibrationError(f"sparse_sweep: shape must be (out_features, in_features, cols) >= 1, got {shape!r}")
    clock_name = clock
    lo, hi = max(1, math.ceil(min_reps / 2)), max(1, math.ceil(reps / 2))
    gen = torch.Generator().manual_seed(seed)
    points: list[SparsePoint] = []
    with quiet_runtime(threads):
        clock = make_clock(dev, clock_name)
        for out_f, in_f, cols in shapes:
            x = torch.randn(cols, in_f, generator=gen).to(dev)  # activations as a linear layer sees them
            for s in sparsities:
                w = _sparse_weight(out_f, in_f, float(s), gen).to(dev)
                w_csr = to_csr(w)
                fns = {"dense": lambda w=w: F.linear(x, w), "sparse": lambda w_csr=w_csr: sparse_linear(x, w_csr, None)}
                halves: dict[str, list[list[float]]] = {"dense": [], "sparse": []}
                for _half in range(2):
                    for k, fn in fns.items():
                        halves[k].append(time_adaptive(fn, clock, warmup, target_s / 2, lo, hi))
                d, sp = figure(*halves["dense"]), figure(*halves["sparse"])
                nnz = int(w_csr.values().numel())
                points.append(
                    SparsePoint(
                        out_features=out_f, in_features=in_f, cols=cols, sparsity=float(s),
                        w_sparsity=1.0 - nnz / w.numel(), nnz=nnz,
                        dense_s=d.time_s, dense_s_a=d.time_s_a, dense_s_b=d.time_s_b,
                        sparse_s=sp.time_s, sparse_s_a=sp.time_s_a, sparse_s_b=sp.time_s_b,
                        speedup=d.time_s / sp.time_s, reps=min(d.reps, sp.reps),
                    )
                )  # fmt: skip
    return tuple(points)
