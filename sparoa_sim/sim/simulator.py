"""The simulator: a thin façade over the engine's components (docs/architecture.md §4).

:class:`Simulator` validates its inputs, builds the components once — the request stream
(``sim.stream``), the dispatcher, the host dispatch thread, the device executors, the rates and
the transfers — connects them, and at each reset gives them a fresh shared
:class:`~sparoa_sim.sim.state.RunState` (a new SimPy environment) and the run's random
substreams (``sim.randomness``). It then runs the event loop, to the end (:meth:`Simulator.run`)
or decision by decision for an external agent (:meth:`Simulator.start` / :meth:`Simulator.submit`),
and assembles results and traces (``sim.metrics``). Other workloads' request streams may run
alongside (``coruns``: ``sim.streams``), sharing the devices, the host thread and the copies;
without them the components are wired exactly as for one stream. :func:`simulate` is the one-call form by
names (the Python face of ``sparoa simulate``).

The reference setting (``SimConfig(reference=True)``) leaves a deterministic schedule that an
exact solver can reproduce; its timing rules are docs/architecture.md §4.3 (``sim.reference``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from simpy.core import EmptySchedule

from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels import Platform, as_platform
from sparoa_sim.hwmodels.contention import concurrent_bw
from sparoa_sim.hwmodels.noise import noise_sigmas
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.sim.arrivals import (ARRIVAL_TYPES, Arrivals, Batching, ClosedLoop, Poisson, check_closed_loop,
                                     parse_arrival)
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.dispatcher import Dispatcher
from sparoa_sim.sim.executors import Executors
from sparoa_sim.sim.host import HostThread
from sparoa_sim.sim.hwstate import HardwareState
from sparoa_sim.sim.metrics import TRACK_NAMES, energy_so_far, one_request_figures, run_results, run_trace
from sparoa_sim.sim.policies import ExternalPolicy, PolicyContext, make_policy, policy_name
from sparoa_sim.sim.powerswitch import board_idle_w, check_power_switches, mode_process
from sparoa_sim.sim.predtables import PredictionCache, PredTables
from sparoa_sim.sim.randomness import STREAMS, RunStreams, batch_noise, substreams
from sparoa_sim.sim.rates import Rates
from sparoa_sim.sim.request_sparsity import RequestSparsity
from sparoa_sim.sim.results import Results
from sparoa_sim.sim.state import RunState
from sparoa_sim.sim.streams import (CoRun, Lane, LaneHost, Router, StreamGroup, build_corun_lanes, check_deadline,
                                    reset_corun_lanes, retable_lanes, wire_lanes)
from sparoa_sim.sim.trace import SimTrace
from sparoa_sim.sim.transfers import Transfers
from sparoa_sim.sim.view import OpView
from sparoa_sim.workloads import as_graph

__all__ = ["STREAMS", "TRACK_NAMES", "Simulator", "batch_noise", "simulate", "substreams"]

_KEEP = object()


def _check_seed(seed: Any) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise SimulationError(f"seed must be a non-negative integer or None, got {seed!r}")
    return None if seed is None else int(seed)


class Simulator:
    """Simulate a request stream of one workload on one platform under one placement policy,
    optionally with co-running streams of other workloads sharing the devices (``coruns``,
    ``sim.streams``; the results' headline figures stay the primary stream's, ``Results.streams``
    has every stream's).

    ``run()`` simulates to the end and returns :class:`~sparoa_sim.sim.results.Results`. Stepping
    (for external decisions): ``view = start()``, then ``view = submit(action)`` while
    ``not done``, then ``results()``. ``reset(seed)`` / ``start(seed)`` re-run with another seed,
    reusing the prediction tables.
    """

    def __init__(self, graph: OpGraph | str | os.PathLike[str], platform: Platform | str | os.PathLike[str],
                 policy: Any = "gpu", *, arrivals: Arrivals | None = None, batching: Batching | None = None,
                 config: SimConfig | None = None, seed: int | None = 0, cache: PredictionCache | None = None,
                 policy_kwargs: dict[str, Any] | None = None, coruns: Sequence[CoRun] = (),
                 deadline_s: float | None = None, power: Sequence[tuple[float, str]] = ()) -> None:
        self.graph = as_graph(graph)
        self.platform = as_platform(platform)
        self.config = SimConfig() if config is None else config
        if not isinstance(self.config, SimConfig):
            raise SimulationError(f"config must be a SimConfig, got {config!r}")
        self.batching = Batching() if batching is None else batching
        if not isinstance(self.batching, Batching):
            raise SimulationError(f"batching must be a Batching, got {batching!r}")
        self.arrivals = ClosedLoop(1) if arrivals is None else arrivals
        if not isinstance(self.arrivals, ARRIVAL_TYPES):
            raise SimulationError(f"arrivals must be ClosedLoop, Poisson, Periodic or TraceArrivals, got {arrivals!r}")
        check_closed_loop(self.arrivals, self.batching)
        self.deadline_s = check_deadline(deadline_s)
        self.seed = _check_seed(seed)
        self.policy = make_policy(policy, **(policy_kwargs or {}))
        self.cache = PredictionCache() if cache is None else cache
        self._mode = self.mode_now = self.platform.mode(self.config.mode).name  # mode_now: in force (read only)
        self._power = check_power_switches(power, self.platform)  # mode switches over time (sim.powerswitch)
        self._mode_log: list[tuple[float, str]] = [(0.0, self._mode)]
        self._gt = self.cache.graph(self.graph)
        self._external = isinstance(self.policy, ExternalPolicy)
        self._tables_by_batch: dict[tuple[str, int], PredTables] = {}
        self._sigma = noise_sigmas(self.platform)
        self._sigma_on = bool(np.any(self._sigma > 0))  # whether noise_on draws anything (read at each reset)
        self.env = None
        self._started = False
        # the components, built and connected once; reset() starts each run afresh
        # the streams: the primary (stream 0) and the co-runs, each a lane (sim.streams)
        lane = Lane(0, self.graph.name, self.graph, self._gt, self.policy, self.arrivals, self.batching,
                    self.deadline_s, self.tables)
        self._lanes = [lane, *build_corun_lanes(self, coruns, {lane.name})]
        self._streams = [ln.stream for ln in self._lanes]
        multi = len(self._lanes) > 1
        self._view = lane.view = OpView(self, self._gt)
        self._dispatcher = lane.dispatcher = Dispatcher(self._view, self._external)
        self._stream = lane.stream
        self._host = LaneHost() if multi or self._power else HostThread()
        self._executors = Executors()
        self._rates = Rates()
        self._transfers = Transfers()
        wire_lanes(self, self._lanes[1:], self._host, self._executors, self._transfers)
        # with co-runs a router stands in front of the streams' dispatchers, a group ends the run
        self._front = Router(self._lanes) if multi else self._dispatcher
        self._group = StreamGroup(self._lanes) if multi else None
        self._finish = self._group or self._stream
        for ln in self._lanes:
            ln.stream.connect(self._front)
        self._dispatcher.connect(self._host, self._executors, self._transfers)
        self._host.connect(self._front, self._executors, self._rates)
        self._executors.connect(self._front, self._rates, self._transfers)
        self._rates.connect(self._host, self._executors, self._check_stalled)
        self._transfers.connect(self._front, self._executors)
        self._state: RunState | None = None

    @property
    def mode(self) -> str:
        """The power mode's name."""
        return self._mode

    @property
    def streams(self) -> tuple[str, ...]:
        """Names of the run's request streams: the primary first, then the co-runs."""
        return tuple(ln.name for ln in self._lanes)

    # ------------------------------------------------------------------------------------
    # set-up

    def tables(self, batch: int = 1) -> PredTables:
        """Prediction tables at ``batch`` in the power mode in force and this run's precision (cached)."""
        t = self._tables_by_batch.get((self.mode_now, batch))
        if t is None:
            t = self.cache.tables(self.graph, self.platform, batch, self.mode_now, self.config.precision)
            self._tables_by_batch[(self.mode_now, batch)] = t
        return t

    def reset(self, seed: Any = _KEEP) -> None:
        """Prepare a fresh run (new SimPy environment, substreams from ``seed``); runs nothing."""
        if seed is not _KEEP:
            self.seed = _check_seed(seed)
        cfg = self.config
        kids = RunStreams(self.seed)  # each substream built when first read
        self.mode_now, self._mode_log = self._mode, [(0.0, self._mode)]
        retable_lanes(self._lanes)  # the configured mode's launch costs (a previous run may have switched)
        policy = self.policy
        reset = getattr(policy, "reset", None)
        if callable(reset):
            reset(PolicyContext(graph=self.graph, platform=self.platform, mode=self._mode,
                                precision=cfg.precision, reference=cfg.reference,
                                rng=np.random.default_rng(kids[4]), max_batch=self.batching.max_batch))
        noise = cfg.noise_on and self._sigma_on
        tables = self.tables(1)
        self._idle_w0 = tables.board_idle_w  # the configured mode's: progress() reads it while no switch happened
        state = RunState(self._gt, tables, cfg, float(concurrent_bw(self.platform, self._mode)), noise)
        self._state = state
        self.env = state.env
        self._dispatcher.reset(state, policy.decide, getattr(policy, "order", None))
        self._host.reset(state)
        self._executors.reset(state)
        self._rates.reset(state)
        self._transfers.reset(state)
        group = self._group
        on_finish = None if group is None else group.stream_finished
        rsp = RequestSparsity(self.graph, self.seed) if self.config.request_sparsity else None
        self._stream.reset(state, self.arrivals, self.batching, kids.noise_key(), self._sigma, self._lanes[0],
                           on_finish, rsp)
        co_arrivals = []
        if group is not None:
            group.reset(state)
            self._front.reset(state, self._host)
            co_arrivals = reset_corun_lanes(self._lanes[1:], state=state, seed=self.seed, sim=self,
                                            sigma=self._sigma, group=group)
        for ln in self._lanes:
            ln.view.bind(state, self._host, self._rates)
        # processes; the background first, so its t = 0 levels hold before the first operator starts
        self._rates.start_background(state, kids)
        if self._power:
            self.env.process(mode_process(self.env, self._power, self._switch_mode))
        self._stream.start(kids[3] if isinstance(self.arrivals, Poisson) else None)  # only Poisson gaps draw
        for ln, ss in zip(self._lanes[1:], co_arrivals):
            ln.stream.start(ss)
        self._started = True

    def _switch_mode(self, mode: str) -> None:
        """The board switches to power mode ``mode`` now (what changes: ``sim.powerswitch``)."""
        self.mode_now = mode
        self._mode_log.append((self.env.now, mode))
        retable_lanes(self._lanes)  # batches formed from now on take the new mode's tables and launch costs
        self._rates.set_board(self.tables(1).cores, float(concurrent_bw(self.platform, mode)))

    # ------------------------------------------------------------------------------------
    # driving

    def start(self, seed: Any = _KEEP) -> OpView | None:
        """Reset and run to the first external decision: the pending :class:`OpView` (None: the run is over)."""
        self.reset(seed)
        self._advance()
        return self.pending

    def submit(self, action: float | int) -> OpView | None:
        """Apply ``action`` (GPU share) to the pending operator and run to the next decision.

        Returns the next pending :class:`OpView`, or None when the run is over. A bad action
        raises :class:`SimulationError` and leaves the decision pending.
        """
        disp = self._dispatcher
        item = disp.pending if self._started else None
        if item is None:
            raise SimulationError("submit: no decision is pending (call start() first, or the run is over)")
        job, op = item
        disp.place(job, op, action)  # validates before changing anything
        disp.pending = None
        self._front.dispatch_ready()
        try:  # _advance(), external: run to the next decision
            self.env.step_until_pending(disp, self._finish)
        except EmptySchedule:
            self._deadlock()
        return self._view if disp.pending is not None else None

    def run(self, seed: Any = _KEEP) -> Results:
        """Simulate the whole request stream and return its :class:`Results`."""
        if self._external:
            raise SimulationError("policy 'external' takes its decisions from submit(): use start()/submit()")
        self.start(seed)
        return self.results()

    def _advance(self) -> None:
        env = self.env
        assert env is not None
        stream = self._finish
        if not self._external:
            try:
                env.run(until=stream.finished_ev)
            except RuntimeError as exc:
                if "until" in str(exc):
                    self._deadlock()
                raise
            return
        try:
            env.step_until_pending(self._dispatcher, stream)  # = step() while no decision is pending
        except EmptySchedule:
            self._deadlock()

    def _deadlock(self) -> None:
        q = self._executors.queue
        raise SimulationError(
            f"simulation stalled at t={self.env.now:.6g}s with {self._finish.n_requests - self._finish.n_done} "
            f"request(s) unfinished (queued on cpu/gpu: {[len(q[0]), len(q[1])]}); a static order that "
            "contradicts the dependencies?")

    def _check_stalled(self) -> None:
        """Raise if jobs are in flight and nothing can move them (checked after background changes)."""
        ex, host = self._executors, self._host
        if (self._finish.jobs_inflight > 0 and ex.running[0] is None and ex.running[1] is None
                and host.task is None and not host.queue and self._transfers.inflight == 0
                and not self._state.ready and self._dispatcher.pending is None):
            self._deadlock()

    # ------------------------------------------------------------------------------------
    # progress, as an environment needs it

    @property
    def now(self) -> float:
        """Simulation time, s."""
        return 0.0 if self.env is None else float(self.env.now)

    @property
    def pending(self) -> OpView | None:
        """The operator waiting for an external decision, or None."""
        return self._view if self._started and self._dispatcher.pending is not None else None

    @property
    def done(self) -> bool:
        """Every request (of every stream) has completed."""
        return self._started and self._finish.finished

    @property
    def n_requests(self) -> int:
        """Requests in the run (the primary stream's)."""
        return self.arrivals.n_requests

    @property
    def n_in_system(self) -> int:
        """Requests arrived and not yet complete (the primary stream's)."""
        return self._stream.n_in_system if self._started else 0

    @property
    def requests_done(self) -> int:
        """Requests completed (the primary stream's)."""
        return self._stream.n_done if self._started else 0

    @property
    def decisions(self) -> int:
        """Placement decisions taken so far."""
        return self._dispatcher.decisions if self._started else 0

    @property
    def time_in_system(self) -> float:
        """Integral of the number of the primary stream's requests in the system over time so far
        (request-seconds)."""
        return self._stream.time_in_system(self.env.now) if self._started else 0.0

    @property
    def energy_so_far(self) -> float:
        """Joules so far: finished operators and copies plus board idle power since the first arrival."""
        if not self._started:
            return 0.0
        return energy_so_far(self.env.now, self._idle_w(), self._streams, self._executors, self._transfers)

    def progress(self) -> tuple[float, float, float, int, int]:
        """``(now, time_in_system, energy_so_far, n_in_system, requests_done)`` in one call, each equal
        to its property (an environment reads them at every step)."""
        if not self._started:
            return (self.now, 0.0, 0.0, 0, 0)
        now = self.env._now
        s = self._stream
        idle = self._idle_w0 if len(self._mode_log) == 1 else self._idle_w()
        return (float(now), s.area + s.n_in_system * (now - s.t_area),  # = s.time_in_system(now)
                energy_so_far(now, idle, self._streams, self._executors, self._transfers), s.n_in_system, s.n_done)

    def load_history(self) -> list[tuple[float, str, float]]:
        """Background-load changes so far: (time, device, share), in time order."""
        return [(t, ("cpu", "gpu")[d], lv) for t, d, lv in self._rates.load_log] if self._started else []

    def hardware_state(self) -> HardwareState:
        """What the hardware looks like now (power mode, precision, loads, host, contention)."""
        started = self._started
        bg = self._rates.bg if started else [0.0, 0.0]
        return HardwareState(mode=self.mode_now, precision=self.config.precision, load_cpu=bg[0], load_gpu=bg[1],
                             host_busy=started and self._host.busy,
                             contention=self._rates.contention if started else 1.0)

    def mode_history(self) -> list[tuple[float, str]]:
        """Power modes in force so far: (from time, mode), the configured one at 0 first."""
        return list(self._mode_log)

    def _idle_w(self) -> float:
        if len(self._mode_log) == 1:  # no switch: the one mode's own (fast: the env reads it every step)
            return self.tables(1).board_idle_w
        return board_idle_w(self._mode_log, lambda m: self.cache.tables(self.graph, self.platform, 1, m,
                            self.config.precision).board_idle_w, self._streams, self.now)

    def noise_factors(self, request: int) -> list[float]:
        """Noise factors of a batch led by ``request`` in this run, index ``2*op + device``."""
        return batch_noise(substreams(self.seed)[2], self._sigma, self._gt.n, request)

    # ------------------------------------------------------------------------------------
    # results and traces

    def results(self) -> Results:
        """Metrics of the finished run."""
        if not self.done:
            raise SimulationError("results: the run is not finished (run() it, or submit() until done)")
        return run_results(graph=self.graph, platform=self.platform, mode=self._mode, config=self.config,
                           policy=policy_name(self.policy), arrivals=self.arrivals, batching=self.batching,
                           seed=self.seed, board_idle_w=self._idle_w(), lanes=self._lanes,
                           dispatcher=self._dispatcher, host=self._host, executors=self._executors,
                           transfers=self._transfers)

    def one_request_figures(self) -> tuple[float, float, float, int, tuple[float, ...]] | None:
        """``(latency_mean_s, latency_p95_s, energy_per_inference_j, decisions, placement)`` of a finished run of
        one request, each equal to its :meth:`results` field, without building the :class:`Results` (an
        environment's every episode end); None where the shortcut does not apply: read :meth:`results`."""
        if not self.done:
            raise SimulationError("results: the run is not finished (run() it, or submit() until done)")
        return one_request_figures(lanes=self._lanes, board_idle_w=self._idle_w(), executors=self._executors,
                                   transfers=self._transfers, dispatcher=self._dispatcher)

    def trace(self) -> SimTrace:
        """The recorded slices as a :class:`~sparoa_sim.sim.trace.SimTrace` (needs ``record_trace``)."""
        if not self._started or self._state.trace is None:
            raise SimulationError("trace: nothing recorded (run with SimConfig(record_trace=True))")
        return run_trace(events=self._state.trace, graph=self.graph, platform=self.platform,
                         policy=policy_name(self.policy), lanes=self._lanes, job_lane=self._state.job_lane,
                         rates=self._rates)


def simulate(workload: OpGraph | str | os.PathLike[str], platform: Platform | str | os.PathLike[str],
             policy: Any = "gpu", *, requests: int = 1, arrival: str | Arrivals = "closed", batch: int = 1,
             batch_timeout_s: float = math.inf, max_inflight: int = 1, seed: int | None = 0,
             reference: bool = False, mode: str | None = None, precision: str = "fp32",
             record_trace: bool = False, cache: PredictionCache | None = None, coruns: Sequence[CoRun] = (),
             deadline_s: float | None = None, **policy_kwargs: Any) -> Results:
    """One-call simulation by names: the Python face of ``sparoa simulate`` (``coruns``: other
    workloads' streams sharing the devices; ``deadline_s``: the primary stream's, for its SLO rate)."""
    arr = parse_arrival(arrival, requests) if isinstance(arrival, str) else arrival
    sim = Simulator(workload, platform, policy, arrivals=arr,
                    batching=Batching(max_batch=batch, timeout_s=batch_timeout_s, max_inflight=max_inflight),
                    config=SimConfig(mode=mode, precision=precision, reference=reference, record_trace=record_trace),
                    seed=seed, cache=cache, policy_kwargs=policy_kwargs or None, coruns=coruns,
                    deadline_s=deadline_s)
    return sim.run()
