"""The reference setting's exact makespan, fast: what a placement search evaluates thousands of times.

:func:`sparoa_sim.agents.exact.refsched.evaluate` computes the least solution of the timing rules
(:mod:`sparoa_sim.sim.reference`) with checks and every per-operator time; a search needs only the
makespan of placements and orders it built itself (valid by construction). :class:`FastRef`
iterates the same rules, with the same arithmetic, over precomputed lists: the same float result
(a test holds it to ``evaluate`` bit for bit), several times faster. Copy starts are updated
as soon as a consumer is released (Gauss-Seidel) rather than once per pass: the iteration still
rises monotonically from zero and stops at a pass that changes nothing, so it ends at the same
least solution in fewer passes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sparoa_sim.agents.exact.refsched import RefProblem
from sparoa_sim.errors import SimulationError

__all__ = ["FastRef", "Load"]

#: A fixed background load: (cpu share, gpu share).
Load = tuple[float, float]


class FastRef:
    """Makespan of whole-operator schedules of one :class:`RefProblem` (no checks: callers build
    valid placements and dependency-respecting orders)."""

    __slots__ = ("n", "deps", "cons", "lc", "lg", "x", "td", "host_io", "x_in")

    def __init__(self, p: RefProblem) -> None:
        if p.cpu_dispatch:
            raise SimulationError("the reference model needs t_dispatch = 0 on the CPU (the profile has "
                                  f"{max(p.td_cpu)}); CPU launches through the host thread are not modelled")
        self.n = p.n
        self.deps = [tuple(d) for d in p.deps]
        self.cons = [tuple(c) for c in p.cons]
        self.lc = list(p.lat_cpu)
        self.lg = list(p.lat_gpu)
        self.x = list(p.xfer)
        self.td = list(p.td_gpu)
        self.host_io = bool(p.host_io)
        self.x_in = self.x[self.n]

    def makespan(self, gpu: Sequence[bool], topo: Sequence[int], cpu_seq: Sequence[int], gpu_seq: Sequence[int]
                 ) -> float:
        """Latency of placement ``gpu`` with per-device orders ``cpu_seq``/``gpu_seq``; ``topo`` is one
        order of all operators consistent with the dependencies and both device orders (both
        sequences are subsequences of it when a search builds them from one list)."""
        n, deps, cons, lc, lg, x, td = self.n, self.deps, self.cons, self.lc, self.lg, self.x, self.td
        prev = [-1] * n
        for seq in (cpu_seq, gpu_seq):
            for a, b in zip(seq, seq[1:]):
                prev[b] = a
        host_io, x_in = self.host_io, self.x_in
        zero = 0 * x_in
        ready = [zero] * n
        launch = [zero] * n
        en = [zero] * n
        iss = [zero] * n
        xs_g = [zero] * n
        xs_c = [zero] * n
        inf = math.inf
        for _ in range(2 * n + 4):
            changed = False  # a pass that changes no copy start (inline or below) is the fixed point
            for i in topo:
                dq = deps[i]
                r = max([iss[q] for q in dq]) if dq else zero
                ready[i] = r
                pv = prev[i]
                if gpu[i]:
                    li = r if pv < 0 else max(r, launch[pv] + td[pv])
                    terms = [li + td[i]]
                    if pv >= 0:
                        terms.append(en[pv])
                    for q in dq:
                        if not gpu[q]:  # the copy's start from the releases known now (Gauss-Seidel)
                            need = min([ready[c] for c in cons[q] if gpu[c]])
                            e = en[q]
                            v = e if e > need else need
                            if v != xs_g[q]:
                                xs_g[q] = v
                                changed = True
                            terms.append(v + x[q])
                    if host_io and not dq:
                        terms.append(x_in)
                    s = max(terms)
                    launch[i] = li
                    e = s + lg[i]
                    en[i] = e
                    iss[i] = li + td[i]
                else:
                    terms = [] if pv < 0 else [en[pv]]
                    for q in dq:
                        if gpu[q]:
                            need = min([ready[c] for c in cons[q] if not gpu[c]])
                            e = en[q]
                            v = e if e > need else need
                            if v != xs_c[q]:
                                xs_c[q] = v
                                changed = True
                            terms.append(v + x[q])
                        else:
                            terms.append(en[q])
                    s = max(terms) if terms else zero
                    e = s + lc[i]
                    en[i] = e
                    iss[i] = e
            for i in range(n):
                need_g = inf
                need_c = inf
                for c in cons[i]:
                    rc = ready[c]
                    if gpu[c]:
                        if rc < need_g:
                            need_g = rc
                    elif rc < need_c:
                        need_c = rc
                e = en[i]
                v = e if e > need_g else need_g
                if v != xs_g[i]:
                    xs_g[i] = v
                    changed = True
                v = e if e > need_c else need_c
                if v != xs_c[i]:
                    xs_c[i] = v
                    changed = True
            if not changed:
                break
        else:  # pragma: no cover - the iteration is monotone and bounded
            raise SimulationError("reference evaluation did not converge")
        mk = zero
        for i in range(n):
            e = en[i]
            if e > mk:
                mk = e
            if host_io and gpu[i] and not cons[i]:
                v = e + x[i]
                if v > mk:
                    mk = v
        return mk
