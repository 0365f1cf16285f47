"""Exact dynamic program for chain graphs in the reference setting — the oracle's cross-check.

On a chain ``0 → 1 → … → n-1`` the order on each device is forced, so only the placement is
chosen, and the engine's timing (see :mod:`sparoa_sim.agents.exact.refsched`) after operator ``i``
depends on it only through:

- ``i`` on the CPU: its end ``e`` (the next operator is released at ``e``; a copy of its output
  to the GPU starts at ``e``) — the smallest ``e`` dominates;
- ``i`` on the GPU: its kernel end ``e`` *and* its launch end ``s`` (a GPU successor is launched
  at ``s`` and may run ahead of the kernel; a CPU successor waits for ``e`` plus the copy) —
  a Pareto front of ``(e, s)`` pairs.

Transitions into operator ``i`` (``td`` its launch time, ``t_dispatch · max(1, kernels)``; ``x``
the previous operator's copy time; ``x_in`` the request's input copy): CPU→CPU ``e + lc``;
CPU→GPU launch at ``e``, kernel ``e + max(td, x) + lg``; GPU→GPU launch at ``s``, kernel
``max(s + td, e) + lg``; GPU→CPU ``e + x + lc``. The first operator on the GPU starts at
``max(td, x_in)``; a GPU sink adds the copy of its output home.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sparoa_sim.errors import SimulationError

from sparoa_sim.agents.exact.refsched import RefProblem

__all__ = ["ChainOptimum", "chain_optimum", "is_chain"]


@dataclass(frozen=True)
class ChainOptimum:
    """Minimum latency of a chain (units of the durations used) and one placement reaching it."""

    latency: float
    placement: tuple[float, ...]


def is_chain(p: RefProblem) -> bool:
    """Whether operator ``i`` depends on exactly ``i - 1`` (and 0 on nothing)."""
    return all(p.deps[i] == ((i - 1,) if i else ()) for i in range(p.n))


def _pareto(states: list[tuple]) -> list[tuple]:
    """Keep the (e, s, placement) states no other state beats in both e and s."""
    states.sort(key=lambda z: (z[0], z[1]))
    out: list[tuple] = []
    best_s = None
    for z in states:
        if best_s is None or z[1] < best_s:
            out.append(z)
            best_s = z[1]
    return out


def chain_optimum(p: RefProblem,
                  durations: tuple[Sequence[float], Sequence[float], Sequence[float], Sequence[float]] | None = None
                  ) -> ChainOptimum:
    """The exact minimum reference-setting latency of a chain and a placement reaching it.

    ``durations`` = (cpu latencies, gpu latencies, copy times (n + 1), launch times) replaces the
    problem's seconds (e.g. the oracle's integer ticks, for an exact comparison).
    """
    if not is_chain(p):
        raise SimulationError(f"chain DP: workload {p.name!r} is not a chain (operator i must depend on i - 1 only)")
    if p.cpu_dispatch:
        raise SimulationError("chain DP: CPU operators with host dispatch time are not modelled")
    lc, lg, x, td = durations if durations is not None else (p.lat_cpu, p.lat_gpu, p.xfer, p.td_gpu)
    n = p.n
    x_in = x[n] if p.host_io else 0 * x[n]
    cpu: tuple = (lc[0], (0.0,))  # (end, placement)
    gpu: list[tuple] = [(max(td[0], x_in) + lg[0], td[0], (1.0,))]  # (end, launch end, placement)
    for i in range(1, n):
        xp = x[i - 1]
        ti = td[i]
        # to the CPU: from a CPU state or any GPU state
        cands = [(cpu[0] + lc[i], cpu[1])] + [(e + xp + lc[i], pl) for e, _s, pl in gpu]
        new_cpu = min(cands, key=lambda z: z[0])
        new_cpu = (new_cpu[0], new_cpu[1] + (0.0,))
        e = cpu[0]
        new_gpu = [(e + max(ti, xp) + lg[i], e + ti, cpu[1] + (1.0,))]
        for e, s, pl in gpu:
            new_gpu.append((max(s + ti, e) + lg[i], s + ti, pl + (1.0,)))
        cpu, gpu = new_cpu, _pareto(new_gpu)
    sink_copy = x[n - 1] if p.host_io else 0 * x[n]
    best = (cpu[0], cpu[1])
    for e, _s, pl in gpu:
        if e + sink_copy < best[0]:
            best = (e + sink_copy, pl)
    return ChainOptimum(latency=best[0], placement=best[1])
