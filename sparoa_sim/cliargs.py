"""What the ``sparoa`` sub-commands share: argument parsers, JSON output and the rich console.

Bad values raise :class:`BadArgument` (an ``argparse.ArgumentTypeError``, whose message argparse
prints as is — a plain ValueError would be replaced by argparse's vague "invalid value" — and a
``SparOAError`` where a command calls a parser itself): one line, exit 2.
"""

from __future__ import annotations

import json
import math
import sys
from argparse import ArgumentTypeError
from collections.abc import Callable
from typing import Any

from sparoa_sim.errors import SparOAError

__all__ = ["BadArgument", "comma_list", "console", "positive", "positive_int", "print_json", "seed"]


class BadArgument(SparOAError, ArgumentTypeError):
    """A bad argument value: argparse prints its message; called directly, it is a SparOAError."""


#: Largest integer an option takes (seeds and counts reach 32-bit solvers and generators).
MAX_INT = 2**31 - 1


def positive(name: str, kind: type = int) -> Callable[[str], int | float]:
    """A parser for a positive ``kind`` (int: ≥ 1; float: > 0) named ``name`` in errors."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise BadArgument(f"{name} must be {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        if not v > 0:
            raise BadArgument(f"{name} must be {'>= 1' if kind is int else 'positive'}, got {text!r}")
        if not math.isfinite(v) or v > MAX_INT:
            raise BadArgument(f"{name} must be finite and at most {MAX_INT}, got {text!r}")
        return v
    return parse


def positive_int(name: str) -> Callable[[str], int]:
    """A parser for an integer ≥ 1."""
    return positive(name, int)


def seed(text: str) -> int:
    """``--seed``: a non-negative integer."""
    try:
        v = int(text)
    except ValueError:
        raise BadArgument(f"--seed must be a non-negative integer, got {text!r}") from None
    if not 0 <= v <= MAX_INT:
        raise BadArgument(f"--seed must be an integer in [0, {MAX_INT}], got {v}")
    return v


def comma_list(text: str) -> list[str]:
    """``a,b,c`` → ``["a", "b", "c"]`` (at least one item)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise BadArgument(f"expected a comma-separated list, got {text!r}")
    return items


def print_json(obj: Any) -> None:
    """``--json``: exactly one JSON object on stdout (NaN refused: a clear error, exit 2)."""
    try:
        text = json.dumps(obj, allow_nan=False)
    except ValueError:
        raise SparOAError("the result holds a non-finite number (an overflow from extreme values in the "
                          "graph or profile?): nothing printed") from None
    sys.stdout.write(text + "\n")


def console():
    """A rich console; piped output (CI logs, ``| less``) gets a wide table, not rich's 80 columns."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)
