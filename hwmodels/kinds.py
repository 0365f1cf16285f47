"""The enumeration of operator kinds shared by the graph IR and the hardware twin.

It lives in ``hwmodels`` because the latency model keeps per-kind parameters; the IR imports it.
Each kind has a stable integer code (its position in :data:`KINDS`) used in numpy arrays.
"""

from __future__ import annotations

import enum

__all__ = ["OpKind", "KINDS", "KIND_CODES", "ELEMENTWISE_FLOPS", "EXP_FLOPS", "ERF_FLOPS", "FUNCTION_FLOPS",
           "kind_code", "parse_kind"]


class OpKind(str, enum.Enum):
    """Normalised operator kind (docs/architecture.md §2)."""

    CONV = "conv"
    DWCONV = "dwconv"
    LINEAR = "linear"
    MATMUL = "matmul"
    ATTENTION = "attention"
    NORM = "norm"
    ACT = "act"
    POOL = "pool"
    ADD = "add"
    MUL = "mul"
    CONCAT = "concat"
    SOFTMAX = "softmax"
    RESHAPE = "reshape"
    OTHER = "other"

    def __str__(self) -> str:  # "conv", not "OpKind.CONV"
        return self.value


#: Kinds in code order; ``KINDS[code]`` is the kind with that integer code.
KINDS: tuple[OpKind, ...] = tuple(OpKind)
#: Kind -> integer code.
KIND_CODES: dict[OpKind, int] = {k: i for i, k in enumerate(KINDS)}

#: Element-wise floating-point work per *output* element, by kind, added on top of 2 x MACs.
#: Explicit rules (docs/architecture.md §2): batch norm in inference = subtract mean, multiply by inverse
#: std, scale, shift (4); an activation = 1 (a ReLU's compare — the default for an activation
#: the extractor cannot name; named functions follow :data:`FUNCTION_FLOPS`); softmax = max,
#: subtract, exp, sum, divide (3 + ``EXP_FLOPS``); add/mul = 1. Pooling is counted from its
#: window by the extractor (one op per window element); kinds absent here contribute no
#: element-wise work.
ELEMENTWISE_FLOPS: dict[OpKind, float] = {
    OpKind.NORM: 4.0,
    OpKind.ACT: 1.0,
    OpKind.SOFTMAX: 14.0,
    OpKind.ADD: 1.0,
    OpKind.MUL: 1.0,
}

#: FLOPs of one ``exp`` / ``erf`` evaluation: the vectorised kernels behind PyTorch's (SLEEF-style)
#: evaluate a range reduction and a polynomial of degree ~7–10 by Horner's rule (one
#: multiply-add per degree, plus the reduction); counting them as one FLOP, as flop counters
#: do, makes a GELU look as cheap as a ReLU, which no device agrees with.
EXP_FLOPS = 10.0
ERF_FLOPS = 20.0

#: Element-wise FLOPs per output element of the norm and activation functions the extractor
#: names (its kind's ELEMENTWISE_FLOPS otherwise). Layer/group/instance norm also compute the
#: mean and variance they normalise by (sum; subtract, square, sum: +4 over batch norm).
FUNCTION_FLOPS: dict[str, float] = {
    "batch_norm": 4.0,
    "layer_norm": 8.0,
    "group_norm": 8.0,
    "instance_norm": 8.0,
    "relu": 1.0,
    "relu6": 2.0,
    "leaky_relu": 2.0,
    "hardsigmoid": 3.0,
    "hardswish": 4.0,
    "sigmoid": EXP_FLOPS + 2.0,
    "silu": EXP_FLOPS + 3.0,
    "tanh": EXP_FLOPS + 4.0,
    "elu": EXP_FLOPS + 2.0,
    "gelu": ERF_FLOPS + 4.0,
    "gelu_tanh": EXP_FLOPS + 10.0,
    "mish": 2 * EXP_FLOPS + 8.0,
}


def kind_code(kind: OpKind | str) -> int:
    """Integer code of a kind (accepts the enum or its string value)."""
    return KIND_CODES[parse_kind(kind)]


def parse_kind(kind: OpKind | str) -> OpKind:
    """The :class:`OpKind` for ``kind``; raises ``ValueError`` naming the value if unknown."""
    if isinstance(kind, OpKind):
        return kind
    try:
        return OpKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in KINDS)
        raise ValueError(f"unknown operator kind {kind!r} (known: {known})") from None
