"""The request stream of a run: sources, the batcher and per-request accounting (docs/architecture.md §4.1).

Sources are SimPy processes: a closed loop (a fixed number of requests in the system, a new one
for each completed), Poisson arrivals, periodic (camera) frames or a trace of arrival times
(``sim.arrivals``). A run has one stream per workload (the primary and its co-runs, ``sim.streams``). The batcher
(a SimPy process) groups waiting requests into batches (jobs), each one pass of the graph at batch
size ``len(batch)``: a batch starts when it is full, when the source is done, or when its first
request has waited ``timeout_s``, and never while ``max_inflight`` batches are in flight. A
started job releases the graph's sources to the dispatcher. The stream records each request's
arrival and completion and the time integral of requests in the system.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

from sparoa_sim.sim.arrivals import Arrivals, Batching, ClosedLoop, Periodic, Poisson
from sparoa_sim.sim.entities import Job
from sparoa_sim.sim.predtables import PredTables
from sparoa_sim.sim.randomness import NoiseKey, batch_noise
from sparoa_sim.sim.state import RunState

__all__ = ["RequestStream"]


class RequestStream:
    """Arrivals, the batcher and per-request accounting of one request stream (reset per run)."""

    def __init__(self, tables: Callable[[int], PredTables]) -> None:
        self._tables = tables  # batch size -> prediction tables (the simulator's cache)

    def connect(self, dispatcher: Any) -> None:
        """The dispatcher a started job hands its source operators to."""
        self._dispatcher = dispatcher

    def reset(self, state: RunState, arrivals: Arrivals, batching: Batching,
              noise_ss: np.random.SeedSequence | NoiseKey,
              sigma: np.ndarray, lane: Any, on_finish: Callable[[], None] | None = None,
              sparsity: Any = None) -> None:
        """Empty the stream for a new run on ``state`` (noise from ``noise_ss`` when switched on).

        ``lane``: the stream's lane (``sim.streams.Lane``: its graph, what its jobs carry);
        ``on_finish``: called once when every request has completed (a group of streams counts them);
        ``sparsity``: per-request activation sparsity (``sim.request_sparsity.RequestSparsity``) or None.
        """
        self._rsp = sparsity if sparsity is not None and sparsity.varies else None
        self._state = state
        self._lane = lane
        self._on_finish = on_finish
        self._arrivals = arrivals
        self._batching = batching
        self._closed = isinstance(arrivals, ClosedLoop)
        #: Requests in the run.
        self.n_requests = arrivals.n_requests
        self._env = state.env
        self._gt = lane.gt
        self._n = lane.n
        self._ready = state.ready
        self._noise = state.noise
        self._noise_ss = noise_ss
        self._sigma = sigma
        #: Arrival and completion time of each request (NaN until complete), by request index.
        self.arrival: list[float] = []
        self.completion: list[float] = []
        self._waitq: deque[int] = deque()
        self._source_done = False
        self._credit = 0
        self._src_wake: simpy.Event | None = None
        self._bwake: simpy.Event | None = None
        #: Jobs started and not finished; jobs started; the requests of each job, in start order.
        self.jobs_inflight = 0
        self.n_jobs = 0
        self.job_requests: list[tuple[int, ...]] = []
        #: Requests completed and in the system; the area under the in-system curve up to ``t_area``.
        self.n_done = 0
        self.n_in_system = 0
        self.area = 0.0
        self.t_area = 0.0
        #: GPU shares chosen for the first job (the run's reported placement).
        self.first_share: list[float] | None = None
        #: Every request has completed (and ``finished_ev`` has fired).
        self.finished = False
        self.finished_ev = state.env.event()

    def start(self, arrivals_ss: np.random.SeedSequence | None) -> None:
        """Start the source process (Poisson gaps drawn from ``arrivals_ss``, which only they read) and then the
        batcher."""
        env = self._env
        a = self._arrivals
        if isinstance(a, ClosedLoop):
            conc = self._batching.max_batch if a.concurrency is None else a.concurrency
            env.process(self._proc_closed(conc, a.n_requests))
        elif isinstance(a, Poisson):
            env.process(self._proc_poisson(a.rate, a.n_requests, np.random.default_rng(arrivals_ss)))
        elif isinstance(a, Periodic):
            env.process(self._proc_trace(a.times()))
        else:
            env.process(self._proc_trace(a.times))
        env.process(self._proc_batcher())

    def time_in_system(self, now: float) -> float:
        """Integral of the number of requests in the system up to ``now`` (request-seconds)."""
        return self.area + self.n_in_system * (now - self.t_area)

    # ------------------------------------------------------------------------------------
    # sources (SimPy processes)

    def _arrive(self) -> None:
        now = self._env.now
        rid = len(self.arrival)
        self.arrival.append(now)
        self.completion.append(math.nan)
        self.area += self.n_in_system * (now - self.t_area)
        self.t_area = now
        self.n_in_system += 1
        self._waitq.append(rid)
        self._poke_batcher()

    def _poke_batcher(self) -> None:
        ev = self._bwake
        if ev is not None and not ev.triggered:
            ev.succeed()

    def _proc_closed(self, conc: int, n_req: int):
        k = min(conc, n_req)
        for _ in range(k):
            self._arrive()
        issued = k
        while issued < n_req:
            if self._credit == 0:
                self._src_wake = self._env.event()
                yield self._src_wake
                continue
            m = min(self._credit, n_req - issued)
            self._credit -= m
            for _ in range(m):
                self._arrive()
            issued += m
        self._source_done = True
        self._poke_batcher()

    def _proc_poisson(self, rate: float, n_req: int, rng: np.random.Generator):
        gaps = rng.exponential(1.0 / rate, size=n_req)
        env = self._env
        for g in gaps.tolist():
            yield env.timeout(g)
            self._arrive()
        self._source_done = True
        self._poke_batcher()

    def _proc_trace(self, times: tuple[float, ...]):
        env = self._env
        for t in times:
            if t > env.now:
                yield env.timeout(t - env.now)
            self._arrive()
        self._source_done = True
        self._poke_batcher()

    # ------------------------------------------------------------------------------------
    # the batcher (a SimPy process) and jobs

    def _proc_batcher(self):
        env = self._env
        b = self._batching
        cap, timeout, max_inflight = b.max_batch, b.timeout_s, b.max_inflight
        q = self._waitq
        while True:
            if q and self.jobs_inflight < max_inflight:
                if len(q) >= cap or self._source_done:
                    self._start_job([q.popleft() for _ in range(min(cap, len(q)))])
                    continue
                deadline = self.arrival[q[0]] + timeout
                if deadline <= env.now:
                    self._start_job([q.popleft() for _ in range(min(cap, len(q)))])
                    continue
                self._bwake = env.event()
                if math.isinf(deadline):
                    yield self._bwake
                else:
                    yield self._bwake | env.timeout(deadline - env.now)
            else:
                self._bwake = env.event()
                yield self._bwake

    def _start_job(self, requests: list[int]) -> None:
        tables = self._tables(len(requests))
        if self._rsp is not None:
            tables = self._rsp.tables(tables, requests)
        n = self._n
        z = batch_noise(self._noise_ss, self._sigma, n, requests[0]) if self._noise else None
        job_lane = self._state.job_lane
        job = Job(len(job_lane), self.n_jobs, requests, tables, self._lane, z)
        job_lane.append(self._lane.index)
        self.n_jobs += 1
        self.job_requests.append(tuple(requests))
        self.jobs_inflight += 1
        ready = self._ready
        for s in self._gt.sources:
            ready.append((job, s))
        self._dispatcher.dispatch_ready()

    def job_done(self, job: Job) -> None:
        """Every operator (and final output copy) of ``job`` has finished: complete its requests."""
        now = self._env.now
        self.jobs_inflight -= 1
        reqs = job.requests
        for r in reqs:
            self.completion[r] = now
        self.area += self.n_in_system * (now - self.t_area)
        self.t_area = now
        self.n_in_system -= len(reqs)
        self.n_done += len(reqs)
        if job.nth == 0:
            self.first_share = job.share[:-1]
        if self._closed:
            self._credit += len(reqs)
            ev = self._src_wake
            if ev is not None and not ev.triggered:
                ev.succeed()
        self._poke_batcher()
        if self.n_done >= self.n_requests and not self.finished:
            self.finished = True
            self.finished_ev.succeed()
            if self._on_finish is not None:
                self._on_finish()
