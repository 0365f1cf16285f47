"""Rates of the devices: background load, dispatch interference, DRAM contention (docs/architecture.md §4.1).

Each device runs at an effective *load* share: its background load (Markov-modulated or a
deterministic trace, a SimPy process per device, ``sim.hwstate``) plus, on the CPU while the host
dispatch thread launches (an operator's ``td[d][i] = t_dispatch[d] · max(1, kernels)``, ``sim.host``) and interference is on, one core's share ``1/cores``; capped at ``MAX_LOAD`` so a device never
stops. While both devices run, their bandwidth demands share ``concurrent_bw``: the memory part
of each operator's time scales by the shared factor (*contention*, 1 = none). A task's duration
at load and contention is ``PredTables.duration`` (a split part's, ``duration_at``).

Rates change only when contention starts or ends, background load moves or the dispatch thread
starts or stops; only then is the affected device's running task re-timed
(``Executors.retime``), so an operator alone on an idle machine takes exactly its predicted time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sparoa_sim.sim.entities import CPU, Task
from sparoa_sim.sim.hwstate import MAX_LOAD, LoadTrace, background_process, shared_load_path, trace_process
from sparoa_sim.sim.predtables import duration_at
from sparoa_sim.sim.state import RunState

__all__ = ["Rates"]


class Rates:
    """Background and effective load per device, the contention factor, durations at those rates."""

    def __init__(self) -> None:
        self.bg = [0.0, 0.0]
        self.contention = 1.0

    def connect(self, host: Any, executors: Any, check_stalled: Callable[[], None]) -> None:
        """The host thread (whose launches load the CPU), the executors it re-times, and a check
        run after each background change (it raises if the run can no longer progress)."""
        self._host = host
        self._executors = executors
        self._check_stalled = check_stalled

    def reset(self, state: RunState) -> None:
        """No load and no contention, for a new run on ``state``."""
        self._env = state.env
        self._load = state.load
        self._interf = state.interference
        self._cores = state.cores
        self._bw_cap = state.bw_cap
        self._contention_on = state.contention
        #: (cpu, gpu) background load share now.
        self.bg = [0.0, 0.0]
        #: Background-load changes so far: (time, device, share), in time order.
        self.load_log: list[tuple[float, int, float]] = []
        #: DRAM bandwidth factor in force now (1 = none).
        self.contention = 1.0

    def start_background(self, state: RunState, streams: Sequence[np.random.SeedSequence]) -> None:
        """Start a background-load process per device named in the config (``streams[d]``: its substream);
        a ``LoadTrace`` draws nothing: one process per device whose share ever leaves 0, at its steps."""
        bg = state.background
        if bg is None:
            return
        if isinstance(bg, LoadTrace):
            for d in (0, 1):
                steps = bg.changes(d)
                if steps:
                    state.env.process(trace_process(state.env, steps, self._setter(d)))
            return
        for d, name in enumerate(("cpu", "gpu")):
            if name in bg.devices:
                state.env.process(background_process(state.env, bg, None, self._setter(d),
                                                     path=shared_load_path(bg, streams[d])))

    def _setter(self, d: int) -> Callable[[float], None]:
        def set_level(level: float) -> None:
            self.load_log.append((self._env._now, d, level))
            self.bg[d] = level
            self.refresh_load(d)
            self._check_stalled()
        return set_level

    def refresh_load(self, d: int) -> None:
        """Recompute device ``d``'s effective load; re-time its running task if it changed."""
        load = self.bg[d]
        if d == CPU and self._host.busy and self._interf:
            load += 1.0 / self._cores
        if load > MAX_LOAD:
            load = MAX_LOAD
        if load != self._load[d]:
            self._load[d] = load
            self._executors.retime(d)

    def set_board(self, cores: int, bw_cap: float) -> None:
        """A power-mode switch (``sim.powerswitch``): the CPU's cores and the shared DRAM bandwidth change now;
        the CPU's effective load and the contention factor are recomputed (running tasks re-timed if they change)."""
        self._cores = cores
        self._bw_cap = bw_cap
        self.refresh_load(CPU)
        if self._contention_on:
            before = self.contention
            self.update_contention(CPU)  # re-times the GPU's task if the factor changed
            if self.contention != before:
                self._executors.retime(CPU)

    @staticmethod
    def demand(task: Task) -> float:
        """DRAM bandwidth ``task`` demands while it runs (bytes/s)."""
        part = task.part
        return task.job.tables.demand[task.dev][task.op] if part is None else part.demand

    def update_contention(self, d: int) -> None:
        """Recompute the shared bandwidth factor; re-time the other device if it changed."""
        rc, rg = self._executors.running
        if rc is None or rg is None:
            c = 1.0
        else:
            demand = self.demand
            total = demand(rc) + demand(rg)
            cap = self._bw_cap
            c = cap / total if total > cap else 1.0
        if c != self.contention:
            self.contention = c
            self._executors.retime(1 - d)

    def duration(self, task: Task, d: int) -> float:
        """Duration of ``task`` on device ``d`` at the current load and contention (no noise)."""
        load = self._load[d]
        c = self.contention
        if load == 0.0 and c == 1.0:
            return task.base
        t = task.job.tables
        part = task.part
        if part is None:
            return t.at_load(d, load)[task.op] if c == 1.0 else t.duration(d, task.op, load, c)
        return duration_at(part.tl, part.tc, part.tm, t.sharp[d], load, c)
