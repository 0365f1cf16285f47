"""Seeded synthetic operator DAGs for domain randomisation and property-based tests (docs/architecture.md §2).

:func:`generate` strings blocks together — chains (conv → norm → act), residual blocks (basic
or inverted bottleneck, with a skip and an add), parallel branches (2–3 branches and a concat)
and transformer blocks (attention + MLP, with a skip each) — at random but physically
consistent sizes: MACs, FLOPs and bytes follow from the tensor shapes by the same rules the
extractor (``real/extract.py``) applies to real models, float32 throughout, batch 1.

Sparsity is simulated as the shipped zoo measures it: a tensor produced by a ReLU carries
40–60 % exact zeros (random initialisation), one produced by a GELU or a smooth activation
none; an operator's ``act_sparsity`` is the zero fraction of the tensors it reads. Weight
sparsity is one pruning level per graph, applied to every conv/linear weight (as per-layer
magnitude pruning does). Only a :class:`numpy.random.Generator` is used, so the same seed
gives the same graph, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from sparoa_sim.errors import GraphError
from sparoa_sim.hwmodels.kinds import ELEMENTWISE_FLOPS, OpKind
from sparoa_sim.ir.graph import Op, OpGraph

__all__ = ["BLOCK_KINDS", "SyntheticConfig", "generate"]

#: Block kinds the generator knows, in the order of :attr:`SyntheticConfig.mix`'s defaults.
BLOCK_KINDS: tuple[str, ...] = ("chain", "residual", "branch", "attention")

_F32 = 4  # bytes per float32 element
_WEIGHTED = frozenset({OpKind.CONV, OpKind.DWCONV, OpKind.LINEAR})
# Kinds that may be split along output channels / features (as real/extract.py marks them).
_SPLIT_KINDS = frozenset(
    {OpKind.CONV, OpKind.DWCONV, OpKind.LINEAR, OpKind.ACT, OpKind.ADD, OpKind.MUL, OpKind.POOL, OpKind.ATTENTION}
)
_VIT_PATCHES = (4, 8, 16)  # patch sizes of a transformer stem
_EXPANSIONS = (2, 3, 4, 6)  # inverted-residual expansion ratios (MobileNetV2)


_TUPLE_FIELDS = ("kinds", "channels", "resolution", "tokens", "embed_dim", "mlp_ratio", "act_sparsity", "w_sparsity")


@dataclass(frozen=True)
class SyntheticConfig:
    """The generator's knobs; every range is inclusive ``(low, high)``.

    ``target_ops`` (when set) replaces ``n_blocks``: blocks are added until the graph has
    exactly that many operators, the last ones trimmed chains. Widths (``channels``,
    ``embed_dim``) are multiplied by ``size_scale``. ``tokens`` bounds the token count of
    attention blocks (a token grid is a ``g × g`` feature map, so ``g`` also obeys
    ``resolution``). ``mix`` weighs the block kinds drawn after each kind in ``kinds`` has
    appeared once.
    """

    n_blocks: int = 8
    target_ops: int | None = None
    kinds: tuple[str, ...] = BLOCK_KINDS
    mix: tuple[tuple[str, float], ...] = (("chain", 0.3), ("residual", 0.3), ("branch", 0.2), ("attention", 0.2))
    channels: tuple[int, int] = (16, 256)
    resolution: tuple[int, int] = (7, 56)
    tokens: tuple[int, int] = (49, 256)
    embed_dim: tuple[int, int] = (64, 384)
    mlp_ratio: tuple[int, int] = (2, 4)
    size_scale: float = 1.0
    act_sparsity: tuple[float, float] = (0.4, 0.6)
    w_sparsity: tuple[float, float] = (0.0, 0.8)
    relu_prob: float = 0.8
    downsample_prob: float = 0.25

    def __post_init__(self) -> None:
        for name in _TUPLE_FIELDS:  # accept lists (e.g. read back from JSON meta)
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "mix", tuple((str(k), float(w)) for k, w in self.mix))
        _check_config(self)

    @property
    def channel_range(self) -> tuple[int, int]:
        """``channels`` scaled by ``size_scale`` (at least 1, and high ≥ low)."""
        return _scaled(self.channels, self.size_scale)

    @property
    def embed_range(self) -> tuple[int, int]:
        """``embed_dim`` scaled by ``size_scale`` (at least 1, and high ≥ low)."""
        return _scaled(self.embed_dim, self.size_scale)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples as lists), as recorded in the graph's ``meta``."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


def _scaled(rng: tuple[int, int], scale: float) -> tuple[int, int]:
    lo = max(1, round(rng[0] * scale))
    return lo, max(lo, round(rng[1] * scale))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


def _bad(field_name: str, value: Any, why: str) -> GraphError:
    return GraphError(f"SyntheticConfig: field {field_name!r} is {value!r}: {why}")


def _check_int_range(cfg: SyntheticConfig, name: str, minimum: int) -> None:
    value = getattr(cfg, name)
    if len(value) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        raise _bad(name, value, "expected (low, high) integers")
    if not minimum <= value[0] <= value[1]:
        raise _bad(name, value, f"expected {minimum} <= low <= high")


def _check_fraction_range(cfg: SyntheticConfig, name: str) -> None:
    value = getattr(cfg, name)
    if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise _bad(name, value, "expected (low, high) numbers")
    if not 0.0 <= value[0] <= value[1] <= 1.0:
        raise _bad(name, value, "expected 0 <= low <= high <= 1")


def _check_config(cfg: SyntheticConfig) -> None:
    """Reject knobs the generator cannot honour, naming the field and value."""
    if isinstance(cfg.n_blocks, bool) or not isinstance(cfg.n_blocks, int) or cfg.n_blocks < 0:
        raise _bad("n_blocks", cfg.n_blocks, "expected a non-negative integer")
    if cfg.target_ops is not None and (
        isinstance(cfg.target_ops, bool) or not isinstance(cfg.target_ops, int) or cfg.target_ops < 1
    ):
        raise _bad("target_ops", cfg.target_ops, "expected a positive integer or None")
    if not cfg.kinds or len(set(cfg.kinds)) != len(cfg.kinds) or not set(cfg.kinds) <= set(BLOCK_KINDS):
        raise _bad("kinds", cfg.kinds, f"expected distinct names among {', '.join(BLOCK_KINDS)}")
    weights = dict(cfg.mix)
    if not set(weights) <= set(BLOCK_KINDS) or any(not math.isfinite(w) or w < 0 for w in weights.values()):
        raise _bad("mix", cfg.mix, "expected (kind, non-negative weight) pairs")
    if sum(weights.get(k, 0.0) for k in cfg.kinds) <= 0:
        raise _bad("mix", cfg.mix, f"no positive weight for any of the kinds {list(cfg.kinds)}")
    for name in ("channels", "embed_dim", "mlp_ratio", "resolution", "tokens"):
        _check_int_range(cfg, name, 1)
    for name in ("act_sparsity", "w_sparsity"):
        _check_fraction_range(cfg, name)
    for name in ("relu_prob", "downsample_prob"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            raise _bad(name, v, "expected a probability in [0, 1]")
    s = cfg.size_scale
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s <= 0:
        raise _bad("size_scale", s, "expected a positive finite number")
    if cfg.channel_range[1] < 3:
        raise _bad("size_scale", s, f"scaled channels {cfg.channel_range} leave no room for 3 branches (high < 3)")
    if "attention" in cfg.kinds:
        _check_token_grids(cfg)


def _check_token_grids(cfg: SyntheticConfig) -> None:
    """Every feature map of an allowed resolution must patch into an allowed token grid."""
    for h in range(cfg.resolution[0], cfg.resolution[1] + 1):
        if not _patch_sizes(h, cfg):
            raise _bad(
                "tokens", cfg.tokens,
                f"a {h}x{h} feature map has no patch size giving a grid g x g with g in {cfg.resolution} "
                f"and g*g in {cfg.tokens} (widen tokens, e.g. high >= (2*resolution_low+2)**2)",
            )
    if not _vit_grids(cfg):
        raise _bad("tokens", cfg.tokens, f"no token grid g x g with g in {cfg.resolution} and g*g in range")


def _patch_sizes(h: int, cfg: SyntheticConfig) -> list[int]:
    """Patch sizes ``p`` whose grid ``h // p`` obeys both the resolution and the token bounds."""
    (r_lo, _), (t_lo, t_hi) = cfg.resolution, cfg.tokens
    out = []
    for p in range(1, h + 1):
        g = h // p
        if g < r_lo:
            break
        if t_lo <= g * g <= t_hi:
            out.append(p)
    return out


def _vit_grids(cfg: SyntheticConfig) -> list[int]:
    """Grid sides allowed for a transformer stem."""
    (r_lo, r_hi), (t_lo, t_hi) = cfg.resolution, cfg.tokens
    return [g for g in range(r_lo, r_hi + 1) if t_lo <= g * g <= t_hi]


# ---------------------------------------------------------------------------------------------
# tensors and operators


@dataclass(frozen=True)
class _Tensor:
    """A tensor flowing between operators: its producer, shape and fraction of exact zeros."""

    idx: int  # producing operator, -1 for the graph input
    c: int  # channels (NCHW) or features (tokens)
    h: int
    w: int
    tokens: bool  # (1, h*w, c) if True, else (1, c, h, w)
    zeros: float = 0.0

    @property
    def shape(self) -> tuple[int, ...]:
        return (1, self.h * self.w, self.c) if self.tokens else (1, self.c, self.h, self.w)

    @property
    def elems(self) -> int:
        return self.c * self.h * self.w


class _Builder:
    """Accumulates operators; every size follows from the shapes of inputs and output."""

    def __init__(self, cfg: SyntheticConfig, rng: np.random.Generator, w_sparsity: float) -> None:
        self.cfg = cfg
        self.rng = rng
        self.w_sparsity = w_sparsity
        self.ops: list[Op] = []
        self.params = 0

    def emit(
        self,
        name: str,
        kind: OpKind,
        inputs: Sequence[_Tensor],
        out: _Tensor,
        *,
        macs: int = 0,
        params: int = 0,
        elementwise: float | None = None,
    ) -> _Tensor:
        """Append one operator reading ``inputs`` and writing ``out`` (whose idx is assigned)."""
        elems = out.elems
        extra = ELEMENTWISE_FLOPS.get(kind, 0.0) * elems if elementwise is None else elementwise
        in_elems = sum(t.elems for t in inputs)
        zeros = sum(t.zeros * t.elems for t in inputs) / in_elems if in_elems else 0.0
        self.ops.append(
            Op(
                name=name,
                kind=kind,
                macs=float(macs),
                flops=float(2 * macs + extra),
                bytes_in=float(_F32 * in_elems),
                bytes_out=float(_F32 * elems),
                bytes_w=float(_F32 * params),
                act_sparsity=float(zeros),
                w_sparsity=self.w_sparsity if kind in _WEIGHTED and params else 0.0,
                deps=tuple(sorted({t.idx for t in inputs if t.idx >= 0})),
                out_shape=out.shape,
                split_axis="channel" if kind in _SPLIT_KINDS else None,
            )
        )
        self.params += params
        return replace(out, idx=len(self.ops) - 1)

    # -- sizes ------------------------------------------------------------------------------
    def log_uniform(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi], log-uniformly (widths span orders of magnitude)."""
        if lo >= hi:
            return lo
        v = math.exp(self.rng.uniform(math.log(lo), math.log(hi + 1)))
        return min(hi, max(lo, int(v)))

    def new_width(self, c: int) -> int:
        """Next conv width: keep, halve or double the current one inside the channel range."""
        lo, hi = self.cfg.channel_range
        if not lo <= c <= hi:
            return self.log_uniform(lo, hi)
        factor = (0.5, 1.0, 1.0, 2.0)[int(self.rng.integers(4))]
        return min(hi, max(lo, int(round(c * factor))))

    def can_downsample(self, x: _Tensor) -> bool:
        return (x.h - 1) // 2 + 1 >= self.cfg.resolution[0] and (x.w - 1) // 2 + 1 >= self.cfg.resolution[0]

    def relu(self) -> bool:
        return bool(self.rng.random() < self.cfg.relu_prob)

    # -- operators --------------------------------------------------------------------------
    def conv(self, name: str, x: _Tensor, cout: int, k: int, stride: int = 1, groups: int = 1,
             padding: int | None = None) -> _Tensor:
        """Conv2d (no bias: a norm follows); MACs = Cout·Cin/groups·k²·H·W."""
        pad = k // 2 if padding is None else padding
        h = (x.h + 2 * pad - k) // stride + 1
        w = (x.w + 2 * pad - k) // stride + 1
        params = cout * (x.c // groups) * k * k
        kind = OpKind.DWCONV if groups > 1 and groups == x.c == cout else OpKind.CONV
        out = _Tensor(-1, cout, h, w, tokens=False)
        return self.emit(name, kind, [x], out, macs=params * h * w, params=params)

    def linear(self, name: str, x: _Tensor, cout: int) -> _Tensor:
        """Linear with bias over every token; MACs = tokens·in·out."""
        params = x.c * cout + cout
        out = replace(x, c=cout, zeros=0.0)
        return self.emit(name, OpKind.LINEAR, [x], out, macs=x.h * x.w * x.c * cout, params=params)

    def norm(self, name: str, x: _Tensor) -> _Tensor:
        """Batch norm (NCHW) or layer norm (tokens): scale and shift per channel."""
        return self.emit(name, OpKind.NORM, [x], replace(x, zeros=0.0), params=2 * x.c)

    def act(self, name: str, x: _Tensor, relu: bool) -> _Tensor:
        """ReLU (its output carries the configured zero fraction) or a smooth one (no zeros)."""
        zeros = float(self.rng.uniform(*self.cfg.act_sparsity)) if relu else 0.0
        return self.emit(name, OpKind.ACT, [x], replace(x, zeros=zeros))

    def add(self, name: str, a: _Tensor, b: _Tensor) -> _Tensor:
        return self.emit(name, OpKind.ADD, [a, b], replace(b, zeros=0.0))

    def concat(self, name: str, xs: Sequence[_Tensor]) -> _Tensor:
        c = sum(t.c for t in xs)
        zeros = sum(t.zeros * t.elems for t in xs) / sum(t.elems for t in xs)
        return self.emit(name, OpKind.CONCAT, xs, replace(xs[0], c=c, zeros=zeros))

    def pool(self, name: str, x: _Tensor, k: int = 3) -> _Tensor:
        """k×k stride-1 pooling: one FLOP per window element; zeros survive if the window is all zero."""
        out = replace(x, zeros=x.zeros ** (k * k))
        return self.emit(name, OpKind.POOL, [x], out, elementwise=float(x.elems * k * k))

    def attention(self, name: str, qkv: _Tensor) -> _Tensor:
        """Scaled dot-product attention over fused q, k, v; MACs = 2·heads·N²·d."""
        dim = qkv.c // 3
        heads = _heads(dim)
        n = qkv.h * qkv.w
        out = replace(qkv, c=dim, zeros=0.0)
        return self.emit(name, OpKind.ATTENTION, [qkv], out, macs=2 * heads * n * n * (dim // heads))

    def reshape(self, name: str, x: _Tensor, to_tokens: bool) -> _Tensor:
        """Flatten a feature map into tokens or back (a copy: transpose + contiguous)."""
        return self.emit(name, OpKind.RESHAPE, [x], replace(x, tokens=to_tokens))


def _heads(dim: int) -> int:
    """Number of heads: the divisor of ``dim`` nearest a head width of 64."""
    h = max(1, round(dim / 64))
    while dim % h:
        h -= 1
    return h


# ---------------------------------------------------------------------------------------------
# blocks


def _conv_unit(b: _Builder, x: _Tensor, prefix: str, cout: int, k: int, stride: int, n_ops: int = 3) -> _Tensor:
    """conv → norm → act, trimmed to its first ``n_ops`` operators."""
    y = b.conv(f"{prefix}conv", x, cout, k, stride)
    if n_ops >= 2:
        y = b.norm(f"{prefix}norm", y)
    if n_ops >= 3:
        y = b.act(f"{prefix}act", y, b.relu())
    return y


def _to_spatial(b: _Builder, x: _Tensor, prefix: str) -> _Tensor:
    return b.reshape(f"{prefix}unpatch", x, to_tokens=False) if x.tokens else x


def _chain(b: _Builder, x: _Tensor, prefix: str) -> _Tensor:
    """conv (k 1 or 3, sometimes stride 2) → norm → act."""
    x = _to_spatial(b, x, prefix)
    stride = 2 if b.can_downsample(x) and b.rng.random() < b.cfg.downsample_prob else 1
    k = (1, 3, 3)[int(b.rng.integers(3))]
    cout = min(b.cfg.channel_range[1], 2 * x.c) if stride == 2 else b.new_width(x.c)
    return _conv_unit(b, x, prefix, cout, k, stride)


def _residual(b: _Builder, x: _Tensor, prefix: str) -> _Tensor:
    """A basic residual block (ResNet) or an inverted bottleneck (MobileNetV2), half and half."""
    x = _to_spatial(b, x, prefix)
    lo, hi = b.cfg.channel_range
    if lo <= x.c <= hi and b.rng.random() < 0.5:
        return _inverted(b, x, prefix)
    stride = 2 if b.can_downsample(x) and b.rng.random() < b.cfg.downsample_prob else 1
    if stride == 2:
        cout = min(hi, max(lo, 2 * x.c))
    else:
        cout = x.c if lo <= x.c <= hi and b.rng.random() < 0.7 else b.new_width(x.c)
    y = b.conv(f"{prefix}conv1", x, cout, 3, stride)
    y = b.norm(f"{prefix}norm1", y)
    relu = b.relu()
    y = b.act(f"{prefix}act1", y, relu)
    y = b.conv(f"{prefix}conv2", y, cout, 3)
    y = b.norm(f"{prefix}norm2", y)
    skip = x
    if stride != 1 or cout != x.c:
        skip = b.conv(f"{prefix}proj", x, cout, 1, stride)
        skip = b.norm(f"{prefix}proj_norm", skip)
    y = b.add(f"{prefix}add", skip, y)
    return b.act(f"{prefix}act2", y, relu)


def _inverted(b: _Builder, x: _Tensor, prefix: str) -> _Tensor:
    """1×1 expand → norm → act → 3×3 depthwise → norm → act → 1×1 project → norm → add."""
    hidden = min(b.cfg.channel_range[1], x.c * _EXPANSIONS[int(b.rng.integers(len(_EXPANSIONS)))])
    relu = b.relu()
    y = b.conv(f"{prefix}expand", x, hidden, 1)
    y = b.act(f"{prefix}act1", b.norm(f"{prefix}norm1", y), relu)
    y = b.conv(f"{prefix}dw", y, hidden, 3, groups=hidden)
    y = b.act(f"{prefix}act2", b.norm(f"{prefix}norm2", y), relu)
    y = b.norm(f"{prefix}norm3", b.conv(f"{prefix}project", y, x.c, 1))
    return b.add(f"{prefix}add", x, y)


def _branch(b: _Builder, x: _Tensor, prefix: str) -> _Tensor:
    """2–3 parallel branches ([depthwise 3×3 | 3×3 pool] → conv → norm → act) joined by concat."""
    x = _to_spatial(b, x, prefix)
    lo, hi = b.cfg.channel_range
    n = int(b.rng.integers(2, 4))
    widths = _branch_widths(b, n, lo, hi)
    outs = []
    for j, width in enumerate(widths):
        p = f"{prefix}br{j}_"
        pre = int(b.rng.integers(3))  # 0: none, 1: depthwise conv, 2: pooling
        y = x
        if pre == 1:
            y = b.conv(f"{p}dw", y, y.c, 3, groups=y.c)
        elif pre == 2:
            y = b.pool(f"{p}pool", y)
        k = (1, 3, 5)[int(b.rng.integers(3))]
        outs.append(_conv_unit(b, y, p, width, k, 1))
    return b.concat(f"{prefix}concat", outs)


def _branch_widths(b: _Builder, n: int, lo: int, hi: int) -> list[int]:
    """``n`` branch widths summing into [lo, hi]: each in [lo, hi // n] where that range exists."""
    if n * lo <= hi:
        return [b.log_uniform(lo, hi // n) for _ in range(n)]
    total = b.log_uniform(max(lo, n), hi)  # too narrow for n full-width branches: split a total
    cuts = np.sort(b.rng.choice(total - 1, size=n - 1, replace=False) + 1)
    return [int(w) for w in np.diff(np.concatenate(([0], cuts, [total])))]


def _patch(b: _Builder, x: _Tensor, prefix: str) -> _Tensor:
    """Feature map → tokens: a k=p, stride-p patch conv to the embedding width, then a reshape."""
    if x.tokens:
        return x
    sizes = _patch_sizes(min(x.h, x.w), b.cfg)
    p = sizes[int(b.rng.integers(len(sizes)))]
    y = b.conv(f"{prefix}patch", x, _embed_width(b), p, stride=p, padding=0)
    return b.reshape(f"{prefix}tokens", y, to_tokens=True)


def _embed_width(b: _Builder) -> int:
    """An embedding width in range, a multiple of 8 where the range allows one."""
    lo, hi = b.cfg.embed_range
    d = b.log_uniform(lo, hi)
    rounded = 8 * round(d / 8)
    return rounded if lo <= rounded <= hi and rounded > 0 else d


def _attention(b: _Builder, x: _Tensor, prefix: str) -> _Tensor:
    """Pre-norm transformer block: LN → qkv → attention → proj → add; LN → fc → GELU → fc → add."""
    x = _patch(b, x, prefix)
    d = x.c
    y = b.norm(f"{prefix}ln1", x)
    y = b.linear(f"{prefix}qkv", y, 3 * d)
    y = b.attention(f"{prefix}attn", y)
    y = b.linear(f"{prefix}proj", y, d)
    x = b.add(f"{prefix}add1", x, y)
    ratio = int(b.rng.integers(b.cfg.mlp_ratio[0], b.cfg.mlp_ratio[1] + 1))
    y = b.norm(f"{prefix}ln2", x)
    y = b.linear(f"{prefix}fc1", y, ratio * d)
    y = b.act(f"{prefix}gelu", y, relu=False)
    y = b.linear(f"{prefix}fc2", y, d)
    return b.add(f"{prefix}add2", x, y)


_BLOCKS = {"chain": _chain, "residual": _residual, "branch": _branch, "attention": _attention}


def _filler(b: _Builder, x: _Tensor, prefix: str, n_ops: int) -> _Tensor:
    """A trimmed chain of at most 3 operators in the current domain (fills an op budget exactly)."""
    n_ops = min(n_ops, 3)
    if not x.tokens:
        return _conv_unit(b, x, prefix, b.new_width(x.c), 3, 1, n_ops)
    y = b.linear(f"{prefix}fc", x, x.c)
    if n_ops >= 2:
        y = b.norm(f"{prefix}ln", y)
    if n_ops >= 3:
        y = b.act(f"{prefix}gelu", y, relu=False)
    return y


def _stem(b: _Builder, transformer: bool, budget: int) -> tuple[_Tensor, tuple[int, ...]]:
    """The first operators, from an RGB image: conv 3×3/2 → norm → act, or a ViT patch stem."""
    if transformer:
        grids = _vit_grids(b.cfg)
        g = grids[int(b.rng.integers(len(grids)))]
        p = _VIT_PATCHES[int(b.rng.integers(len(_VIT_PATCHES)))]
        image = _Tensor(-1, 3, g * p, g * p, tokens=False)
        y = b.conv("stem_patch", image, _embed_width(b), p, stride=p, padding=0)
        if budget >= 2:
            y = b.reshape("stem_tokens", y, to_tokens=True)
        return y, image.shape
    r = b.log_uniform(*b.cfg.resolution)
    image = _Tensor(-1, 3, 2 * r, 2 * r, tokens=False)
    cout = b.log_uniform(*b.cfg.channel_range)
    return _conv_unit(b, image, "stem_", cout, 3, 2, min(budget, 3)), image.shape


# ---------------------------------------------------------------------------------------------
# entry point


def _block_sequence(cfg: SyntheticConfig, rng: np.random.Generator) -> Iterator[str]:
    """Block kinds: each requested kind once (shuffled), then draws from the mix, forever."""
    kinds = list(cfg.kinds)
    for i in rng.permutation(len(kinds)):
        yield kinds[int(i)]
    weights = dict(cfg.mix)
    p = np.array([weights.get(k, 0.0) for k in kinds], dtype=float)
    p /= p.sum()
    while True:
        yield kinds[int(rng.choice(len(kinds), p=p))]


def _resolve_seed(seed: int | np.random.Generator) -> int:
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GraphError(f"synthetic graph: seed must be a non-negative integer or a numpy Generator, got {seed!r}")
    return int(seed)


def generate(
    seed: int | np.random.Generator,
    config: SyntheticConfig | None = None,
    *,
    n_blocks: int | None = None,
    target_ops: int | None = None,
    kinds: Sequence[str] | None = None,
    size_scale: float | None = None,
    sparsity: float | tuple[float, float] | None = None,
) -> OpGraph:
    """A random, physically consistent operator graph named ``synthetic-<seed>``.

    The graph is a stem (conv 3×3/2 → norm → act, or a ViT patch stem when the first block is
    attention) followed by ``n_blocks`` blocks, or by blocks up to exactly ``target_ops``
    operators. Keyword arguments override fields of ``config``; ``sparsity`` is the
    weight-sparsity (pruning) level, a number or a ``(low, high)`` range drawn once per graph.
    A Generator as ``seed`` supplies a fresh integer seed, so every graph is reproducible from
    its name. ``meta`` records the seed, the block sequence, the drawn weight sparsity and the
    config. Raises :class:`~sparoa_sim.GraphError` for knobs it cannot honour.
    """
    cfg = config or SyntheticConfig()
    changes: dict[str, Any] = {}
    if n_blocks is not None:
        changes["n_blocks"] = n_blocks
    if target_ops is not None:
        changes["target_ops"] = target_ops
    if kinds is not None:
        changes["kinds"] = tuple(kinds)
    if size_scale is not None:
        changes["size_scale"] = size_scale
    if sparsity is not None:
        changes["w_sparsity"] = (sparsity, sparsity) if isinstance(sparsity, (int, float)) else tuple(sparsity)
    if changes:
        cfg = replace(cfg, **changes)
    s = _resolve_seed(seed)
    rng = np.random.default_rng(s)
    b = _Builder(cfg, rng, w_sparsity=float(rng.uniform(*cfg.w_sparsity)))
    budget = cfg.target_ops if cfg.target_ops is not None else math.inf
    sequence = _block_sequence(cfg, rng)
    first = next(sequence)
    x, input_shape = _stem(b, first == "attention", int(min(budget, 3)))
    blocks = ["stem"]
    pending: str | None = first
    while (len(b.ops) < budget) if cfg.target_ops is not None else (len(blocks) <= cfg.n_blocks):
        kind = pending if pending is not None else next(sequence)
        pending = None
        prefix = f"b{len(blocks)}_"
        mark, params = len(b.ops), b.params
        y = _BLOCKS[kind](b, x, prefix)
        if len(b.ops) > budget:  # does not fit: undo it and fill the budget with a trimmed chain
            del b.ops[mark:]
            b.params = params
            y = _filler(b, x, prefix, int(budget - len(b.ops)))
            kind = "filler"
        x = y
        blocks.append(kind)
    return OpGraph(
        name=f"synthetic-{s}",
        ops=tuple(b.ops),
        input_shape=input_shape,
        sparsity_source=f"synthetic (seed {s})",
        params=b.params,
        meta={
            "generator": "sparoa_sim.ir.synthetic",
            "seed": s,
            "blocks": blocks,
            "w_sparsity": b.w_sparsity,
            "config": cfg.to_dict(),
        },
    )
