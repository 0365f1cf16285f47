"""The engine's reference setting as a scheduling problem: data, an exact evaluator, conversions.

One inference (one job, batch ``b``) of a workload in the reference setting
(``SimConfig(reference=True)``) is a deterministic function of a whole-operator placement and
the order of operators on each device. :class:`RefProblem` holds what that function needs
(predicted latencies, transfer and launch times from :mod:`sparoa_sim.predtables`), and
:func:`evaluate` computes the engine's timing exactly, as the least solution of these equations
(``iss`` = the moment an operator is *issued*: a GPU operator's launch end, a CPU operator's end):

- ``ready[i] = max(iss[p] for producers p)`` (0 for a source) — when the dispatcher places it;
- GPU ``i``: launch ``L[i] = max(ready[i], L[prev] + td)`` (the host launches in GPU order),
  kernel start ``st[i] = max(L[i] + td, en[prev], xsG[p] + x[p] for CPU producers p,
  x[input] for a source when ``host_io``)``;
- CPU ``i``: ``st[i] = max(en[prev], en[p] for CPU producers, xsC[p] + x[p] for GPU producers)``;
- a copy of ``p``'s output to device ``d`` starts once the output exists *and* the first
  consumer on ``d`` has been placed: ``xs_d[p] = max(en[p], min(ready[c] for consumers c on d))``;
- the job ends at the last sink's end, plus the copy home of a GPU sink's output (``host_io``).

The oracle's CP-SAT model (:mod:`sparoa_sim.agents.oracle`) states the same relations as
constraints; the evaluator gives its warm start, and the tests hold both to the engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sparoa_sim.errors import SimulationError
from sparoa_sim.graph import OpGraph
from sparoa_sim.hwmodels import Platform
from sparoa_sim.policies import StaticSchedule
from sparoa_sim.predtables import PredictionCache, PredTables, critical_path

__all__ = ["RefProblem", "RefTimes", "evaluate", "incomparable_pairs", "reference_schedule", "schedule_from_trace"]


@dataclass(frozen=True)
class RefProblem:
    """One inference in the reference setting: structure and predicted times (seconds).

    ``xfer`` has ``n + 1`` entries: each operator's output copy, then the request's input.
    """

    name: str
    n: int
    deps: tuple[tuple[int, ...], ...]
    cons: tuple[tuple[int, ...], ...]
    lat_cpu: tuple[float, ...]
    lat_gpu: tuple[float, ...]
    xfer: tuple[float, ...]
    td_gpu: float
    td_cpu: float
    host_io: bool
    batch: int
    mode: str
    precision: str

    @classmethod
    def from_tables(cls, tables: PredTables, host_io: bool = True) -> RefProblem:
        """The problem the engine's prediction tables at one batch describe."""
        gt = tables.gt
        return cls(name=gt.graph.name, n=gt.n, deps=tuple(gt.deps), cons=tuple(gt.cons),
                   lat_cpu=tuple(tables.lat[0]), lat_gpu=tuple(tables.lat[1]), xfer=tuple(tables.xfer_s),
                   td_gpu=float(tables.t_dispatch[1]), td_cpu=float(tables.t_dispatch[0]), host_io=bool(host_io),
                   batch=tables.batch, mode=tables.mode, precision=tables.precision)

    @classmethod
    def build(cls, graph: OpGraph, platform: Platform, *, mode: str | None = None, batch: int = 1,
              precision: str = "fp32", cache: PredictionCache | None = None) -> RefProblem:
        """The problem of ``graph`` on ``platform`` (mode name or alias, batch, precision)."""
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise SimulationError(f"batch must be a positive integer, got {batch!r}")
        cache = PredictionCache() if cache is None else cache
        m = platform.mode(mode).name
        return cls.from_tables(cache.tables(graph, platform, int(batch), m, precision))

    @property
    def sources(self) -> tuple[int, ...]:
        """Operators without producers."""
        return tuple(i for i in range(self.n) if not self.deps[i])

    @property
    def sinks(self) -> tuple[int, ...]:
        """Operators without consumers."""
        return tuple(i for i in range(self.n) if not self.cons[i])

    def lower_bound_s(self) -> float:
        """A valid lower bound on any schedule's latency: the critical path at the faster device."""
        fastest = [min(c, g) for c, g in zip(self.lat_cpu, self.lat_gpu)]
        return critical_path(_Deps(self.n, self.deps), fastest)


class _Deps:
    """The two attributes :func:`critical_path` reads."""

    __slots__ = ("n", "deps")

    def __init__(self, n: int, deps: tuple[tuple[int, ...], ...]) -> None:
        self.n = n
        self.deps = deps


@dataclass(frozen=True)
class RefTimes:
    """The timing :func:`evaluate` computes (per operator; units those of the durations given)."""

    gpu: tuple[bool, ...]
    ready: tuple[float, ...]
    launch: tuple[float, ...]  # launch start of a GPU operator (0 for a CPU one)
    issue: tuple[float, ...]
    start: tuple[float, ...]
    end: tuple[float, ...]
    xs_gpu: tuple[float, ...]  # start of the copy of the output to the GPU (inf: never needed there)
    xs_cpu: tuple[float, ...]
    makespan: float


def _check_order(p: RefProblem, gpu: Sequence[bool], order: Mapping[str, Sequence[int]]) -> tuple[list[int], list[int]]:
    seqs = []
    for d, dev in enumerate(("cpu", "gpu")):
        seq = [int(i) for i in order.get(dev, ())]
        want = sorted(i for i in range(p.n) if bool(gpu[i]) == bool(d))
        if sorted(seq) != want:
            raise SimulationError(f"order.{dev} must list exactly the operators placed on the {dev} "
                                  f"({len(want)}), got {len(seq)} entries")
        seqs.append(seq)
    return seqs[0], seqs[1]


def _combined_topo(p: RefProblem, seqs: tuple[list[int], list[int]]) -> list[int]:
    """A topological order of dependencies plus both device chains (error on a cycle)."""
    n = p.n
    succ: list[list[int]] = [list(c) for c in p.cons]
    indeg = [len(d) for d in p.deps]
    for seq in seqs:
        for a, b in zip(seq, seq[1:]):
            succ[a].append(b)
            indeg[b] += 1
    stack = [i for i in range(n - 1, -1, -1) if indeg[i] == 0]
    out: list[int] = []
    while stack:
        i = stack.pop()
        out.append(i)
        for j in succ[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                stack.append(j)
    if len(out) != n:
        raise SimulationError("order contradicts the dependencies (device orders and graph form a cycle)")
    return out


def evaluate(p: RefProblem, placement: Sequence[float] | np.ndarray, order: Mapping[str, Sequence[int]],
             durations: tuple[Sequence[float], Sequence[float], Sequence[float], float] | None = None) -> RefTimes:
    """The engine's reference-setting timing of a whole-operator placement and per-device order.

    ``durations`` = (cpu latencies, gpu latencies, copy times (n + 1), GPU launch time) replaces
    the problem's seconds (the oracle passes integer ticks). Iterates the equations of the
    module docstring from zero to their least solution (monotone, so it converges).
    """
    n = p.n
    gpu = [float(s) == 1.0 for s in placement]
    if len(gpu) != n or any(float(s) not in (0.0, 1.0) for s in placement):
        raise SimulationError(f"placement must give 0 or 1 for each of the {n} operators")
    if p.td_cpu > 0.0:
        raise SimulationError("the reference model needs t_dispatch = 0 on the CPU (the profile has "
                              f"{p.td_cpu}); CPU launches through the host thread are not modelled")
    lc, lg, x, td = durations if durations is not None else (p.lat_cpu, p.lat_gpu, p.xfer, p.td_gpu)
    seqs = _check_order(p, gpu, order)
    topo = _combined_topo(p, seqs)
    prev = [-1] * n
    for seq in seqs:
        for a, b in zip(seq, seq[1:]):
            prev[b] = a
    deps, cons = p.deps, p.cons
    zero = 0 * td
    ready = [zero] * n
    launch = [zero] * n
    st = [zero] * n
    en = [zero] * n
    iss = [zero] * n
    xs_g = [zero] * n
    xs_c = [zero] * n
    x_in = x[n]
    for _ in range(2 * n + 4):
        for i in topo:
            r = zero
            for q in deps[i]:
                if iss[q] > r:
                    r = iss[q]
            ready[i] = r
            pv = prev[i]
            if gpu[i]:
                li = r if pv < 0 or launch[pv] + td <= r else launch[pv] + td
                s = li + td
                if pv >= 0 and en[pv] > s:
                    s = en[pv]
                for q in deps[i]:
                    if not gpu[q] and xs_g[q] + x[q] > s:
                        s = xs_g[q] + x[q]
                if not deps[i] and p.host_io and x_in > s:
                    s = x_in
                launch[i] = li
                st[i] = s
                en[i] = s + lg[i]
                iss[i] = li + td
            else:
                s = en[pv] if pv >= 0 else zero
                for q in deps[i]:
                    a = xs_c[q] + x[q] if gpu[q] else en[q]
                    if a > s:
                        s = a
                st[i] = s
                en[i] = s + lc[i]
                iss[i] = en[i]
        changed = False
        for i in range(n):
            for d, xs in ((True, xs_g), (False, xs_c)):
                m = min((ready[c] for c in cons[i] if gpu[c] == d), default=math.inf)
                v = en[i] if en[i] >= m else m
                if v != xs[i]:
                    xs[i] = v
                    changed = True
        if not changed:
            break
    else:  # pragma: no cover - the iteration is monotone and bounded
        raise SimulationError("reference evaluation did not converge")
    mk = zero
    for i in range(n):
        e = en[i] + x[i] if (gpu[i] and not cons[i] and p.host_io) else en[i]
        if e > mk:
            mk = e
    return RefTimes(gpu=tuple(gpu), ready=tuple(ready), launch=tuple(launch), issue=tuple(iss), start=tuple(st),
                    end=tuple(en), xs_gpu=tuple(xs_g), xs_cpu=tuple(xs_c), makespan=mk)


def incomparable_pairs(p: RefProblem) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, neither an ancestor of the other (their order is a choice)."""
    anc = [0] * p.n
    for i in range(p.n):
        a = 0
        for q in p.deps[i]:
            a |= anc[q] | (1 << q)
        anc[i] = a
    return [(i, j) for j in range(p.n) for i in range(j) if not (anc[j] >> i) & 1]


def schedule_from_trace(trace, n: int, workload: str | None = None) -> StaticSchedule:
    """The whole-operator placement and per-device order of job 0 in a recorded trace.

    Operators are ordered by start on each device (by launch on the GPU's host thread, which
    the engine keeps in kernel order). Raises for a split operator.
    """
    starts: dict[int, tuple[int, float]] = {}
    launches: dict[int, float] = {}
    for ev in trace.events:
        track, kind, op, job, t0 = ev[0], ev[1], ev[2], ev[3], ev[4]
        if job != 0:
            continue
        if kind == 0:
            if op in starts:
                raise SimulationError(f"operator {op} ran in parts (split): not a whole-operator schedule")
            starts[op] = (track, t0)
        elif kind == 1:
            launches[op] = t0
    if len(starts) != n:
        raise SimulationError(f"trace holds {len(starts)} operators of job 0, expected {n}")
    placement = [float(starts[i][0]) for i in range(n)]
    cpu = sorted((i for i in range(n) if placement[i] == 0.0), key=lambda i: (starts[i][1], i))
    gpu = sorted((i for i in range(n) if placement[i] == 1.0), key=lambda i: (launches.get(i, starts[i][1]), i))
    return StaticSchedule(placement, order={"cpu": cpu, "gpu": gpu}, workload=workload)


def reference_schedule(graph: OpGraph, platform: Platform, policy, *, mode: str | None = None, batch: int = 1,
                       precision: str = "fp32", cache: PredictionCache | None = None):
    """Run ``policy`` on one inference in the reference setting; return (Results, StaticSchedule)."""
    from sparoa_sim.arrivals import Batching, ClosedLoop
    from sparoa_sim.engine import Simulator
    from sparoa_sim.simconfig import SimConfig

    sim = Simulator(graph, platform, policy, arrivals=ClosedLoop(batch), batching=Batching(max_batch=batch),
                    config=SimConfig(mode=mode, precision=precision, reference=True, record_trace=True),
                    seed=0, cache=cache)
    res = sim.run()
    return res, schedule_from_trace(sim.trace(), len(graph), workload=graph.name)
