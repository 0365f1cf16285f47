"""Hypothesis strategies for operator graphs: generated DAGs, raw JSON documents, corruptions.

Imports hypothesis (a dev dependency), so nothing under ``sparoa_sim`` imports this module;
tests do. Generated graphs come from :func:`sparoa_sim.ir.synthetic.generate` (physically
consistent sizes, shrinking towards seed 0 and the smallest allowed op count); raw documents
and single operators are for JSON-level fuzzing of the loader.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from sparoa_sim.hwmodels.kinds import KINDS
from sparoa_sim.ir.graph import DTYPE_BYTES, SCHEMA_VERSION, SPLIT_AXES, Op, OpGraph
from sparoa_sim.ir.synthetic import BLOCK_KINDS, SyntheticConfig, generate

__all__ = [
    "CORRUPTIONS",
    "chain_graphs",
    "configs",
    "corrupt_graph_dicts",
    "graphs",
    "op_dicts",
    "ops",
    "raw_graph_dicts",
    "small_graphs",
    "with_kernels",
]

_SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
# Zero or at least 1e-6: subnormal byte counts would make intensities overflow to inf.
_AMOUNTS = st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e12))
_FRACTIONS = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
_NAMES = st.text(min_size=1, max_size=8)


@st.composite
def configs(draw: st.DrawFn, kinds: Sequence[str] | None = None) -> SyntheticConfig:
    """A random :class:`SyntheticConfig` the generator can honour (small sizes, any mix)."""
    if kinds is None:
        kinds = draw(st.lists(st.sampled_from(BLOCK_KINDS), min_size=1, max_size=4, unique=True))
    mix = tuple((k, draw(st.floats(min_value=0.05, max_value=1.0))) for k in BLOCK_KINDS)
    c_lo = draw(st.integers(1, 32))
    r_lo = draw(st.integers(2, 8))
    r_hi = draw(st.integers(r_lo, 32))
    t_lo = draw(st.integers(1, r_lo * r_lo))
    t_hi = draw(st.integers((2 * r_lo + 2) ** 2, (2 * r_lo + 2) ** 2 + 400))
    e_lo = draw(st.integers(1, 64))
    m_lo = draw(st.integers(1, 4))
    a_lo = draw(_FRACTIONS)
    w_lo = draw(_FRACTIONS)
    return SyntheticConfig(
        kinds=tuple(kinds),
        mix=mix,
        channels=(c_lo, draw(st.integers(max(c_lo, 6), 256))),
        resolution=(r_lo, r_hi),
        tokens=(t_lo, t_hi),
        embed_dim=(e_lo, draw(st.integers(e_lo, 256))),
        mlp_ratio=(m_lo, draw(st.integers(m_lo, 4))),
        size_scale=draw(st.sampled_from((0.5, 1.0, 1.0, 1.5))),
        act_sparsity=(a_lo, draw(st.floats(min_value=a_lo, max_value=1.0))),
        w_sparsity=(w_lo, draw(st.floats(min_value=w_lo, max_value=1.0))),
        relu_prob=draw(_FRACTIONS),
        downsample_prob=draw(_FRACTIONS),
    )


def _check_bounds(min_ops: int, max_ops: int) -> None:
    if not 1 <= min_ops <= max_ops:
        raise ValueError(f"expected 1 <= min_ops <= max_ops, got min_ops={min_ops}, max_ops={max_ops}")


def graphs(
    min_ops: int = 1, max_ops: int = 60, *, kinds: Sequence[str] | None = None, fixed_config: bool = False
) -> st.SearchStrategy[OpGraph]:
    """Synthetic graphs with ``min_ops`` to ``max_ops`` operators (a drawn seed, config and size).

    ``kinds`` restricts the block kinds; ``fixed_config`` keeps the default knobs (only the
    seed and the size are drawn), which shrinks faster.
    """
    _check_bounds(min_ops, max_ops)
    cfgs = st.just(SyntheticConfig(kinds=tuple(kinds or BLOCK_KINDS))) if fixed_config else configs(kinds)
    return st.builds(
        lambda seed, cfg, n: generate(seed, cfg, target_ops=n),
        _SEEDS,
        cfgs,
        st.integers(min_ops, max_ops),
    )


def small_graphs(max_ops: int = 30, *, kernels: tuple[int, int] | None = None) -> st.SearchStrategy[OpGraph]:
    """Graphs of at most ``max_ops`` (≤ 30 by default) operators, for exact-oracle tests;
    ``kernels=(lo, hi)`` draws each operator's kernel count there (see :func:`with_kernels`)."""
    out = graphs(1, max_ops)
    return out if kernels is None else with_kernels(out, *kernels)


def chain_graphs(min_ops: int = 1, max_ops: int = 20, *, kernels: tuple[int, int] | None = None
                 ) -> st.SearchStrategy[OpGraph]:
    """Linear chains (every operator depends on the previous one): conv → norm → act blocks;
    ``kernels`` as in :func:`small_graphs`."""
    out = graphs(min_ops, max_ops, kinds=("chain",))
    return out if kernels is None else with_kernels(out, *kernels)


def with_kernels(graphs: st.SearchStrategy[OpGraph], lo: int = 0, hi: int = 4) -> st.SearchStrategy[OpGraph]:
    """The graphs of ``graphs`` with each operator's ``kernels`` drawn from ``lo..hi`` (0: a pure
    view; launch and dispatch costs are charged per kernel, docs/architecture.md §3-4). Shrinks
    towards ``lo``."""
    if not 0 <= lo <= hi:
        raise ValueError(f"expected 0 <= lo <= hi, got lo={lo}, hi={hi}")

    @st.composite
    def draw(draw_: st.DrawFn) -> OpGraph:
        g = draw_(graphs)
        ks = draw_(st.lists(st.integers(lo, hi), min_size=len(g), max_size=len(g)), label="kernels")
        return dataclasses.replace(g, ops=tuple(dataclasses.replace(op, kernels=k) for op, k in zip(g.ops, ks)))

    return draw()


def ops(index: int = 0, *, names: st.SearchStrategy[str] = _NAMES) -> st.SearchStrategy[Op]:
    """A valid but physically arbitrary operator at position ``index`` (deps among earlier ops)."""
    deps: st.SearchStrategy[tuple[int, ...]] = st.just(())
    if index:
        deps = st.lists(st.integers(0, index - 1), unique=True, max_size=3).map(lambda d: tuple(sorted(d)))
    return st.builds(
        Op,
        name=names,
        kind=st.sampled_from(KINDS),
        macs=_AMOUNTS,
        flops=_AMOUNTS,
        bytes_in=_AMOUNTS,
        bytes_out=_AMOUNTS,
        bytes_w=_AMOUNTS,
        act_sparsity=_FRACTIONS,
        w_sparsity=_FRACTIONS,
        deps=deps,
        out_shape=st.lists(st.integers(0, 4096), max_size=4).map(tuple),
        dtype=st.sampled_from(sorted(DTYPE_BYTES)),
        split_axis=st.sampled_from((None, *SPLIT_AXES)),
        kernels=st.integers(0, 4),
    )


def op_dicts(index: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """The JSON form of :func:`ops` (an operator object of a graph document)."""
    return ops(index).map(Op.to_dict)


@st.composite
def raw_graph_dicts(draw: st.DrawFn, min_ops: int = 1, max_ops: int = 12, shuffled: bool = False) -> dict[str, Any]:
    """A valid graph JSON document (unique names, acyclic); ``shuffled`` permutes the op list."""
    _check_bounds(min_ops, max_ops)
    n = draw(st.integers(min_ops, max_ops))
    raw = [draw(op_dicts(i)) for i in range(n)]
    for i, op in enumerate(raw):
        op["name"] = f"{op['name']}#{i}"  # names must be unique
    if shuffled:
        perm = draw(st.permutations(range(n)))  # perm[new] = old
        new_of = {old: new for new, old in enumerate(perm)}
        raw = [{**raw[old], "deps": [new_of[d] for d in raw[old]["deps"]]} for old in perm]
    return {
        "schema_version": SCHEMA_VERSION,
        "name": draw(_NAMES),
        "input_shape": draw(st.lists(st.integers(0, 512), max_size=4)),
        "sparsity_source": draw(st.text(max_size=20)),
        "params": draw(st.none() | st.integers(0, 10**9)),
        "meta": {},
        "ops": raw,
    }


def _corrupt(doc: dict[str, Any], how: str, i: int, field: str) -> str:
    """Apply one corruption to ``doc`` in place; return a fragment the error message must hold."""
    ops = doc["ops"]
    op = ops[i]
    if how == "nan":
        op[field] = math.nan
    elif how == "negative":
        op[field] = -1.0
    elif how == "sparsity_above_one":
        op[field] = 1.5
    elif how == "unknown_kind":
        op["kind"] = "bogus"
        return "kind"
    elif how == "dep_out_of_range":
        op["deps"] = [*op["deps"], len(ops)]
        return "deps"
    elif how == "cycle":  # the first op depends on the last, which (transitively or not) may not reach it
        ops[0]["deps"] = [*ops[0]["deps"], len(ops) - 1] if len(ops) > 1 else [0]
        if len(ops) > 1 and 0 not in ops[-1]["deps"]:
            ops[-1]["deps"] = sorted({*ops[-1]["deps"], 0})
        return "cycle"
    elif how == "duplicate_name":
        if len(ops) < 2:
            op["deps"] = [0]
            return "cycle"
        ops[-1]["name"] = ops[0]["name"]
        return "duplicate"
    elif how == "schema_version":
        doc["schema_version"] = SCHEMA_VERSION + 1
        return "schema_version"
    elif how == "missing_name":
        del op["name"]
        return "name"
    elif how == "unknown_field":
        op["colour"] = "red"
        return "colour"
    return field


#: Corruptions :func:`corrupt_graph_dicts` applies (one per document).
CORRUPTIONS = (
    "nan", "negative", "sparsity_above_one", "unknown_kind", "dep_out_of_range", "cycle",
    "duplicate_name", "schema_version", "missing_name", "unknown_field",
)


@st.composite
def corrupt_graph_dicts(draw: st.DrawFn, max_ops: int = 8) -> tuple[dict[str, Any], str, str]:
    """``(doc, corruption, fragment)``: a document broken one way; loading it must raise a
    :class:`~sparoa_sim.GraphError` whose message contains ``fragment``."""
    doc = draw(raw_graph_dicts(1, max_ops))
    how = draw(st.sampled_from(CORRUPTIONS))
    i = draw(st.integers(0, len(doc["ops"]) - 1))
    numeric = ("macs", "flops", "bytes_in", "bytes_out", "bytes_w", "act_sparsity", "w_sparsity")
    field = draw(st.sampled_from(("act_sparsity", "w_sparsity") if how == "sparsity_above_one" else numeric))
    return doc, how, _corrupt(doc, how, i, field)
