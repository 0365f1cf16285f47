"""A lower bound for graphs that are almost chains (issue 21): drop side branches, solve the chain.

ResNet's downsampling blocks run a projection shortcut beside the main branch, GoogLeNet's inception
blocks four branches: the graph is not totally ordered, so the spine bound of
:mod:`sparoa_sim.agents.exact.spine` does not apply. Between two *cut* operators (each an ancestor
or a descendant of every other operator) this module keeps one path — the longest under a weighting
(the faster device's latency, the GPU's with its launch, the CPU's; the highest optimum is kept) —
and drops the segment's other operators. The kept operators form a totally ordered graph
whose spine's optimum (the chain DP) is a lower bound on the original's, when dropping is a
relaxation:

- for a fixed placement and per-device orders, every rule of :mod:`sparoa_sim.sim.reference` on a
  kept operator keeps a subset of its terms (dropped producers; a device predecessor replaced by an
  earlier one, whose term the dropped one's own chain already implied), except two: a kept operator
  that would become a source (it would wait for the request's input copy) or a sink (its output
  would be copied home); and a copy's first need, the earliest release of a consumer on the device,
  which rises if a dropped consumer was released first. So a drop is refused unless no kept
  operator becomes a source or a sink, and every kept consumer ``k`` of a kept producer of a dropped
  ``c`` has all its producers among ``c``'s ancestors (then ``ready[k] <= ready[c]`` always, since
  issue times only grow along the graph);
- with those, the original's times on the kept operators satisfy the relaxed rules, so the relaxed
  least solution (and its best over placements) is no later: a proven bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sparoa_sim.agents.exact.chain_dp import ChainOptimum
from sparoa_sim.agents.exact.refsched import RefProblem
from sparoa_sim.agents.exact.spine import spine_optimum

__all__ = ["chain_relaxation", "cut_operators", "relaxed_optimum"]

Durations = tuple[Sequence[float], Sequence[float], Sequence[float], Sequence[float]]


def _closure(p: RefProblem) -> list[int]:
    """Ancestor bitsets (indices are topological)."""
    anc = [0] * p.n
    for i in range(p.n):
        for q in p.deps[i]:
            anc[i] |= anc[q] | (1 << q)
    return anc


def cut_operators(p: RefProblem) -> list[int]:
    """Operators that are an ancestor or a descendant of every other operator, in index order."""
    anc = _closure(p)
    desc = [0] * p.n
    for i in reversed(range(p.n)):
        for c in p.cons[i]:
            desc[i] |= desc[c] | (1 << c)
    full = (1 << p.n) - 1
    return [i for i in range(p.n) if (anc[i] | desc[i] | (1 << i)) == full]


def _weights(p: RefProblem) -> list[list[float]]:
    """Per-operator weights a kept path may be the longest under: the faster device's latency, the
    GPU's with its launch, the CPU's."""
    return [[min(c, g) for c, g in zip(p.lat_cpu, p.lat_gpu)], [g + t for g, t in zip(p.lat_gpu, p.td_gpu)],
            list(p.lat_cpu)]


def _kept(p: RefProblem, fast: Sequence[float]) -> list[int]:
    """Cuts plus, between consecutive cuts (and before the first, after the last), the longest path
    under the weights ``fast`` (ties: the lower index)."""
    cuts = cut_operators(p)
    keep: set[int] = set(cuts)
    bounds = [-1] + cuts + [p.n]
    for a, b in zip(bounds, bounds[1:]):
        inside = range(a + 1, b)
        if not inside:
            continue
        # longest path ending at each inside operator, from a (or a source when a is the start)
        best: dict[int, tuple[float, int]] = {}
        for i in inside:
            preds = [q for q in p.deps[i] if a < q < b]
            ok = (a >= 0 and a in p.deps[i]) or (a < 0 and not p.deps[i])
            cands = [(best[q][0], q) for q in preds if q in best]
            if ok:
                cands.append((0.0, -1))
            if not cands:
                continue
            w, q = max(cands, key=lambda t: (t[0], -t[1]))
            best[i] = (w + fast[i], q)
        ends = [i for i in best if (b < p.n and b in p.cons[i]) or (b == p.n and not p.cons[i])]
        if not ends:
            return list(range(p.n))
        i = max(ends, key=lambda k: (best[k][0], -k))
        while i >= 0:
            keep.add(i)
            i = best[i][1]
    return sorted(keep)


def chain_relaxation(p: RefProblem, weights: Sequence[float] | None = None) -> tuple[RefProblem, list[int]] | None:
    """The totally ordered relaxation of ``p`` keeping the longest paths under ``weights`` (default:
    the faster device's latency) between cuts, re-indexed, and the kept original indices; None where
    ``p`` is already totally ordered, or where the drops are not a valid relaxation."""
    keep = _kept(p, _weights(p)[0] if weights is None else weights)
    if len(keep) == p.n:
        return None
    kept = set(keep)
    anc = _closure(p)
    for i in keep:  # no kept operator becomes a source or a sink
        if (p.deps[i] and not kept.intersection(p.deps[i])) or (p.cons[i] and not kept.intersection(p.cons[i])):
            return None
    for c in range(p.n):  # first needs do not move
        if c in kept:
            continue
        for q in p.deps[c]:
            if q in kept and any(k in kept and not all((anc[c] >> d) & 1 for d in p.deps[k]) for k in p.cons[q]):
                return None
    idx = {o: k for k, o in enumerate(keep)}
    pick = lambda seq: tuple(seq[o] for o in keep)  # noqa: E731
    sub = replace(p, name=f"{p.name}-chain", n=len(keep),
                  deps=tuple(tuple(idx[q] for q in p.deps[o] if q in kept) for o in keep),
                  cons=tuple(tuple(idx[c] for c in p.cons[o] if c in kept) for o in keep),
                  lat_cpu=pick(p.lat_cpu), lat_gpu=pick(p.lat_gpu), xfer=pick(p.xfer) + (p.xfer[p.n],),
                  td_gpu=pick(p.td_gpu), td_cpu=pick(p.td_cpu))
    return sub, keep


def relaxed_optimum(p: RefProblem, durations: Durations | None = None) -> ChainOptimum | None:
    """The best (highest) of the chain relaxations' exact optima, one per weighting of the kept paths:
    a lower bound on ``p``'s latency, in the units of ``durations``; None where there is none."""
    best: ChainOptimum | None = None
    seen: set[tuple[int, ...]] = set()
    for w in _weights(p):
        rel = chain_relaxation(p, w)
        if rel is None or tuple(rel[1]) in seen:
            continue
        sub, keep = rel
        seen.add(tuple(keep))
        durs = durations
        if durations is not None:
            lc, lg, x, td = durations
            durs = ([lc[o] for o in keep], [lg[o] for o in keep], [x[o] for o in keep] + [x[p.n]],
                    [td[o] for o in keep])
        opt = spine_optimum(sub, durs)
        if opt is not None and (best is None or opt.latency > best.latency):
            best = opt
    return best
