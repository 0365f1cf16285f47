"""The discrete-event engine: a SimPy simulation of hybrid CPU-GPU inference (DESIGN §4).

Entities and what drives them:

- **request source** (SimPy process): closed loop, Poisson or a trace of arrival times
  (:mod:`sparoa_sim.arrivals`);
- **batcher** (SimPy process): groups waiting requests into batches (jobs), each one pass of
  the graph at batch size ``len(batch)``;
- **dispatcher**: releases an operator of a job once every producer is *issued* — finished, or,
  for a producer placed wholly on the GPU, launched (CUDA stream semantics: kernels queue on the
  GPU ahead of their inputs) — asks the placement policy for its GPU share and queues it;
- **host dispatch thread**: a serial resource; issuing an operator to device ``d`` costs
  ``t_dispatch[d]`` seconds of host time (on the shipped profiles only GPU launches cost any).
  While it launches it occupies one of the CPU's cores: a running CPU operator is re-timed at
  load share ``1/cores`` (``dispatch_interference``);
- **one in-order executor per device**: the head of the queue starts once it is launched and
  its inputs are on the device; the CPU and the GPU run concurrently. A GPU operator whose
  producers are GPU operators launched earlier need not wait for them explicitly — the stream
  is in order;
- **transfers** on cross-device edges: ``transfer_time`` of the producer's output at the batch
  size, started as soon as both the output exists and a consumer on the other device needs
  it; an output copied once stays resident and serves every consumer on that device. The
  request's input starts on the CPU and its outputs must end there (``host_io``);
- **DRAM contention**: while both devices run, their bandwidth demands share
  ``concurrent_bw``; memory time scales by the shared factor;
- **background load** (SimPy process per device): Markov-modulated shares of each device
  (:mod:`sparoa_sim.hwstate`).

Rates change when contention starts or ends, background load moves or the dispatch thread
starts or stops: only then is the running operator of the affected device re-timed (remaining
fraction at the new rate; the superseded end event is recognised as stale and ignored), so an
operator alone on an idle machine takes exactly its predicted time. Executors, the host thread
and transfers are state machines driven by callbacks on SimPy events (``entities.Timer``), not
one generator per operator: a generator cannot withdraw a timeout it has yielded, and one
event per operator (two for a GPU operator: launch and kernel) keeps the engine within a few
bare SimPy events per simulated operator. Sources, the batcher and background load are SimPy
processes.

The reference setting (``SimConfig(reference=True)``) leaves a deterministic schedule that an
exact solver can reproduce: each operator takes its predicted latency; the host launches GPU
kernels one at a time, ``t_dispatch`` each, in dispatch order (in GPU order under a static
schedule), a launch beginning no earlier than the operator's release (CPU producers finished,
GPU producers launched); a kernel starts after its launch, the previous kernel on the GPU and
its cross-device inputs (producer end + ``transfer_time``); a CPU operator after the previous
CPU operator and its inputs; the request's input is copied to the GPU for a GPU source, and a
GPU sink's output back to the CPU.

A split operator (GPU share strictly between 0 and 1, only where the operator has a split axis)
runs its two parts concurrently, one per device (see ``PredTables.split``), then the part on
the *minor* device (the smaller share) copies its share of the output to the *home* device (the
larger share; the GPU on a tie): that merge copy is the split's extra cost, and the output then
lives on the home device.

Decisions come from ``policy.decide(view)`` or, with the ``external`` policy, from outside:
:meth:`Simulator.start` runs until the first decision is needed and :meth:`Simulator.submit`
applies one action and runs to the next. Both go through the same dispatcher, and the
dispatcher is always the last thing an event handler does, so the same decisions give the same
run either way.

Randomness: ``SeedSequence(seed)`` is spawned at reset into fixed substreams — background load
of the CPU, of the GPU, latency noise, arrivals, the policy. Noise factors of a batch come from
the child of the noise stream keyed by its first request, so two policies run with one seed face
the same hardware and the same noise (common random numbers).
"""

from __future__ import annotations

import math
import os
from collections import deque
from functools import partial
from typing import Any

import numpy as np
import simpy
from simpy.core import EmptySchedule
from simpy.events import NORMAL

from sparoa_sim.arrivals import Arrivals, Batching, ClosedLoop, Poisson, TraceArrivals
from sparoa_sim.entities import CPU as _CPU
from sparoa_sim.entities import GPU as _GPU
from sparoa_sim.entities import Job, PartTask, Split, Task, Timer
from sparoa_sim.errors import SimulationError
from sparoa_sim.graph import OpGraph
from sparoa_sim.hwmodels import Platform, load_platform
from sparoa_sim.hwmodels.contention import concurrent_bw
from sparoa_sim.hwmodels.noise import lognormal_factors, noise_sigmas
from sparoa_sim.hwstate import MAX_LOAD, HardwareState, background_process
from sparoa_sim.policies import ExternalPolicy, PolicyContext, make_policy, policy_name
from sparoa_sim.predtables import PredictionCache, PredTables, duration_at
from sparoa_sim.results import Results, summarise_latencies
from sparoa_sim.simconfig import SimConfig
from sparoa_sim.view import OpView

__all__ = ["Simulator", "simulate", "TRACK_NAMES"]

#: Trace tracks: 0 CPU, 1 GPU, 2 host dispatch, 3 transfers.
TRACK_NAMES: tuple[str, ...] = ("CPU", "GPU", "host dispatch", "transfers")
_KEEP = object()
# Substreams spawned from the run's SeedSequence, in this order (never reorder: CRN depends on it).
_STREAMS = ("background_cpu", "background_gpu", "noise", "arrivals", "policy")
_MAX_LOAD = MAX_LOAD  # background + dispatch share of a device is capped here (a device never stops)


def substreams(seed: int | None) -> list[np.random.SeedSequence]:
    """The run's independent substreams, in the fixed order of ``_STREAMS`` (CRN depends on it)."""
    return np.random.SeedSequence(seed).spawn(len(_STREAMS))


def batch_noise(noise_ss: np.random.SeedSequence, sigma: np.ndarray, n: int, request: int) -> list[float]:
    """Noise factors of a batch led by ``request``, index ``2*op + device``: drawn from the
    request's own child of the noise stream, so they depend on the seed and the request
    alone, whatever the order of events or the policy (common random numbers)."""
    child = np.random.SeedSequence(noise_ss.entropy, spawn_key=noise_ss.spawn_key + (int(request),))
    rng = np.random.Generator(np.random.PCG64(child))
    return lognormal_factors(rng, sigma, (n, 2)).ravel().tolist()


def _as_graph(graph: OpGraph | str | os.PathLike[str]) -> OpGraph:
    if isinstance(graph, OpGraph):
        return graph
    if isinstance(graph, (str, os.PathLike)):
        from sparoa_sim.workloads import load_workload

        return load_workload(graph)
    raise SimulationError(f"workload must be an OpGraph, a workload name or a path, got {graph!r}")


def _as_platform(platform: Platform | str | os.PathLike[str]) -> Platform:
    if isinstance(platform, Platform):
        return platform
    if isinstance(platform, (str, os.PathLike)):
        return load_platform(platform)
    raise SimulationError(f"platform must be a Platform, a profile name or a path, got {platform!r}")


class Simulator:
    """Simulate a request stream of one workload on one platform under one placement policy.

    ``run()`` simulates to the end and returns :class:`~sparoa_sim.results.Results`. Stepping
    (for external decisions): ``view = start()``, then ``view = submit(action)`` while
    ``not done``, then ``results()``. ``reset(seed)`` / ``start(seed)`` re-run with another seed,
    reusing the prediction tables.
    """

    def __init__(self, graph: OpGraph | str | os.PathLike[str], platform: Platform | str | os.PathLike[str],
                 policy: Any = "gpu", *, arrivals: Arrivals | None = None, batching: Batching | None = None,
                 config: SimConfig | None = None, seed: int | None = 0, cache: PredictionCache | None = None,
                 policy_kwargs: dict[str, Any] | None = None) -> None:
        self.graph = _as_graph(graph)
        self.platform = _as_platform(platform)
        self.config = SimConfig() if config is None else config
        if not isinstance(self.config, SimConfig):
            raise SimulationError(f"config must be a SimConfig, got {config!r}")
        self.batching = Batching() if batching is None else batching
        if not isinstance(self.batching, Batching):
            raise SimulationError(f"batching must be a Batching, got {batching!r}")
        self.arrivals = ClosedLoop(1) if arrivals is None else arrivals
        if not isinstance(self.arrivals, (ClosedLoop, Poisson, TraceArrivals)):
            raise SimulationError(f"arrivals must be ClosedLoop, Poisson or TraceArrivals, got {arrivals!r}")
        self._check_closed_loop()
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise SimulationError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.policy = make_policy(policy, **(policy_kwargs or {}))
        self.cache = PredictionCache() if cache is None else cache
        self._mode = self.platform.mode(self.config.mode).name
        self._gt = self.cache.graph(self.graph)
        self._external = isinstance(self.policy, ExternalPolicy)
        self._view = OpView(self)
        self._tables_by_batch: dict[int, PredTables] = {}
        self._sigma = noise_sigmas(self.platform)
        self.env: simpy.Environment | None = None
        self._started = False
        self._pending_item: tuple[Job, int] | None = None
        self._finished = False

    def _check_closed_loop(self) -> None:
        a, b = self.arrivals, self.batching
        if isinstance(a, ClosedLoop):
            conc = b.max_batch if a.concurrency is None else a.concurrency
            if conc < b.max_batch and a.n_requests > conc and math.isinf(b.timeout_s):
                raise SimulationError(
                    f"arrivals: a closed loop of concurrency {conc} can never fill batches of {b.max_batch} "
                    "(raise the concurrency or give the batcher a finite timeout_s)")

    # ------------------------------------------------------------------------------------
    # set-up

    def tables(self, batch: int = 1) -> PredTables:
        """Prediction tables at ``batch`` in this run's mode and precision (cached)."""
        t = self._tables_by_batch.get(batch)
        if t is None:
            t = self.cache.tables(self.graph, self.platform, batch, self._mode, self.config.precision)
            self._tables_by_batch[batch] = t
        return t

    def reset(self, seed: Any = _KEEP) -> None:
        """Prepare a fresh run (new SimPy environment, substreams from ``seed``); runs nothing."""
        if seed is not _KEEP:
            if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
                raise SimulationError(f"seed must be a non-negative integer or None, got {seed!r}")
            self.seed = None if seed is None else int(seed)
        cfg = self.config
        kids = substreams(self.seed)
        self._noise_ss = kids[2]
        gt = self._gt
        n = gt.n
        self._n = n
        self._deps = gt.deps
        self._cons = gt.cons
        self._is_sink = gt.is_sink
        self._input_dep = (n,)

        policy = self.policy
        reset = getattr(policy, "reset", None)
        if callable(reset):
            reset(PolicyContext(graph=self.graph, platform=self.platform, mode=self._mode,
                                precision=cfg.precision, reference=cfg.reference,
                                rng=np.random.default_rng(kids[4]), max_batch=self.batching.max_batch))
        self._decide = policy.decide
        self._setup_order(getattr(policy, "order", None))

        env = simpy.Environment()
        self.env = env
        self._schedule = env.schedule
        t1 = self.tables(1)
        self._td = t1.t_dispatch
        self._noise = cfg.noise_on and bool(np.any(self._sigma > 0))
        bg = cfg.background_on
        self._contention = cfg.contention_on and t1.shared_dram
        self._interf = cfg.interference_on and t1.t_dispatch[_GPU] + t1.t_dispatch[_CPU] > 0.0
        self._dynamic = bool(bg is not None or self._contention or self._interf)
        self._bw_cap = float(concurrent_bw(self.platform, self._mode))
        self._cores = t1.cores
        self._host_io = cfg.host_io

        # dispatcher
        self._ready: deque[tuple[Job, int]] = deque()
        self._pending_item: tuple[Job, int] | None = None
        self._decisions = 0
        # devices
        self._queue = (deque(), deque())
        self._running: list[Task | None] = [None, None]
        self._end_ev: list[Timer | None] = [None, None]
        self._end_cb = (partial(self._on_end, _CPU), partial(self._on_end, _GPU))
        self._busy = [0.0, 0.0]
        self._energy = [0.0, 0.0]
        self._backlog = [0.0, 0.0]
        self._n_splits = 0
        # host dispatch thread
        self._host_q: deque[Task] = deque()
        self._host_task: Task | None = None
        self._host_t0 = 0.0
        self._host_busy = False
        self._host_unsettled = False
        self._host_busy_s = 0.0
        self._host_backlog = 0.0
        # rates
        self._bg = [0.0, 0.0]
        self._load_log: list[tuple[float, int, float]] = []
        self._load = [0.0, 0.0]
        self._c = 1.0
        # transfers
        self._n_xfer = 0
        self._xfer_bytes = 0.0
        self._xfer_busy = 0.0
        self._xfer_energy = 0.0
        self._xfer_inflight = 0
        # requests and jobs
        self._n_requests = self.arrivals.n_requests
        self._arrival: list[float] = []
        self._completion: list[float] = []
        self._waitq: deque[int] = deque()
        self._source_done = False
        self._credit = 0
        self._src_wake: simpy.Event | None = None
        self._bwake: simpy.Event | None = None
        self._jobs_inflight = 0
        self._job_seq = 0
        self._job_requests: list[tuple[int, ...]] = []
        self._n_done = 0
        self._n_in_system = 0
        self._area = 0.0
        self._t_area = 0.0
        self._first_share: list[float] | None = None
        self._finished = False
        self._finished_ev = env.event()
        self._trace: list[tuple] | None = [] if cfg.record_trace else None

        # processes; the background first, so its t = 0 levels hold before the first operator starts
        if bg is not None:
            for d, name in enumerate(("cpu", "gpu")):
                if name in bg.devices:
                    env.process(background_process(env, bg, np.random.default_rng(kids[d]),
                                                   self._bg_setter(d)))
        a = self.arrivals
        if isinstance(a, ClosedLoop):
            conc = self.batching.max_batch if a.concurrency is None else a.concurrency
            env.process(self._proc_closed(conc, a.n_requests))
        elif isinstance(a, Poisson):
            env.process(self._proc_poisson(a.rate, a.n_requests, np.random.default_rng(kids[3])))
        else:
            env.process(self._proc_trace(a.times))
        env.process(self._proc_batcher())
        self._started = True

    def _setup_order(self, order: Any) -> None:
        """Per-device position of each operator in a static order (or no static order)."""
        if order is None:
            self._order_pos = None
            return
        n = self._gt.n
        pos = ([-1] * n, [-1] * n)
        for d, dev in enumerate(("cpu", "gpu")):
            for k, i in enumerate(order.get(dev, ())):
                pos[d][int(i)] = k
        self._order_pos = pos
        self._order_len = (len(order.get("cpu", ())), len(order.get("gpu", ())))
        self._staged: tuple[dict[int, Task], dict[int, Task]] = ({}, {})
        self._next_pos = [0, 0]

    # ------------------------------------------------------------------------------------
    # driving

    def start(self, seed: Any = _KEEP) -> OpView | None:
        """Reset and run until the first external decision is needed (or to the end).

        Returns the pending :class:`OpView`, or None when the run is over.
        """
        self.reset(seed)
        self._advance()
        return self.pending

    def submit(self, action: float | int) -> OpView | None:
        """Apply ``action`` (GPU share) to the pending operator and run to the next decision.

        Returns the next pending :class:`OpView`, or None when the run is over. A bad action
        raises :class:`SimulationError` and leaves the decision pending.
        """
        item = self._pending_item
        if item is None:
            raise SimulationError("submit: no decision is pending (call start() first, or the run is over)")
        job, op = item
        self._place(job, op, action)  # validates before changing anything
        self._pending_item = None
        self._dispatch_ready()
        self._advance()
        return self.pending

    def run(self, seed: Any = _KEEP) -> Results:
        """Simulate the whole request stream and return its :class:`Results`."""
        if self._external:
            raise SimulationError("policy 'external' takes its decisions from submit(): use start()/submit()")
        self.start(seed)
        return self.results()

    def _advance(self) -> None:
        env = self.env
        assert env is not None
        if not self._external:
            try:
                env.run(until=self._finished_ev)
            except RuntimeError as exc:
                if "until" in str(exc):
                    self._deadlock()
                raise
            return
        step = env.step
        try:
            while self._pending_item is None and not self._finished:
                step()
        except EmptySchedule:
            self._deadlock()

    def _deadlock(self) -> None:
        q = [len(self._queue[0]), len(self._queue[1])]
        raise SimulationError(
            f"simulation stalled at t={self.env.now:.6g}s with {self._n_requests - self._n_done} request(s) "
            f"unfinished (queued on cpu/gpu: {q}); a static order that contradicts the dependencies?")

    def _stalled(self) -> bool:
        return (self._jobs_inflight > 0 and self._running[0] is None and self._running[1] is None
                and self._host_task is None and not self._host_q and self._xfer_inflight == 0
                and not self._ready and self._pending_item is None)

    # ------------------------------------------------------------------------------------
    # progress, as an environment needs it

    @property
    def now(self) -> float:
        """Simulation time, s."""
        return 0.0 if self.env is None else float(self.env.now)

    @property
    def pending(self) -> OpView | None:
        """The operator waiting for an external decision, or None."""
        return self._view if self._started and self._pending_item is not None else None

    @property
    def done(self) -> bool:
        """Every request has completed."""
        return self._started and self._finished

    @property
    def n_requests(self) -> int:
        """Requests in the run."""
        return self.arrivals.n_requests

    @property
    def n_in_system(self) -> int:
        """Requests arrived and not yet complete."""
        return self._n_in_system if self._started else 0

    @property
    def requests_done(self) -> int:
        """Requests completed."""
        return self._n_done if self._started else 0

    @property
    def decisions(self) -> int:
        """Placement decisions taken so far."""
        return self._decisions if self._started else 0

    @property
    def time_in_system(self) -> float:
        """Integral of the number of requests in the system over time so far (request-seconds)."""
        if not self._started:
            return 0.0
        return self._area + self._n_in_system * (self.env.now - self._t_area)

    @property
    def energy_so_far(self) -> float:
        """Joules so far: finished operators and copies plus board idle power since the first arrival."""
        if not self._started:
            return 0.0
        idle = 0.0
        if self._arrival:
            end = self._last_completion() if self._finished else self.env.now
            idle = self.tables(1).board_idle_w * (end - self._arrival[0])
        return self._energy[0] + self._energy[1] + self._xfer_energy + idle

    def load_history(self) -> list[tuple[float, str, float]]:
        """Background-load changes so far: (time, device, share), in time order."""
        return [(t, ("cpu", "gpu")[d], lv) for t, d, lv in self._load_log] if self._started else []

    def _last_completion(self) -> float:
        return max(self._completion) if self._completion else 0.0

    def hardware_state(self) -> HardwareState:
        """What the hardware looks like now (power mode, precision, loads, host, contention)."""
        bg = self._bg if self._started else [0.0, 0.0]
        return HardwareState(mode=self._mode, precision=self.config.precision, load_cpu=bg[0], load_gpu=bg[1],
                             host_busy=self._started and self._host_busy, contention=self._c if self._started else 1.0)

    # ------------------------------------------------------------------------------------
    # sources and batcher (SimPy processes)

    def _arrive(self) -> None:
        now = self.env.now
        rid = len(self._arrival)
        self._arrival.append(now)
        self._completion.append(math.nan)
        self._area += self._n_in_system * (now - self._t_area)
        self._t_area = now
        self._n_in_system += 1
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
                self._src_wake = self.env.event()
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
        env = self.env
        for g in gaps.tolist():
            yield env.timeout(g)
            self._arrive()
        self._source_done = True
        self._poke_batcher()

    def _proc_trace(self, times: tuple[float, ...]):
        env = self.env
        for t in times:
            if t > env.now:
                yield env.timeout(t - env.now)
            self._arrive()
        self._source_done = True
        self._poke_batcher()

    def _proc_batcher(self):
        env = self.env
        b = self.batching
        cap, timeout, max_inflight = b.max_batch, b.timeout_s, b.max_inflight
        q = self._waitq
        while True:
            if q and self._jobs_inflight < max_inflight:
                if len(q) >= cap or self._source_done:
                    self._start_job([q.popleft() for _ in range(min(cap, len(q)))])
                    continue
                deadline = self._arrival[q[0]] + timeout
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
        tables = self.tables(len(requests))
        z = self._noise_factors(requests[0]) if self._noise else None
        job = Job(self._job_seq, requests, tables, self._gt.indeg, self._n, z)
        self._job_seq += 1
        self._job_requests.append(tuple(requests))
        self._jobs_inflight += 1
        ready = self._ready
        for s in self._gt.sources:
            ready.append((job, s))
        self._dispatch_ready()

    def _noise_factors(self, request: int) -> list[float]:
        return batch_noise(self._noise_ss, self._sigma, self._n, request)

    def _job_done(self, job: Job) -> None:
        now = self.env.now
        self._jobs_inflight -= 1
        reqs = job.requests
        for r in reqs:
            self._completion[r] = now
        self._area += self._n_in_system * (now - self._t_area)
        self._t_area = now
        self._n_in_system -= len(reqs)
        self._n_done += len(reqs)
        if job.seq == 0:
            self._first_share = job.share[:-1]
        if isinstance(self.arrivals, ClosedLoop):
            self._credit += len(reqs)
            ev = self._src_wake
            if ev is not None and not ev.triggered:
                ev.succeed()
        self._poke_batcher()
        if self._n_done >= self._n_requests and not self._finished:
            self._finished = True
            self._finished_ev.succeed()

    # ------------------------------------------------------------------------------------
    # dispatcher

    def _dispatch_ready(self) -> None:
        """Place every released operator (asking the policy), or park the first one for submit().

        Called only as the last step of an event handler (never from inside placement), so it
        is not re-entered, and external and internal decisions produce the same sequence of
        scheduled events.
        """
        if self._pending_item is not None:
            return
        ready = self._ready
        if self._external:
            if ready:
                item = ready.popleft()
                self._pending_item = item
                self._view._job, self._view.op = item
                return
        else:
            view = self._view
            decide = self._decide
            place = self._place
            while ready:
                job, op = ready.popleft()
                view._job = job
                view.op = op
                place(job, op, decide(view))
        if self._host_unsettled:
            self._host_settle()

    def _coerce(self, action: Any, job: Job, op: int) -> float:
        a = action
        if isinstance(a, np.ndarray):
            if a.size != 1:
                raise SimulationError(f"action: expected one GPU share for operator {op} "
                                      f"({self._gt.names[op]!r}), got an array of shape {a.shape}")
            a = a.reshape(-1)[0]
        if isinstance(a, (bool, np.bool_)):
            return 1.0 if a else 0.0
        if not isinstance(a, (int, float, np.integer, np.floating)):
            raise SimulationError(f"action: {action!r} for operator {op} ({self._gt.names[op]!r}) is not a GPU share "
                                  "(0 = CPU, 1 = GPU, or a share in between)")
        return float(a)

    def _place(self, job: Job, op: int, action: Any) -> None:
        """Validate the action, record it and queue the operator (or its two parts)."""
        t = type(action)
        share = float(action) if (t is int or t is float) else self._coerce(action, job, op)
        if share == 1.0 or share == 0.0:
            d = 1 if share == 1.0 else 0
            pos = self._order_pos
            if pos is not None and pos[d][op] < 0:
                self._order_mismatch(op, d, share)
            if pos is not None and pos[1 - d][op] >= 0:  # the other queue would wait for it forever
                raise SimulationError(f"action: GPU share {share} runs operator {op} ({self._gt.names[op]!r}) whole on "
                                      f"the {('cpu', 'gpu')[d]}, but the policy's static order also lists it on the "
                                      f"{('cpu', 'gpu')[1 - d]} (a split)")
            job.share[op] = share
            job.placed += 1
            self._decisions += 1
            base = job.tables.lat[d][op]
            task = Task(job, op, d, base)
            self._backlog[d] += base
            if self._deps[op] or (d and self._host_io):
                self._wire(task)
            if pos is not None:
                self._enqueue(task)
            elif self._td[d] > 0.0:
                self._host_submit(task)
            else:
                self._launched(task)
            return
        if not 0.0 < share < 1.0:
            raise SimulationError(f"action: GPU share {action!r} for operator {op} ({self._gt.names[op]!r}) "
                                  "is not in [0, 1]")
        if not self._gt.splittable[op]:
            raise SimulationError(f"action: GPU share {share} would split operator {op} ({self._gt.names[op]!r}), "
                                  "which has no split axis (only 0 or 1 allowed)")
        pos = self._order_pos
        if pos is not None and (pos[0][op] < 0 or pos[1][op] < 0):
            self._order_mismatch(op, 0 if pos[0][op] < 0 else 1, share)
        job.share[op] = share
        job.placed += 1
        self._decisions += 1
        self._n_splits += 1
        cpu_part, gpu_part = job.tables.split(op, share)
        sp = Split(job, op, share)
        for d, part in ((_CPU, cpu_part), (_GPU, gpu_part)):
            task = PartTask(job, op, d, part, sp)
            self._backlog[d] += part.lat
            self._wire(task)
            self._enqueue(task)

    def _order_mismatch(self, op: int, d: int, share: float) -> None:
        raise SimulationError(f"action: GPU share {share} puts operator {op} ({self._gt.names[op]!r}) on the "
                              f"{('cpu', 'gpu')[d]}, but the policy's static order has no place for it there")

    def _wire(self, task: Task) -> None:
        """Count the inputs ``task`` waits for; start the copies it needs."""
        d = task.dev
        deps = self._deps[task.op]
        if not deps:
            if d == _GPU and self._host_io:
                deps = self._input_dep
            else:
                return
        job = task.job
        res = job.res
        share = job.share
        bit = 1 << d
        n_wait = 0
        for p in deps:
            r = res[p]
            if r & bit:
                continue
            if d == _GPU and share[p] == 1.0:
                continue  # launched earlier on the same in-order stream
            n_wait += 1
            key = 2 * p + d
            lst = job.waiters.get(key)
            if lst is None:
                job.waiters[key] = [task]
            else:
                lst.append(task)
            if r & 3 and not r & (4 << d):
                self._start_transfer(job, p, d)
        task.waits = n_wait

    def _enqueue(self, task: Task) -> None:
        pos = self._order_pos
        if pos is None:
            self._release(task)
            return
        d = task.dev
        staged = self._staged[d]
        staged[task.job.seq * self._order_len[d] + pos[d][task.op]] = task
        nxt = self._next_pos[d]
        while nxt in staged:
            self._release(staged.pop(nxt))
            nxt += 1
        self._next_pos[d] = nxt

    def _release(self, task: Task) -> None:
        if self._td[task.dev] > 0.0:
            self._host_submit(task)
        else:
            self._launched(task)

    def _issue(self, job: Job, op: int) -> None:
        """``op`` is issued: consumers whose producers are all issued become ready."""
        un = job.unissued
        ready = self._ready
        for c in self._cons[op]:
            k = un[c] - 1
            un[c] = k
            if k == 0:
                ready.append((job, c))

    # ------------------------------------------------------------------------------------
    # host dispatch thread

    def _host_submit(self, task: Task) -> None:
        td = self._td[task.dev]
        self._host_backlog += td
        if self._host_task is not None or self._host_q:
            self._host_q.append(task)
            if self._host_task is None:
                self._host_next()
            return
        # idle host, empty queue: launch at once
        self._host_task = task
        self._host_unsettled = False
        if not self._host_busy:
            self._host_busy = True
            if self._interf:
                self._refresh_load(_CPU)
        self._host_t0 = self.env._now
        ev = Timer(self._host_end)
        self._schedule(ev, NORMAL, td)

    def _host_next(self) -> None:
        """Launch the head of the host queue, or let the host go idle (callers ensure no decision
        is due at this instant: see ``_host_end``)."""
        q = self._host_q
        if q:
            task = q.popleft()
            self._host_task = task
            self._host_unsettled = False
            if not self._host_busy:
                self._host_busy = True
                if self._interf:
                    self._refresh_load(_CPU)
            self._host_t0 = self.env._now
            ev = Timer(self._host_end)
            self._schedule(ev, NORMAL, self._td[task.dev])
            return
        self._host_task = None
        if self._host_busy:
            self._host_busy = False
            if self._interf:
                self._refresh_load(_CPU)

    def _host_settle(self) -> None:
        self._host_unsettled = False
        if self._host_task is None:
            self._host_next()

    def _host_end(self, ev: Timer) -> None:
        task = self._host_task
        now = self.env._now
        self._host_busy_s += now - self._host_t0
        self._host_backlog -= self._td[task.dev]
        if self._trace is not None:
            self._trace.append((2, 1, task.op, task.job.seq, self._host_t0, now, task.dev, 0))
        self._launched(task)
        if self._ready:
            # Decisions at this instant may launch more: the host stays busy until they are taken
            # (the dispatcher settles it), and the next launch still comes from the queue's head.
            self._host_task = None
            self._host_unsettled = True
            self._dispatch_ready()
        else:
            self._host_next()

    def _launched(self, task: Task) -> None:
        d = task.dev
        q = self._queue[d]
        q.append(task)
        if d == _GPU and task.part is None:
            self._issue(task.job, task.op)
        if self._running[d] is None and not q[0].waits:
            self._start(d, q.popleft())

    # ------------------------------------------------------------------------------------
    # device executors

    def _try_start(self, d: int) -> None:
        if self._running[d] is not None:
            return
        q = self._queue[d]
        if not q or q[0].waits:
            return
        self._start(d, q.popleft())

    def _start(self, d: int, task: Task) -> None:
        job = task.job
        z = 1.0 if job.z is None else job.z[2 * task.op + d]
        self._running[d] = task
        if self._dynamic:
            if self._contention and self._running[1 - d] is not None:
                self._update_contention(d)
            if self._load[d] == 0.0 and self._c == 1.0:
                dur = z * task.base
            else:
                dur = z * self._rate_duration(task, d)
        else:
            dur = z * task.base
        now = self.env._now
        task.z = z
        task.t0 = now
        task.t_seg = now
        task.frac = 1.0
        task.dur = dur
        ev = Timer(self._end_cb[d])
        self._schedule(ev, NORMAL, dur)
        self._end_ev[d] = ev

    def _rate_duration(self, task: Task, d: int) -> float:
        load = self._load[d]
        c = self._c
        if load == 0.0 and c == 1.0:
            return task.base
        t = task.job.tables
        part = task.part
        if part is None:
            return t.at_load(d, load)[task.op] if c == 1.0 else t.duration(d, task.op, load, c)
        return duration_at(t.tl[d], part.tc, part.tm, t.sharp[d], load, c)

    def _on_end(self, d: int, ev: Timer) -> None:
        """The running task of device ``d`` ends, unless ``ev`` was superseded by a re-timing."""
        if ev is not self._end_ev[d]:
            return  # stale: the task was re-timed and ends at another event
        task = self._running[d]
        self._running[d] = None
        self._end_ev[d] = None
        now = self.env._now
        t0 = task.t0
        busy = now - t0
        self._busy[d] += busy
        job = task.job
        op = task.op
        part = task.part
        t = job.tables
        self._energy[d] += (t.e_dyn[d][op] if part is None else part.e_dyn) + t.p_static[d] * busy
        self._backlog[d] -= task.base
        if self._trace is not None:
            self._trace.append((d, 0, op, job.seq, t0, now, job.share[op], 0))
        if self._c != 1.0:
            self._update_contention(d)  # the other device now runs alone
        if part is None:
            self._op_done(job, op, d)
        else:
            self._part_done(task)
        q = self._queue[d]
        if q and not q[0].waits and self._running[d] is None:
            self._start(d, q.popleft())
        if self._ready:
            self._dispatch_ready()

    def _op_done(self, job: Job, op: int, home: int) -> None:
        """The output of ``op`` exists on ``home``: wake waiters, issue consumers, finish the job."""
        job.res[op] |= 1 << home
        job.done += 1
        w = job.waiters
        if w:
            lst = w.pop(2 * op + home, None)
            if lst:
                self._notify(lst)
            if 2 * op + 1 - home in w:
                self._start_transfer(job, op, 1 - home)
        if job.share[op] != 1.0:
            self._issue(job, op)
        if home == _GPU and self._is_sink[op] and self._host_io:
            self._start_transfer(job, op, _CPU)  # the output goes back to the host; finishes there
            return
        job.left -= 1
        if job.left == 0:
            self._job_done(job)

    def _notify(self, tasks: list[Task]) -> None:
        running = self._running
        for task in tasks:
            task.waits -= 1
            if task.waits == 0 and running[task.dev] is None:
                self._try_start(task.dev)

    # ------------------------------------------------------------------------------------
    # split operators

    def _part_done(self, task: Task) -> None:
        sp = task.split
        sp.left -= 1
        if task.dev != sp.home:
            self._start_merge(sp, task.dev)
        if sp.left == 0:
            self._op_done(sp.job, sp.op, sp.home)

    def _start_merge(self, sp: Split, src: int) -> None:
        job = sp.job
        t = job.tables
        minor = sp.share if src == _GPU else 1.0 - sp.share
        dur, nbytes = t.merge_s(sp.op, minor)
        self._count_transfer(t, dur, nbytes, sp.home)
        t0 = self.env._now
        ev = Timer(lambda _e: self._end_merge(sp, t0, nbytes))
        self._schedule(ev, NORMAL, dur)

    def _end_merge(self, sp: Split, t0: float, nbytes: float) -> None:
        self._xfer_inflight -= 1
        if self._trace is not None:
            self._trace.append((3, 3, sp.op, sp.job.seq, t0, self.env._now, nbytes, sp.home))
        sp.left -= 1
        if sp.left == 0:
            self._op_done(sp.job, sp.op, sp.home)
        if self._ready:
            self._dispatch_ready()

    # ------------------------------------------------------------------------------------
    # transfers

    def _count_transfer(self, t: PredTables, dur: float, nbytes: float, dst: int) -> None:
        self._n_xfer += 1
        self._xfer_bytes += nbytes
        self._xfer_busy += dur
        self._xfer_energy += t.eps_byte[dst] * nbytes
        self._xfer_inflight += 1

    def _start_transfer(self, job: Job, src: int, d: int) -> None:
        """Copy output ``src`` (``n`` = the request's input) of ``job`` to device ``d``."""
        t = job.tables
        job.res[src] |= 4 << d
        dur = t.xfer_s[src]
        self._count_transfer(t, dur, t.xfer_bytes[src], d)
        t0 = self.env._now
        ev = Timer(lambda _e: self._end_transfer(job, src, d, t0))
        self._schedule(ev, NORMAL, dur)

    def _end_transfer(self, job: Job, src: int, d: int, t0: float) -> None:
        self._xfer_inflight -= 1
        res = job.res
        res[src] = (res[src] | (1 << d)) & ~(4 << d)
        if self._trace is not None:
            self._trace.append((3, 2, src, job.seq, t0, self.env._now, job.tables.xfer_bytes[src], d))
        lst = job.waiters.pop(2 * src + d, None)
        if lst:
            self._notify(lst)
        if d == _CPU and src < self._n and self._is_sink[src] and self._host_io:
            job.left -= 1
            if job.left == 0:
                self._job_done(job)
        if self._ready:
            self._dispatch_ready()

    # ------------------------------------------------------------------------------------
    # rates: background load, dispatch interference, contention

    def _bg_setter(self, d: int):
        def set_level(level: float) -> None:
            self._load_log.append((self.env._now, d, level))
            self._bg[d] = level
            self._refresh_load(d)
            if self._stalled():
                self._deadlock()
        return set_level

    def _refresh_load(self, d: int) -> None:
        load = self._bg[d]
        if d == _CPU and self._host_busy and self._interf:
            load += 1.0 / self._cores
        if load > _MAX_LOAD:
            load = _MAX_LOAD
        if load != self._load[d]:
            self._load[d] = load
            self._retime(d)

    def _demand(self, task: Task) -> float:
        part = task.part
        return task.job.tables.demand[task.dev][task.op] if part is None else part.demand

    def _update_contention(self, d: int) -> None:
        """Recompute the shared bandwidth factor; re-time the other device if it changed."""
        rc, rg = self._running
        if rc is None or rg is None:
            c = 1.0
        else:
            total = self._demand(rc) + self._demand(rg)
            cap = self._bw_cap
            c = cap / total if total > cap else 1.0
        if c != self._c:
            self._c = c
            self._retime(1 - d)

    def _retime(self, d: int) -> None:
        """Re-time the running task of device ``d`` at the current rates (remaining fraction)."""
        task = self._running[d]
        if task is None:
            return
        now = self.env._now
        frac = task.frac
        if task.dur > 0.0:
            frac -= (now - task.t_seg) / task.dur
            if frac < 0.0:
                frac = 0.0
        new = task.z * self._rate_duration(task, d)
        task.frac = frac
        task.t_seg = now
        task.dur = new
        ev = Timer(self._end_cb[d])
        self._schedule(ev, NORMAL, frac * new)
        self._end_ev[d] = ev

    # ------------------------------------------------------------------------------------
    # results and traces

    def results(self) -> Results:
        """Metrics of the finished run."""
        if not self.done:
            raise SimulationError("results: the run is not finished (run() it, or submit() until done)")
        arr = np.asarray(self._arrival)
        comp = np.asarray(self._completion)
        lat = comp - arr
        mean, p50, p95, p99, mx = summarise_latencies(lat)
        makespan = float(comp.max() - arr.min())
        t1 = self.tables(1)
        idle = t1.board_idle_w * makespan
        energy = self._energy[0] + self._energy[1] + self._xfer_energy + idle
        n_req = len(arr)
        n_batches = self._job_seq
        return Results(
            workload=self.graph.name,
            platform=self.platform.name,
            mode=self._mode,
            precision=self.config.precision,
            policy=policy_name(self.policy),
            arrival=self.arrivals.describe(),
            max_batch=self.batching.max_batch,
            seed=self.seed,
            reference=self.config.reference,
            n_requests=n_req,
            n_batches=n_batches,
            n_ops=self._n,
            latency_mean_s=mean,
            latency_p50_s=p50,
            latency_p95_s=p95,
            latency_p99_s=p99,
            latency_max_s=mx,
            throughput_rps=n_req / makespan if makespan > 0 else math.inf if n_req else 0.0,
            makespan_s=makespan,
            energy_j=float(energy),
            energy_per_inference_j=float(energy / n_req) if n_req else 0.0,
            idle_energy_j=float(idle),
            cpu_energy_j=float(self._energy[0]),
            gpu_energy_j=float(self._energy[1]),
            transfer_energy_j=float(self._xfer_energy),
            cpu_busy_s=float(self._busy[0]),
            gpu_busy_s=float(self._busy[1]),
            host_busy_s=float(self._host_busy_s),
            cpu_util=float(self._busy[0] / makespan) if makespan > 0 else 0.0,
            gpu_util=float(self._busy[1] / makespan) if makespan > 0 else 0.0,
            transfers=self._n_xfer,
            transfer_bytes=float(self._xfer_bytes),
            transfer_busy_s=float(self._xfer_busy),
            ops_executed=self._decisions + self._n_splits,
            decisions=self._decisions,
            mean_batch=n_req / n_batches if n_batches else 0.0,
            placement=tuple(self._first_share or ()),
            latencies_s=tuple(lat.tolist()),
        )

    def trace(self):
        """The recorded slices as a :class:`~sparoa_sim.trace.SimTrace` (needs ``record_trace``)."""
        from sparoa_sim.trace import SimTrace

        if not self._started or self._trace is None:
            raise SimulationError("trace: nothing recorded (run with SimConfig(record_trace=True))")
        return SimTrace(
            events=tuple(self._trace),
            op_names=self._gt.names,
            job_requests=tuple(self._job_requests),
            job_batches=tuple(len(r) for r in self._job_requests),
            workload=self.graph.name,
            platform=self.platform.name,
            policy=policy_name(self.policy),
            loads=tuple(self._load_log),
        )


def simulate(workload: OpGraph | str | os.PathLike[str], platform: Platform | str | os.PathLike[str],
             policy: Any = "gpu", *, requests: int = 1, arrival: str | Arrivals = "closed", batch: int = 1,
             batch_timeout_s: float = math.inf, max_inflight: int = 1, seed: int | None = 0,
             reference: bool = False, mode: str | None = None, precision: str = "fp32",
             record_trace: bool = False, cache: PredictionCache | None = None, **policy_kwargs: Any) -> Results:
    """One-call simulation by names: the Python face of ``sparoa simulate``."""
    from sparoa_sim.arrivals import parse_arrival

    arr = parse_arrival(arrival, requests) if isinstance(arrival, str) else arrival
    sim = Simulator(workload, platform, policy, arrivals=arr,
                    batching=Batching(max_batch=batch, timeout_s=batch_timeout_s, max_inflight=max_inflight),
                    config=SimConfig(mode=mode, precision=precision, reference=reference, record_trace=record_trace),
                    seed=seed, cache=cache, policy_kwargs=policy_kwargs or None)
    return sim.run()
