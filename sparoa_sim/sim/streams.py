"""Several request streams in one run: co-running DNNs sharing the devices (docs/architecture.md §4.1).

A run has a *primary* stream (stream 0: the simulator's workload, policy and arrivals) and any
number of :class:`CoRun` streams, each another workload's requests with its own placement
policy, arrivals, batcher and deadline. Every stream is a :class:`Lane`: its graph's tables, its
own :class:`~sparoa_sim.sim.stream.RequestStream` and :class:`~sparoa_sim.sim.dispatcher.Dispatcher`
(its policy, its static order) and the :class:`~sparoa_sim.sim.view.OpView` its policy reads. They
share one SimPy environment and everything physical: both devices and their in-order queues, the
host dispatch thread, copies, background load and contention. A job carries its lane
(``Job.lane``), so the shared components read the right graph; the :class:`Router` takes the
shared ready queue and hands each operator to its own stream's dispatcher, and the
:class:`StreamGroup` ends the run when every stream's requests are complete.

External decisions (``Simulator.start``/``submit``) are only for the primary stream; co-run
policies decide by themselves. Each co-run draws its noise, arrivals and policy randomness from
its own substreams (:func:`corun_substreams`), apart from the primary's, so a seed fixes
every stream's randomness whatever the policies do (common random numbers).
With no co-run none of this is built: the simulator wires its one stream exactly as before.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from sparoa_sim.errors import SparOAError, SimulationError
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.sim.arrivals import ARRIVAL_TYPES, Arrivals, Batching, ClosedLoop, check_closed_loop
from sparoa_sim.sim.dispatcher import Dispatcher
from sparoa_sim.sim.host import HostThread
from sparoa_sim.sim.policies import ExternalPolicy, PolicyContext, make_policy, policy_name
from sparoa_sim.sim.predtables import GraphTables, PredTables
from sparoa_sim.sim.state import RunState
from sparoa_sim.sim.stream import RequestStream
from sparoa_sim.sim.view import OpView

__all__ = ["CoRun", "Lane", "LaneHost", "Router", "StreamGroup", "check_deadline", "corun_substreams"]

#: First spawn key of the co-run substreams: far from the run's own (``sim.randomness.STREAMS``).
_CORUN_KEY = 1000
#: Co-run substreams, in this order: latency noise, arrivals, the policy.
CORUN_STREAMS: tuple[str, ...] = ("noise", "arrivals", "policy")


def check_deadline(value: Any, what: str = "deadline_s") -> float | None:
    """A deadline in seconds (positive, finite) or None; raises naming ``what`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise SimulationError(f"{what} must be a positive, finite number of seconds or None, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class CoRun:
    """Another workload's request stream sharing the devices with the primary one.

    ``workload``: a shipped name, a graph file or an :class:`OpGraph` (like the simulator's);
    ``policy``: a policy name, a :class:`~sparoa_sim.sim.policies.StaticSchedule` or any policy
    object (not ``external``); ``deadline_s``: for the stream's SLO satisfaction rate;
    ``name``: defaults to the workload's name.
    """

    workload: OpGraph | str | os.PathLike[str]
    policy: Any = "gpu"
    arrivals: Arrivals = field(default_factory=lambda: ClosedLoop(1))
    batching: Batching | None = None
    deadline_s: float | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        w = self.workload
        if not isinstance(w, (OpGraph, str, os.PathLike)) or (isinstance(w, str) and not w.strip()):
            raise SimulationError(f"corun workload must be a workload name, a graph file or an OpGraph, got {w!r}")
        if not isinstance(self.arrivals, ARRIVAL_TYPES):
            raise SimulationError(f"corun arrivals must be ClosedLoop, Poisson, Periodic or TraceArrivals, "
                                  f"got {self.arrivals!r}")
        if self.batching is not None and not isinstance(self.batching, Batching):
            raise SimulationError(f"corun batching must be a Batching or None, got {self.batching!r}")
        object.__setattr__(self, "deadline_s", check_deadline(self.deadline_s, "corun deadline_s"))
        if self.name is not None and (not isinstance(self.name, str) or not self.name.strip()):
            raise SimulationError(f"corun name must be a non-empty string or None, got {self.name!r}")
        p = self.policy
        if isinstance(p, ExternalPolicy) or (isinstance(p, str) and p.strip().lower() == "external"):
            raise SimulationError("corun policy: 'external' decides only for the primary stream; give the co-run "
                                  "a policy of its own (a name or a StaticSchedule)")
        check_closed_loop(self.arrivals, self.batching or Batching(), "corun arrivals")


def corun_substreams(seed: int | None, k: int) -> list[np.random.SeedSequence]:
    """Co-run ``k``'s (noise, arrivals, policy) substreams of the run's ``seed`` (see :data:`CORUN_STREAMS`):
    children of the seed's SeedSequence with spawn keys far from the run's own, so adding a
    co-run changes none of the primary's draws."""
    root = np.random.SeedSequence(seed)
    return np.random.SeedSequence(root.entropy, spawn_key=(_CORUN_KEY + int(k),)).spawn(len(CORUN_STREAMS))


class Lane:
    """One request stream of a run: its graph, policy, arrivals and batcher, and its components.

    Jobs point at their lane (``Job.lane``): shared components read the graph's sink flags and
    host times from it and report a finished job to ``lane.stream``.
    """

    __slots__ = ("index", "name", "graph", "gt", "n", "indeg", "is_sink", "td", "policy", "arrivals", "batching",
                 "deadline_s", "tables", "external", "stream", "dispatcher", "view")

    def __init__(self, index: int, name: str, graph: OpGraph, gt: GraphTables, policy: Any, arrivals: Arrivals,
                 batching: Batching, deadline_s: float | None, tables: Callable[[int], PredTables]) -> None:
        self.index = index
        self.name = name
        self.graph = graph
        self.gt = gt
        self.n = gt.n
        self.indeg = gt.indeg
        self.is_sink = gt.is_sink
        #: Host seconds to issue each operator to each device (``PredTables.td``; no batch dependence).
        self.td = tables(1).td
        self.policy = policy
        self.arrivals = arrivals
        self.batching = batching
        self.deadline_s = deadline_s
        self.tables = tables
        self.external = isinstance(policy, ExternalPolicy)
        self.stream = RequestStream(tables)
        self.dispatcher: Dispatcher | None = None
        self.view: OpView | None = None

    @property
    def policy_name(self) -> str:
        """The policy's name, for results."""
        return policy_name(self.policy)


class _LaneFace:
    """What a co-run's :class:`OpView` reads of "the simulator": its own graph and progress, the
    run's clock, energy and hardware state (duck-typed like ``Simulator``)."""

    __slots__ = ("_sim", "_lane")

    def __init__(self, sim: Any, lane: Lane) -> None:
        self._sim = sim
        self._lane = lane

    @property
    def graph(self) -> OpGraph:
        return self._lane.graph

    @property
    def platform(self) -> Any:
        return self._sim.platform

    @property
    def now(self) -> float:
        return self._sim.now

    @property
    def n_in_system(self) -> int:
        return self._lane.stream.n_in_system

    @property
    def requests_done(self) -> int:
        return self._lane.stream.n_done

    @property
    def n_requests(self) -> int:
        return self._lane.arrivals.n_requests

    @property
    def energy_so_far(self) -> float:
        return self._sim.energy_so_far

    def hardware_state(self) -> Any:
        return self._sim.hardware_state()


def build_corun_lanes(sim: Any, coruns: Sequence[CoRun], used_names: set[str]) -> list[Lane]:
    """The lanes of ``coruns`` (streams 1, 2, …) on ``sim``'s platform, mode, precision and cache.

    Errors name the co-run: ``coruns[k].workload`` / ``.policy`` / ``.arrivals``."""
    from sparoa_sim.workloads import as_graph  # layer 3: imported where used, like the simulator does

    if isinstance(coruns, (str, bytes, CoRun)) or not isinstance(coruns, Sequence):
        raise SimulationError(f"coruns must be a list of CoRun values, got {coruns!r}")
    lanes = []
    primary_policy = sim.policy
    seen_policies: list[Any] = [primary_policy]
    for k, c in enumerate(coruns, start=1):
        where = f"coruns[{k - 1}]"
        if not isinstance(c, CoRun):
            raise SimulationError(f"{where} must be a CoRun, got {c!r}")
        try:
            graph = as_graph(c.workload)
        except SparOAError as exc:
            raise SimulationError(f"{where}.workload: {exc}") from None
        try:
            policy = make_policy(c.policy)
        except SparOAError as exc:
            raise SimulationError(f"{where}.policy: {exc}") from None
        if any(policy is p for p in seen_policies) and callable(getattr(policy, "reset", None)):
            raise SimulationError(f"{where}.policy: this policy object already serves another stream; give each "
                                  "stream its own (a policy keeps per-run state)")
        seen_policies.append(policy)
        batching = c.batching or Batching()
        name = c.name or graph.name
        if name in used_names:
            name = f"{name}#{k}"
        used_names.add(name)
        lanes.append(Lane(k, name, graph, sim.cache.graph(graph), policy, c.arrivals, batching, c.deadline_s,
                          _tables_of(sim, graph)))
    return lanes


def _tables_of(sim: Any, graph: OpGraph) -> Callable[[int], PredTables]:
    """Prediction tables of ``graph`` by batch size in the power mode ``sim`` has in force and its precision
    (cached)."""
    memo: dict[tuple[str, int], PredTables] = {}
    cache, platform, precision = sim.cache, sim.platform, sim.config.precision

    def tables(batch: int = 1) -> PredTables:
        mode = sim.mode_now
        t = memo.get((mode, batch))
        if t is None:
            t = memo[mode, batch] = cache.tables(graph, platform, batch, mode, precision)
        return t

    return tables


def retable_lanes(lanes: Sequence[Lane]) -> None:
    """Each lane's host launch costs (``Lane.td``, which new batches take) from its tables in the power mode in
    force now (``sim.powerswitch``)."""
    for lane in lanes:
        lane.td = lane.tables(1).td


class StreamGroup:
    """Every stream of a run, as one: finished when all are (``finished_ev`` fires then)."""

    def __init__(self, lanes: Sequence[Lane]) -> None:
        self._lanes = tuple(lanes)
        self._streams = tuple(lane.stream for lane in lanes)
        self.finished = False
        self.finished_ev: simpy.Event | None = None
        self._left = 0

    def reset(self, state: RunState) -> None:
        """A new run on ``state``: nothing finished."""
        self.finished = False
        self.finished_ev = state.env.event()
        self._left = len(self._streams)

    def stream_finished(self) -> None:
        """One stream's requests are all complete (its ``on_finish``)."""
        self._left -= 1
        if self._left == 0:
            self.finished = True
            self.finished_ev.succeed()

    @property
    def n_requests(self) -> int:
        """Requests of every stream."""
        return sum(s.n_requests for s in self._streams)

    @property
    def n_done(self) -> int:
        """Requests completed, every stream."""
        return sum(s.n_done for s in self._streams)

    @property
    def jobs_inflight(self) -> int:
        """Jobs started and not finished, every stream."""
        return sum(s.jobs_inflight for s in self._streams)


class Router:
    """In front of the streams' dispatchers: the shared ready queue, each operator to its own stream.

    It has the dispatcher's interface the other components call (``dispatch_ready``, ``issue``).
    An operator of the primary stream under the ``external`` policy is parked as the primary
    dispatcher's ``pending`` (until ``Simulator.submit``); the operators released before it are
    placed by their own policies first, in release order, as a synchronous run would.
    """

    def __init__(self, lanes: Sequence[Lane]) -> None:
        self._primary = lanes[0].dispatcher

    def reset(self, state: RunState, host: Any) -> None:
        """A new run: the shared ready queue and the host thread to settle."""
        self._ready = state.ready
        self._host = host

    @property
    def pending(self) -> Any:
        """The primary stream's operator parked for an external decision, or None."""
        return self._primary.pending

    def dispatch_ready(self) -> None:
        """Place every released operator with its own stream's policy (or park the primary's)."""
        primary = self._primary
        if primary.pending is not None:
            return
        ready = self._ready
        while ready:
            job, op = item = ready.popleft()
            lane = job.lane
            view = lane.view
            view.job_state = job
            view.op = op
            if lane.external:
                primary.pending = item
                return
            lane.dispatcher.place(job, op, lane.policy.decide(view))
        host = self._host
        if host.unsettled:
            host.settle()

    def issue(self, job: Any, op: int) -> None:
        """``op`` of ``job`` is issued: its stream's dispatcher releases the consumers."""
        job.lane.dispatcher.issue(job, op)


class LaneHost(HostThread):
    """The host dispatch thread when several graphs share it: each launch costs the host time of
    its own job's graph (``Job.td``), not the primary graph's. (A shim: ``HostThread`` reads one
    graph's ``td``; were it to read ``task.job.td`` itself, this class could go.)"""

    def submit(self, task: Any) -> None:
        self._td = task.job.td
        super().submit(task)

    def _next(self) -> None:
        q = self.queue
        if q:
            self._td = q[0].job.td
        super()._next()


def reset_corun_lanes(lanes: Sequence[Lane], *, state: RunState, seed: int | None, sim: Any, sigma: np.ndarray,
                      group: StreamGroup) -> list[np.random.SeedSequence]:
    """Reset the co-run lanes (policies, dispatchers, streams, views) for a new run on ``state``;
    returns each lane's arrivals substream, for starting its source once every lane is reset."""
    cfg = sim.config
    arrivals_ss = []
    for lane in lanes:
        noise_ss, arr_ss, pol_ss = corun_substreams(seed, lane.index)
        policy = lane.policy
        reset = getattr(policy, "reset", None)
        if callable(reset):
            reset(PolicyContext(graph=lane.graph, platform=sim.platform, mode=sim.mode, precision=cfg.precision,
                                reference=cfg.reference, rng=np.random.default_rng(pol_ss),
                                max_batch=lane.batching.max_batch))
        lane.dispatcher.reset(state, policy.decide, getattr(policy, "order", None), lane.gt)
        lane.stream.reset(state, lane.arrivals, lane.batching, noise_ss, sigma, lane, group.stream_finished)
        arrivals_ss.append(arr_ss)
    return arrivals_ss


def wire_lanes(sim: Any, lanes: Sequence[Lane], host: Any, executors: Any, transfers: Any) -> None:
    """Give each co-run lane its view (over a face of ``sim``) and dispatcher, connected to the shared components."""
    for lane in lanes:
        lane.view = OpView(_LaneFace(sim, lane), lane.gt)
        lane.dispatcher = Dispatcher(lane.view, False)
        lane.dispatcher.connect(host, executors, transfers)
