"""The state the engine's components share during one run (docs/architecture.md §4.1).

One :class:`RunState` is built at each reset. It holds what more than one component reads or
writes: the SimPy environment and its ``schedule``, the graph's tables, the switches that turn
the dynamics on, the released operators waiting for a decision, each device's backlog and
effective load, and the trace being recorded. Components copy the lists and switches they use
into their own attributes at reset (the hot path then reads one attribute, not two); a list here
is shared by identity and never replaced during the run.
"""

from __future__ import annotations

from collections import deque

from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.entities import CPU, GPU, Job
from sparoa_sim.sim.eventloop import EventLoop
from sparoa_sim.sim.predtables import GraphTables, PredTables

__all__ = ["RunState"]


class RunState:
    """Per-run shared state: clock, graph tables, switches, ready queue, backlog, load, trace.

    ``gt`` is the primary stream's graph; co-running streams keep theirs on their lane
    (``sim.streams.Lane``), and every job carries its own (``Job.lane``).
    """

    __slots__ = ("env", "schedule", "queue", "eid", "gt", "n", "input_dep", "t_dispatch", "td", "cores", "host_io", "noise", "background",
                 "contention", "interference", "dynamic", "bw_cap", "ready", "backlog", "load", "trace",
                 "job_lane")

    def __init__(self, gt: GraphTables, t1: PredTables, config: SimConfig, bw_cap: float, noise: bool) -> None:
        env = EventLoop()
        #: The SimPy environment of this run, its ``schedule``, and its heap and event counter (the
        #: components push their timers as ``schedule`` would: ``sim.eventloop``).
        self.env = env
        self.schedule = env.schedule
        self.queue = env.queue
        self.eid = env.eid
        #: The graph's structure as lists (shared by every run of the graph).
        self.gt = gt
        self.n = gt.n
        #: Producers of a source operator whose input must come from the host (index n: the input).
        self.input_dep = (gt.n,)
        #: Host time per kernel issued to each device; per operator ``td[d][i] = t_dispatch[d] ·
        #: max(1, kernels[i])`` (docs/architecture.md §4.1; no batch dependence); the CPU's cores.
        self.t_dispatch = t1.t_dispatch
        self.td = t1.td
        self.cores = t1.cores
        self.host_io = config.host_io
        #: Switches: latency noise, background load (its config or None), contention, interference.
        self.noise = noise
        self.background = config.background_on
        self.contention = config.contention_on and t1.shared_dram
        self.interference = config.interference_on and t1.t_dispatch[GPU] + t1.t_dispatch[CPU] > 0.0
        #: Whether rates can change during the run at all (else every operator takes its base time).
        self.dynamic = bool(self.background is not None or self.contention or self.interference)
        #: DRAM bandwidth both devices share (bytes/s).
        self.bw_cap = bw_cap
        #: Released operators waiting for a decision, in release order.
        self.ready: deque[tuple[Job, int]] = deque()
        #: (cpu, gpu) predicted seconds of work queued or running on each device.
        self.backlog = [0.0, 0.0]
        #: (cpu, gpu) effective load share: background plus the dispatch thread's, capped.
        self.load = [0.0, 0.0]
        #: Recorded slices (see ``sim.trace``), or None when not recording.
        self.trace: list[tuple] | None = [] if config.record_trace else None
        #: Stream (lane index) of every batch started, by the batch's run-wide index ``Job.seq``.
        self.job_lane: list[int] = []
