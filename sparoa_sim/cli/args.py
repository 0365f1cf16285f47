"""How the ``sparoa`` sub-commands read their arguments: the parser class and value parsers.

Bad values raise :class:`BadArgument` (an ``argparse.ArgumentTypeError``, whose message argparse
prints as is — a plain ValueError would be replaced by argparse's vague "invalid value" — and a
``SparOAError`` where a command calls a parser itself): one line, exit 2 (docs/architecture.md §9).
A usage error (unknown option, missing argument) is a :class:`UsageError`, reported the same way.
``console`` and ``print_json`` live in :mod:`sparoa_sim.cli.output`; they are named here too, where
the commands used to find them.
"""

from __future__ import annotations

import argparse
import math
from argparse import ArgumentTypeError
from collections.abc import Callable
from typing import NoReturn

from sparoa_sim.cli.output import console, print_json
from sparoa_sim.errors import SparOAError

__all__ = ["BadArgument", "DEFAULT_MAX_INPUTS", "MAX_INT", "Parser", "UsageError", "add_tf32", "add_user_weights", "at_most",
           "check_user_weights", "comma_list", "console", "finite", "positive", "positive_int", "print_json", "seed"]

#: Inputs measured when ``--max-inputs`` is not given (``real.models.user_inputs.DEFAULT_MAX_INPUTS``).
DEFAULT_MAX_INPUTS = 64


class BadArgument(SparOAError, ArgumentTypeError):
    """A bad argument value: argparse prints its message; called directly, it is a SparOAError."""


class UsageError(SparOAError):
    """A command-line usage error (argparse's), reported like any bad input."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (exit 2) rather than usage text plus a line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


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


def finite(name: str, lo: float = -math.inf, hi: float = math.inf) -> Callable[[str], float]:
    """A parser for a finite number in [``lo``, ``hi``] named ``name`` in errors (``nan`` and ``inf`` refused)."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise BadArgument(f"{name} must be a number, got {text!r}") from None
        if not math.isfinite(v) or not lo <= v <= hi:
            within = f" in [{lo:g}, {hi:g}]" if math.isfinite(hi) else (f" >= {lo:g}" if math.isfinite(lo) else "")
            raise BadArgument(f"{name} must be a finite number{within}, got {text!r}")
        return v
    return parse


def positive_int(name: str) -> Callable[[str], int]:
    """A parser for an integer ≥ 1."""
    return positive(name, int)


def at_most(parse: Callable[[str], int], name: str, limit: int) -> Callable[[str], int]:
    """``parse``, then refuse values above ``limit`` (e.g. a simulated stream's arrivals are drawn up front)."""
    def check(text: str) -> int:
        v = parse(text)
        if v > limit:
            raise BadArgument(f"{name} must be at most {limit:,}, got {v:,}")
        return v
    return check


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


def add_tf32(parser: argparse.ArgumentParser) -> None:
    """``--tf32 {conv,all,none}``: which FP32 kinds run on TF32 tensor cores (default: the profile's,
    else "conv", PyTorch's default; docs/architecture.md §3). The value lands in ``args.tf32``
    (None when not given); apply it with ``Platform.with_tf32``."""
    from sparoa_sim.hwmodels.platform import TF32_MODES

    parser.add_argument("--tf32", choices=TF32_MODES, default=None,
                        help="FP32 kinds on TF32 tensor cores: conv (PyTorch's default: cuDNN convolutions), all "
                             "(matmul too), none (default: the profile's tf32, else conv)")


def add_user_weights(parser: argparse.ArgumentParser, use: str) -> None:
    """``--weights FILE --inputs FILE|DIR [--max-inputs N]``: a trained ``state_dict`` and the user's
    inputs (``extract``, ``validate``); ``use`` says what they are for. Check the pair with
    :func:`check_user_weights`."""
    parser.add_argument("--weights", default=None,
                        help=f"trained state_dict (torch.save(model.state_dict())) to {use}; needs --inputs")
    parser.add_argument("--inputs", default=None,
                        help=f".npy of shape (N, C, H, W) or a folder of images to {use}; needs --weights")
    parser.add_argument("--max-inputs", type=int, default=DEFAULT_MAX_INPUTS,
                        help=f"use at most this many inputs (default {DEFAULT_MAX_INPUTS})")


def check_user_weights(args: argparse.Namespace) -> bool:
    """Whether ``--weights`` and ``--inputs`` were given; one without the other is a one-line error."""
    if (args.weights is None) != (args.inputs is None):
        given, missing = ("--weights", "--inputs") if args.inputs is None else ("--inputs", "--weights")
        raise SparOAError(f"{given}: measured sparsity needs {missing} too (trained weights and inputs go together)")
    return args.weights is not None
