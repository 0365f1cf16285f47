"""A lower bound and a start for the oracle on totally ordered graphs (chains with skip edges).

When every operator is an ancestor or a descendant of every other (ResNet-free chains such as
MobileNet, ViT and Swin as extracted: residual adds are skip edges, nothing runs in parallel),
each device's order is forced and only the placement is chosen. Dropping the skip edges leaves
the *spine* ``0 → 1 → … → n-1``, a chain the exact dynamic program of
:mod:`sparoa_sim.agents.exact.chain_dp` solves. The spine's optimum is a lower bound on the
graph's: every rule of :mod:`sparoa_sim.sim.reference` only loses terms when an edge goes (a
skip consumer never needs its copy before the spine consumer does: releases grow along the
order), so the least solution of the spine is no later anywhere, for every placement. Its
placement, replayed on the whole graph, is also a candidate start for the solver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sparoa_sim.agents.exact.chain_dp import ChainOptimum, chain_optimum
from sparoa_sim.agents.exact.refsched import RefProblem

__all__ = ["is_totally_ordered", "spine", "spine_optimum"]


def is_totally_ordered(p: RefProblem) -> bool:
    """Whether operator ``i`` depends on ``i - 1`` for every ``i > 0`` (with topological indices:
    every pair is ordered by the graph)."""
    return p.n > 0 and all((i - 1) in p.deps[i] for i in range(1, p.n))


def spine(p: RefProblem) -> RefProblem:
    """The chain ``0 → 1 → … → n-1`` of a totally ordered problem (its skip edges dropped)."""
    n = p.n
    return replace(p, deps=tuple(((i - 1,) if i else ()) for i in range(n)),
                   cons=tuple(((i + 1,) if i + 1 < n else ()) for i in range(n)))


def spine_optimum(p: RefProblem,
                  durations: tuple[Sequence[float], Sequence[float], Sequence[float], Sequence[float]] | None = None
                  ) -> ChainOptimum | None:
    """The spine's exact optimum (a lower bound on ``p``'s latency, in the units of ``durations``)
    and its placement; None unless ``p`` is totally ordered."""
    if not is_totally_ordered(p) or p.cpu_dispatch:
        return None
    return chain_optimum(spine(p), durations)
