"""The enumeration of operator kinds shared by the graph IR and the hardware twin.

It lives in ``hwmodels`` because the latency model keeps per-kind parameters; the IR imports it.
Each kind has a stable integer code (its position in :data:`KINDS`) used in numpy arrays.
"""

from __future__ import annotations

import enum

__all__ = ["OpKind", "KINDS", "KIND_CODES", "ELEMENTWISE_FLOPS", "kind_code", "parse_kind"]


class OpKind(str, enum.Enum):
    """Normalised operator kind (DESIGN §2)."""

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
#: Explicit rules (DESIGN §2): batch/layer norm in inference = subtract mean, multiply by
#: inverse std, scale, shift (4); an activation = 1 (ReLU compare; smooth activations are
#: counted as one op too, their cost is absorbed by the kind's efficiency); softmax = max,
#: subtract, exp, sum, divide (5); add/mul = 1. Pooling is counted from its window by the
#: extractor (one op per window element); kinds absent here contribute no element-wise work.
ELEMENTWISE_FLOPS: dict[OpKind, float] = {
    OpKind.NORM: 4.0,
    OpKind.ACT: 1.0,
    OpKind.SOFTMAX: 5.0,
    OpKind.ADD: 1.0,
    OpKind.MUL: 1.0,
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
