"""Dependency-order helpers of the graph IR: one cycle of a dependency relation, a stable topological order.

Kept apart from ``ir.graph`` (which validates and sorts graphs with them) so each module holds one job.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

__all__ = ["find_cycle", "toposort"]


def find_cycle(deps: Sequence[Sequence[int]]) -> list[int]:
    """One cycle of the dependency relation as a list of indices (closed), or ``[]``."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = [WHITE] * len(deps)
    for root in range(len(deps)):
        if colour[root] != WHITE:
            continue
        stack: list[tuple[int, int]] = [(root, 0)]
        path: list[int] = [root]
        colour[root] = GREY
        while stack:
            node, k = stack[-1]
            if k < len(deps[node]):
                stack[-1] = (node, k + 1)
                nxt = deps[node][k]
                if colour[nxt] == GREY:
                    start = path.index(nxt)
                    return path[start:] + [nxt]
                if colour[nxt] == WHITE:
                    colour[nxt] = GREY
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                colour[node] = BLACK
                stack.pop()
                path.pop()
    return []


def toposort(deps: Sequence[Sequence[int]]) -> list[int] | None:
    """A stable topological order (Kahn, smallest index first), or ``None`` on a cycle."""
    n = len(deps)
    indeg = [len(set(d)) for d in deps]
    consumers: list[list[int]] = [[] for _ in range(n)]
    for i, ds in enumerate(deps):
        for d in set(ds):
            consumers[d].append(i)
    ready = [i for i in range(n) if indeg[i] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for c in consumers[i]:
            indeg[c] -= 1
            if indeg[c] == 0:
                heapq.heappush(ready, c)
    return order if len(order) == n else None
