"""The engine's reference setting as a scheduling problem: data, an exact evaluator, conversions.

One inference (one job, batch ``b``) of a workload in the reference setting
(``SimConfig(reference=True)``) is a deterministic function of a whole-operator placement and
the order of operators on each device. :class:`RefProblem` holds what that function needs
(predicted latencies, transfer and launch times from :mod:`sparoa_sim.sim.predtables`), and
:func:`evaluate` computes the engine's timing exactly: the least solution of the timing rules,
which are stated once, in :mod:`sparoa_sim.sim.reference` (docs/architecture.md §4).

The oracle's CP-SAT model (:mod:`sparoa_sim.agents.exact.oracle`) adds the same rules as
constraints; the evaluator gives its warm start, and the tests hold both to the engine.
:func:`reference_schedule` and :func:`schedule_from_trace` turn an engine run into the
placement and orders these functions take. At a fixed (cpu, gpu) background load (``load=``,
:func:`reference_config`: ``LoadTrace.fixed`` stays on in the reference setting) every rate is still
constant: only the latencies change, to ``PredTables.at_load``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sparoa_sim.errors import SimulationError
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.hwmodels import Platform
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.sim.hwstate import LoadTrace, as_load_pair
from sparoa_sim.sim.predtables import PredictionCache, PredTables, critical_path
from sparoa_sim.sim.reference import RefTimes, least_solution

__all__ = ["RefProblem", "RefTimes", "evaluate", "incomparable_pairs", "reference_config", "reference_schedule",
           "schedule_from_trace"]


@dataclass(frozen=True)
class RefProblem:
    """One inference in the reference setting: structure and predicted times (seconds).

    ``xfer`` has ``n + 1`` entries: each operator's output copy, then the request's input.
    ``td_gpu`` / ``td_cpu``: host time to issue each operator to the device,
    ``t_dispatch[d] · max(1, kernels[i])`` (``PredTables.td``). ``load``: the fixed (cpu, gpu)
    background share the latencies are taken at (``PredTables.at_load``; the engine's
    ``SimConfig(reference=True, background=LoadTrace.fixed(cpu, gpu))``); launches and copies do not
    depend on it.
    """

    name: str
    n: int
    deps: tuple[tuple[int, ...], ...]
    cons: tuple[tuple[int, ...], ...]
    lat_cpu: tuple[float, ...]
    lat_gpu: tuple[float, ...]
    xfer: tuple[float, ...]
    td_gpu: tuple[float, ...]
    td_cpu: tuple[float, ...]
    host_io: bool
    batch: int
    mode: str
    precision: str
    load: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def from_tables(cls, tables: PredTables, host_io: bool = True, load: tuple[float, float] = (0.0, 0.0)
                    ) -> RefProblem:
        """The problem the engine's prediction tables at one batch describe, at a fixed (cpu, gpu)
        background ``load`` (each device's latencies as the engine times them: the tables' own at
        share 0, ``tables.at_load`` otherwise)."""
        load = as_load_pair(load)
        gt = tables.gt
        lat = [tables.lat[d] if load[d] == 0.0 else tables.at_load(d, load[d]) for d in (0, 1)]
        return cls(name=gt.graph.name, n=gt.n, deps=tuple(gt.deps), cons=tuple(gt.cons),
                   lat_cpu=tuple(lat[0]), lat_gpu=tuple(lat[1]), xfer=tuple(tables.xfer_s),
                   td_gpu=tuple(tables.td[1]), td_cpu=tuple(tables.td[0]), host_io=bool(host_io),
                   batch=tables.batch, mode=tables.mode, precision=tables.precision, load=load)

    @classmethod
    def build(cls, graph: OpGraph, platform: Platform, *, mode: str | None = None, batch: int = 1,
              precision: str = "fp32", cache: PredictionCache | None = None,
              load: tuple[float, float] = (0.0, 0.0)) -> RefProblem:
        """The problem of ``graph`` on ``platform`` (mode name or alias, batch, precision) at a fixed
        (cpu, gpu) background ``load``."""
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise SimulationError(f"batch must be a positive integer, got {batch!r}")
        load = as_load_pair(load)
        cache = PredictionCache() if cache is None else cache
        m = platform.mode(mode).name
        return cls.from_tables(cache.tables(graph, platform, int(batch), m, precision), load=load)

    @property
    def sources(self) -> tuple[int, ...]:
        """Operators without producers."""
        return tuple(i for i in range(self.n) if not self.deps[i])

    @property
    def sinks(self) -> tuple[int, ...]:
        """Operators without consumers."""
        return tuple(i for i in range(self.n) if not self.cons[i])

    @property
    def cpu_dispatch(self) -> bool:
        """Whether issuing an operator to the CPU costs host time (the rules model GPU launches only)."""
        return any(v > 0.0 for v in self.td_cpu)

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


def evaluate(p: RefProblem, placement: Sequence[float] | np.ndarray, order: Mapping[str, Sequence[int]],
             durations: tuple[Sequence[float], Sequence[float], Sequence[float], Sequence[float]] | None = None
             ) -> RefTimes:
    """The engine's reference-setting timing of a whole-operator placement and per-device order.

    ``durations`` = (cpu latencies, gpu latencies, copy times (n + 1), GPU launch times) replaces
    the problem's seconds (the oracle passes integer ticks). The least solution of the rules in
    :mod:`sparoa_sim.sim.reference`, after checking the placement and the orders.
    """
    n = p.n
    gpu = [float(s) == 1.0 for s in placement]
    if len(gpu) != n or any(float(s) not in (0.0, 1.0) for s in placement):
        raise SimulationError(f"placement must give 0 or 1 for each of the {n} operators")
    if p.cpu_dispatch:
        raise SimulationError("the reference model needs t_dispatch = 0 on the CPU (the profile has "
                              f"{max(p.td_cpu)}); CPU launches through the host thread are not modelled")
    durs = durations if durations is not None else (p.lat_cpu, p.lat_gpu, p.xfer, p.td_gpu)
    return least_solution(p.deps, p.cons, gpu, _check_order(p, gpu, order), durs, p.host_io)


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


def reference_config(*, mode: str | None = None, precision: str = "fp32", load: tuple[float, float] = (0.0, 0.0),
                     record_trace: bool = True):
    """The engine's reference setting at a fixed (cpu, gpu) background ``load`` (the problem's):
    ``background=LoadTrace.fixed(*load)``, or the plain reference setting at (0, 0)."""
    from sparoa_sim.sim.config import SimConfig

    load = as_load_pair(load)
    extra = {} if load == (0.0, 0.0) else {"background": LoadTrace.fixed(*load)}
    return SimConfig(mode=mode, precision=precision, reference=True, record_trace=record_trace, **extra)


def reference_schedule(graph: OpGraph, platform: Platform, policy, *, mode: str | None = None, batch: int = 1,
                       precision: str = "fp32", cache: PredictionCache | None = None,
                       load: tuple[float, float] = (0.0, 0.0)):
    """Run ``policy`` on one inference in the reference setting at a fixed (cpu, gpu) background
    ``load``; return (Results, StaticSchedule)."""
    from sparoa_sim.sim.arrivals import Batching, ClosedLoop
    from sparoa_sim.sim.simulator import Simulator

    sim = Simulator(graph, platform, policy, arrivals=ClosedLoop(batch), batching=Batching(max_batch=batch),
                    config=reference_config(mode=mode, precision=precision, load=load), seed=0, cache=cache)
    res = sim.run()
    return res, schedule_from_trace(sim.trace(), len(graph), workload=graph.name)
