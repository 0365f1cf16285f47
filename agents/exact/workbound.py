"""A lower bound for branchy graphs (issue 21): placement, work per device per segment and paths, as a MIP.

GoogLeNet's inception blocks run four branches side by side; the chain relaxation
(:mod:`sparoa_sim.agents.exact.relax`) keeps one and forgets the others' work, and the oracle's
CP-SAT model has an empty LP (its bound comes from search). This module solves a separate, small
mixed-integer *relaxation* to optimality (HiGHS, ``scipy.optimize.milp``) whose optimum is no later
than the reference setting's for any schedule. Variables per operator: a placement Boolean ``g``,
start ``s``, end ``e`` and issue ``u`` (the moment its consumers may be released). Constraints, each
implied by the rules of :mod:`sparoa_sim.sim.reference` for every placement and per-device orders:

- ``e = s + lat(g)``; on an edge ``q → i``: ``s_i >= e_q + x_q·|g_i - g_q|`` (a cross-device input
  waits for its copy, which starts no earlier than ``e_q``), as the two linear halves;
- issue: ``u_i >= u_q + td_i·g_i + lc_i·(1 - g_i)`` (a GPU launch starts after the release, which
  follows every producer's issue; a CPU operator issues at its end) and ``u_i >= e_i - H·g_i``; a
  GPU kernel starts after its launch: ``s_i >= u_q + td_i·g_i``; a GPU source after the request's
  input copy, a GPU sink's output is copied home before completion (host_io);
- work: between consecutive *cut* operators ``a < b`` (each an ancestor or a descendant of every
  operator) the operators in between run after ``e_a`` and end before ``s_b`` on their own devices
  without overlap, so ``s_b >= e_a +`` their CPU work and ``+`` their GPU kernel work; their launches
  lie between ``u_a`` (issues only grow along the graph) and ``b``'s launch (or ``s_b`` for a CPU
  ``b``) on the one host thread: ``s_b, u_b >= u_a +`` their launch work ``+ td_b·g_b`` (``u_b``:
  ``+ lc_b`` on the CPU); the same before the first cut (from 0) and after the last (to the makespan).

Every schedule's times satisfy these, so the MIP's proven optimum (its dual bound, rounded down) is a
lower bound on the oracle's optimum (a property test holds it below brute force on random DAGs).

Measured in session 10 (the MIP alone, 10 s, one run each on a shared 2-core host): GoogLeNet's bound
on the Orin Nano 15W rises from 10.15 / 15.31 / 30.57 ms (CP-SAT with the chain bound, 59 s) to
10.56 / 15.55 / 31.16 ms at GPU loads 0 / 0.5 / 0.8, on the AGX Orin MAXN from 6.70 / 10.24 to
6.74 / 10.55 ms at 0.5 / 0.8 (6.20 vs 6.22 at 0); its root LP alone gives 10.44 ms on the Nano at
load 0, where CP-SAT stays at 10.16 ms after 240 s. On SSDlite it stays below the chain bound. It is
about 10 % below an inception block's exact optimum (1.62 vs 1.80 ms): nothing orders parallel
branches' launches and kernels, only their sums are bounded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sparoa_sim.agents.exact.refsched import RefProblem
from sparoa_sim.agents.exact.relax import cut_operators

__all__ = ["WorkBound", "WorkSolution", "work_bound"]

Durations = tuple[Sequence[float], Sequence[float], Sequence[float], Sequence[float]]


@dataclass(frozen=True)
class WorkSolution:
    """The relaxation's proven bound (units of the durations), whether its MIP was solved to
    optimality, and its best solution (placement, starts, relaxed makespan; None if none was found)."""

    bound: float
    optimal: bool
    placement: tuple[float, ...] | None
    starts: tuple[float, ...] | None
    relaxed_makespan: float | None


class WorkBound:
    """The relaxation's rows for one problem (see the module docstring); :meth:`solve` gives its bound.
    ``pairs``: add the two-operator rows of :meth:`_pairs` (measured: GoogLeNet Nano load 0 10.56 →
    10.61 ms in 10 s, load 0.8 31.16 (proven) → 30.96 ms (unproven): off by default)."""

    def __init__(self, p: RefProblem, durations: Durations | None = None, horizon: float | None = None,
                 pairs: bool = False) -> None:
        lc, lg, x, td = durations if durations is not None else (p.lat_cpu, p.lat_gpu, p.xfer, p.td_gpu)
        self.p = p
        n = p.n
        self.lc, self.lg, self.x, self.td = ([float(v) for v in seq] for seq in (lc, lg, x, td))
        self.H = float(horizon) if horizon is not None else sum(max(a, b + t) for a, b, t in zip(self.lc, self.lg, self.td)) \
            + sum(self.x)
        self.nv = 4 * n + 1
        self.rows: list[tuple[dict[int, float], float, float]] = []
        g, s, e, u, M = self.g, self.s, self.e, self.u, self.M
        lc, lg, x, td = self.lc, self.lg, self.x, self.td
        for i in range(n):
            self._eq({e(i): 1.0, s(i): -1.0, g(i): -(lg[i] - lc[i])}, lc[i])
            own = {g(i): td[i] - lc[i]}
            if not p.deps[i]:
                self._ge({u(i): 1.0, **_neg(own)}, lc[i])
                self._ge({s(i): 1.0, g(i): -td[i]}, 0.0)
                if p.host_io:
                    self._ge({s(i): 1.0, g(i): -x[n]}, 0.0)
            for q in p.deps[i]:
                self._ge({s(i): 1.0, e(q): -1.0, g(i): -x[q], g(q): x[q]}, 0.0)
                self._ge({s(i): 1.0, e(q): -1.0, g(i): x[q], g(q): -x[q]}, 0.0)
                self._ge({u(i): 1.0, u(q): -1.0, **_neg(own)}, lc[i])
                self._ge({s(i): 1.0, u(q): -1.0, g(i): -td[i]}, 0.0)
            self._ge({u(i): 1.0, e(i): -1.0, g(i): self.H}, 0.0)
            self._ge({M: 1.0, e(i): -1.0}, 0.0)
            if p.host_io and not p.cons[i]:
                self._ge({M: 1.0, e(i): -1.0, g(i): -x[i]}, 0.0)
        self.pairs = pairs
        self._anc = [0] * n
        for i in range(n):
            for q in p.deps[i]:
                self._anc[i] |= self._anc[q] | (1 << q)
        self._segments(cut_operators(p))

    # variable indices
    def g(self, i: int) -> int:
        return i

    def s(self, i: int) -> int:
        return self.p.n + i

    def e(self, i: int) -> int:
        return 2 * self.p.n + i

    def u(self, i: int) -> int:
        return 3 * self.p.n + i

    @property
    def M(self) -> int:
        return 4 * self.p.n

    def _ge(self, coef: dict[int, float], rhs: float) -> None:
        self.rows.append((coef, rhs, math.inf))

    def _eq(self, coef: dict[int, float], rhs: float) -> None:
        self.rows.append((coef, rhs, rhs))

    def _work(self, ops: range) -> tuple[dict[int, float], float, dict[int, float], dict[int, float]]:
        """CPU work (coefficients, constant), GPU kernel work and launch work of ``ops`` (linear in g)."""
        cpu = {self.g(i): -self.lc[i] for i in ops}
        return cpu, sum(self.lc[i] for i in ops), {self.g(i): self.lg[i] for i in ops}, \
            {self.g(i): self.td[i] for i in ops}

    def _segments(self, cuts: list[int]) -> None:
        """The work rows between consecutive cuts, before the first and after the last."""
        n, s, e, u, g, M = self.p.n, self.s, self.e, self.u, self.g, self.M
        bounds = [-1] + cuts + [n]
        for a, b in zip(bounds, bounds[1:]):
            ops = range(a + 1, b)
            if not ops:
                continue
            cpu, cpu0, gpu, host = self._work(ops)
            end = {M: 1.0} if b == n else {s(b): 1.0}
            base = {} if a < 0 else {e(a): -1.0}
            ubase = {} if a < 0 else {u(a): -1.0}
            self._ge(_add(end, base, _neg(cpu)), cpu0)
            self._ge(_add(end, base, _neg(gpu)), 0.0)
            tail = {} if b == n else {g(b): -self.td[b]}
            self._ge(_add(end, ubase, _neg(host), tail), 0.0)
            if b < n:
                self._ge(_add({u(b): 1.0}, ubase, _neg(host), {g(b): -(self.td[b] - self.lc[b])}), self.lc[b])
            if self.pairs:
                self._pairs(ops, a)

    def _pairs(self, ops: range, a: int) -> None:
        """Two operators of one segment that the graph leaves unordered share each device: the later
        of two launches ends at least both launch times and the shorter one after ``u_a`` (the two
        starts sum to ``2·u_a + td_i + td_j + min``), and likewise two kernels or two CPU operators
        after ``e_a`` (linear in the placement: each term is dropped where it does not apply)."""
        g, s = self.g, self.s
        lc, lg, td = self.lc, self.lg, self.td
        anc = self._anc
        ua = {} if a < 0 else {self.u(a): -2.0}
        ea = {} if a < 0 else {self.e(a): -2.0}
        for j in ops:
            for i in ops:
                if i >= j or (anc[j] >> i) & 1:
                    continue
                both = {s(i): 1.0, s(j): 1.0}
                m = min(td[i], td[j])
                self._ge(_add(both, ua, {g(i): -(td[i] + m), g(j): -(td[j] + m)}), -m)
                m = min(lg[i], lg[j])
                self._ge(_add(both, ea, {g(i): -m, g(j): -m}), -m)
                m = min(lc[i], lc[j])
                self._ge(_add(both, ea, {g(i): m, g(j): m}), m)

    def solve(self, time_limit_s: float = 10.0) -> WorkSolution:
        """Solve the MIP within ``time_limit_s``: its proven bound (HiGHS's dual bound, less a relative
        1e-6 for its tolerances; rows scaled so the horizon is 1e4) and its best solution's placement
        and starts, if any."""
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_matrix

        n = self.p.n
        k = 1e4 / self.H if self.H > 0 else 1.0  # scale: tolerances are absolute
        r, c, v, lo, hi = [], [], [], [], []
        for row, (coef, lb, ub) in enumerate(self.rows):
            for j, a in coef.items():
                if a != 0.0:
                    r.append(row)
                    c.append(j)
                    v.append(a if j < n else a / k)  # time columns are in scaled units
            lo.append(lb)
            hi.append(ub)
        A = coo_matrix((np.array(v) * k, (r, c)), shape=(len(self.rows), self.nv)).tocsr()
        obj = np.zeros(self.nv)
        obj[self.M] = 1.0
        integrality = np.zeros(self.nv)
        integrality[:n] = 1
        ub = np.full(self.nv, self.H * k)
        ub[:n] = 1.0
        t0 = time.perf_counter()
        for presolve in (True, False):  # HiGHS 1.12's presolve fails ("Solve error") on some tiny models
            left = max(0.01, float(time_limit_s) - (time.perf_counter() - t0))
            res = milp(obj, constraints=LinearConstraint(A, np.array(lo) * k, np.array(hi) * k),
                       integrality=integrality, bounds=Bounds(np.zeros(self.nv), ub),
                       options={"time_limit": left, "mip_rel_gap": 1e-6, "disp": False, "presolve": presolve})
            if res.status != 4:
                break
        bound = getattr(res, "mip_dual_bound", None)
        bound = 0.0 if bound is None or not np.isfinite(bound) else max(0.0, float(bound) / k * (1.0 - 1e-6))
        placement = starts = None
        if res.x is not None:
            placement = tuple(float(round(res.x[i])) for i in range(n))
            starts = tuple(float(res.x[self.s(i)]) / k for i in range(n))
        return WorkSolution(bound=bound, optimal=res.status == 0, placement=placement, starts=starts,
                            relaxed_makespan=None if res.x is None else float(res.x[self.M]) / k)


def _neg(coef: dict[int, float]) -> dict[int, float]:
    return {k: -v for k, v in coef.items()}


def _add(*parts: dict[int, float]) -> dict[int, float]:
    out: dict[int, float] = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out.get(k, 0.0) + v
    return out


def work_bound(p: RefProblem, durations: Durations | None = None, *, horizon: float | None = None,
               time_limit_s: float = 10.0) -> tuple[float, bool]:
    """The relaxation's proven lower bound on ``p``'s latency (units of ``durations``) and whether its
    MIP was solved to optimality within ``time_limit_s`` (its dual bound otherwise, still a bound)."""
    sol = WorkBound(p, durations, horizon).solve(time_limit_s)
    return sol.bound, sol.optimal
