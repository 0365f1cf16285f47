"""The dense-vs-activation-sparse sweep: PyTorch's dense kernel against the executor's
activation-sparse kernel (``real.kernels.act_sparse``), per operator shape and activation
sparsity, so the twin's activation-sparse kernel is fitted to measurements
(``hwmodels.act_sparse.fit_act_sparse``), not assumed.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from sparoa_sim.errors import CalibrationError
from sparoa_sim.hwmodels.act_sparse import POINT_KINDS, ActSparsePoint
from sparoa_sim.real.kernels.act_sparse import (
    act_sparse_conv1x1, act_sparse_linear, act_sparse_matmul, transpose_weight)
from sparoa_sim.real.measure.hostinfo import resolve_device
from sparoa_sim.real.measure.timing import figure, make_clock, median_time, quiet_runtime, time_adaptive

__all__ = ["ACT_SHAPES", "ACT_SPARSITIES", "act_sparse_sweep", "sparse_activation"]

#: Activation sparsities of the sweep (0 to 0.99).
ACT_SPARSITIES: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99)
#: (kind, groups, rows, inner, outer) of the shipped workloads' layers: ResNet-18's classifier,
#: MobileNetV3-Small's two classifier layers and VGG-16's second one at batch 1; ViT-B/16's MLP
#: layers over its 197 tokens; its attention products (12 heads); 1x1 convolutions of ResNet-18
#: (a downsample) and MobileNetV2 / SqueezeNet (expand and squeeze layers).
ACT_SHAPES: tuple[tuple[str, int, int, int, int], ...] = (
    ("linear", 1, 1, 512, 1000),
    ("linear", 1, 1, 576, 1024),
    ("linear", 1, 1, 1024, 1000),
    ("linear", 1, 1, 4096, 4096),
    ("linear", 1, 197, 768, 3072),
    ("linear", 1, 197, 3072, 768),
    ("matmul", 12, 197, 64, 197),
    ("matmul", 12, 197, 197, 64),
    ("conv1x1", 1, 784, 64, 128),
    ("conv1x1", 1, 3136, 24, 144),
    ("conv1x1", 1, 729, 128, 16),
)


def sparse_activation(shape: Sequence[int], sparsity: float, gen: torch.Generator) -> torch.Tensor:
    """N(0, 1) values with exactly ``round(sparsity · numel)`` zeros at random positions."""
    x = torch.randn(*shape, generator=gen)
    k = int(round(sparsity * x.numel()))
    if k:
        x.view(-1)[torch.randperm(x.numel(), generator=gen)[:k]] = 0.0
    return x


def _rotating(xs: Sequence[torch.Tensor]) -> Callable[[], torch.Tensor]:
    """The next of ``xs`` at each call (one input per call, as a server sees)."""
    it = itertools.cycle(xs)
    return lambda: next(it)


def _pair(kind: str, groups: int, rows: int, inner: int, outer: int, s: float, gen: torch.Generator,
          dev: torch.device, patterns: int = 1) -> tuple[Callable[[], object], Callable[[], object], torch.Tensor]:
    """(dense call, activation-sparse call, the first sparse activation) of one shape.

    ``patterns`` > 1: each call takes the next of that many activations of the same sparsity with
    their zeros elsewhere, so the weight rows one call reads are not those the last call left in
    the cache (a fixed input measures a cache-warm kernel no stream of distinct requests sees).
    """
    if kind == "linear":
        xs = [sparse_activation((rows, inner), s, gen).to(dev) for _ in range(patterns)]
        w = torch.randn(outer, inner, generator=gen).to(dev)
        w_t = transpose_weight(w)
        nd, ns = _rotating(xs), _rotating(xs)
        return (lambda: F.linear(nd(), w)), (lambda: act_sparse_linear(ns(), w_t, None)), xs[0]
    if kind == "matmul":
        As = [sparse_activation((groups, rows, inner), s, gen).to(dev) for _ in range(patterns)]
        b = torch.randn(groups, inner, outer, generator=gen).to(dev)
        nd, ns = _rotating(As), _rotating(As)
        return (lambda: torch.matmul(nd(), b)), (lambda: act_sparse_matmul(ns(), b)), As[0]
    side = math.isqrt(rows)
    if side * side != rows:
        raise CalibrationError(f"act_sparse_sweep: conv1x1 rows must be a square number of pixels, got {rows}")
    xs = [sparse_activation((1, inner, side, side), s, gen).to(dev) for _ in range(patterns)]
    w = torch.randn(outer, inner, 1, 1, generator=gen).to(dev)
    w_t = transpose_weight(w)
    nd, ns = _rotating(xs), _rotating(xs)
    return (lambda: F.conv2d(nd(), w)), (lambda: act_sparse_conv1x1(ns(), w_t, None)), xs[0]


def act_sparse_sweep(
    device: str = "cpu",
    shapes: Sequence[tuple[str, int, int, int, int]] = ACT_SHAPES,
    sparsities: Sequence[float] = ACT_SPARSITIES,
    *,
    reps: int = 20,
    min_reps: int = 6,
    warmup: int = 2,
    target_s: float = 0.05,
    seed: int = 0,
    threads: int | None = 1,
    clock: str = "thread_cpu",
    rounds: int = 4,
    patterns: int = 1,
) -> tuple[ActSparsePoint, ...]:
    """Dense kernel vs the activation-sparse kernel per (kind, groups, rows, inner, outer) and sparsity.

    Dense and sparse alternate over ``rounds`` rounds (even, >= 2): the speed-up is the median of
    the rounds' ratios, each time's halves are the first and last rounds (its repeatability); the
    default clock is the timing thread's CPU time with one torch thread, so other tenants of a
    shared host do not enter the speed-ups. ``patterns`` > 1 rotates that many activations per
    point (zeros elsewhere in each; see :func:`_pair`): the cache-cold kernel of distinct requests.
    """
    dev = resolve_device(device)
    for s in sparsities:
        if not 0.0 <= s < 1.0:
            raise CalibrationError(f"act_sparse_sweep: sparsity must lie in [0, 1), got {s!r}")
    for shape in shapes:
        if len(shape) != 5 or shape[0] not in POINT_KINDS or any(int(d) < 1 for d in shape[1:]):
            raise CalibrationError(f"act_sparse_sweep: shape must be (kind in {sorted(POINT_KINDS)}, groups, rows, "
                                   f"inner, outer) with sizes >= 1, got {shape!r}")
    if isinstance(patterns, bool) or not isinstance(patterns, int) or patterns < 1:
        raise CalibrationError(f"act_sparse_sweep: patterns must be a positive integer, got {patterns!r}")
    if rounds < 2 or rounds % 2:
        raise CalibrationError(f"act_sparse_sweep: rounds must be an even number >= 2, got {rounds!r}")
    clock_name = clock
    lo, hi = max(1, math.ceil(min_reps / 2)), max(1, math.ceil(reps / 2))
    gen = torch.Generator().manual_seed(seed)
    points: list[ActSparsePoint] = []
    with quiet_runtime(threads), torch.inference_mode():
        clk = make_clock(dev, clock_name)
        for kind, groups, rows, inner, outer in shapes:
            for s in sparsities:
                dense, sparse, x = _pair(kind, int(groups), int(rows), int(inner), int(outer), float(s), gen, dev, patterns)
                runs: dict[str, list[list[float]]] = {"dense": [], "sparse": []}
                for _round in range(rounds):  # interleaved, so a busy moment of the host hits both kernels
                    for name, fn in (("dense", dense), ("sparse", sparse)):
                        runs[name].append(time_adaptive(fn, clk, warmup, target_s / rounds, lo, hi))
                h = rounds // 2
                d = figure([t for r in runs["dense"][:h] for t in r], [t for r in runs["dense"][h:] for t in r])
                sp = figure([t for r in runs["sparse"][:h] for t in r], [t for r in runs["sparse"][h:] for t in r])
                ratio = statistics.median(median_time(a) / median_time(b) for a, b in zip(runs["dense"], runs["sparse"]))
                points.append(ActSparsePoint(
                    kind=kind, groups=int(groups), rows=int(rows), inner=int(inner), outer=int(outer),
                    sparsity=float(s), act_sparsity=float((x == 0).sum().item() / x.numel()),
                    dense_s=d.time_s, dense_s_a=d.time_s_a, dense_s_b=d.time_s_b,
                    sparse_s=sp.time_s, sparse_s_a=sp.time_s_a, sparse_s_b=sp.time_s_b,
                    speedup=ratio, reps=min(d.reps, sp.reps)))
    return tuple(points)
