"""What a placement policy sees of one ready operator (docs/architecture.md §4): :class:`OpView`.

One view object per simulator is reused for every decision and computes each field when it is
read, so a policy that looks at nothing (CPU-only) costs nothing and one that looks at
everything (the Gymnasium observation) pays only for that. A view is valid during ``decide``
(or, stepping externally, until ``submit``); keep :meth:`OpView.snapshot` if you need it later.

Fields: the operator (index, name, kind, FLOPs, bytes, intensity, sparsities, splittable), the
batch it runs at, both devices' backlog (predicted seconds queued or running), where its inputs
live (bytes already on the CPU / on the GPU) and how long bringing the missing ones would take,
its predicted latency on each device under the current hardware state, the hardware state
(power mode, precision, background load, host dispatch, contention) and progress (operators of
this batch done, request index, time, requests in the system, energy so far).
"""

from __future__ import annotations

from typing import Any

from sparoa_sim.hwmodels.kinds import KINDS
from sparoa_sim.sim.hwstate import HardwareState
from sparoa_sim.sim.predtables import GraphTables
from sparoa_sim.sim.state import RunState

__all__ = ["OpView", "input_residency"]


def input_residency(inputs: tuple[int, ...], res: list[int], share: list[float], xfer_bytes: list[float],
                    xfer_s: list[float]) -> tuple[float, float, float, float]:
    """``(*input_bytes, *transfer_in)`` of an operator reading the outputs ``inputs`` of a job with residency bits
    ``res`` and GPU shares ``share`` (``Job.res``, ``Job.share``): the bytes on (or to be made on) the CPU and the
    GPU, and the longest copy each device would wait for — in one pass, the same sums in the same order as the
    properties (:meth:`OpView.decision_state`, and the environment's observation, read it)."""
    on_c = on_g = xc = xg = 0.0
    for p in inputs:
        r = res[p]
        if not r & 3:  # placed, not yet made: the device it will be made on (a split's home)
            s = share[p]
            if s >= 0.0:
                r |= 2 if s >= 0.5 else 1
        x = xfer_s[p]
        if r & 1:
            on_c += xfer_bytes[p]
        elif x > xc:
            xc = x
        if r & 2:
            on_g += xfer_bytes[p]
        elif x > xg:
            xg = x
    return on_c, on_g, xc, xg


class OpView:
    """The ready operator a policy decides on; fields are computed when read (see module doc).

    It reads the run through public accessors only: the graph's tables, the run state (backlog,
    effective load, ready queue), the host thread (busy, backlog), the rates (background load,
    contention) and the simulator's progress properties (``now``, ``n_in_system``…), which it
    takes duck-typed — the view does not import the simulator.
    """

    __slots__ = ("_sim", "_gt", "_state", "_host", "_rates", "job_state", "op", "_at", "bound")

    def __init__(self, sim: Any, gt: GraphTables) -> None:
        self._sim = sim
        self._gt = gt
        self._state: Any = None
        self._host: Any = None
        self._rates: Any = None
        #: The batch (a ``sim.entities.Job``) the operator belongs to; set by the dispatcher.
        self.job_state: Any = None
        #: Index of the operator in the graph (topological order).
        self.op: int = -1
        # per device: (tables, load, their latencies at that load), the last list decision_state read
        self._at: list[tuple[Any, float, Any]] = [(None, -1.0, None), (None, -1.0, None)]
        #: What the view reads of the run it is bound to, ``(run state, host thread, rates)`` (a new tuple at
        #: each :meth:`bind`; None before the first): a reader that keeps its own references to them (the
        #: environment's observation builder) checks it by identity to know when to take them afresh.
        self.bound: tuple[RunState, Any, Any] | None = None

    def bind(self, state: RunState, host: Any, rates: Any) -> None:
        """Read a new run: its state, host dispatch thread and rates (called at each reset)."""
        self._state = state
        self._host = host
        self._rates = rates
        self.bound = (state, host, rates)

    # -- the operator ---------------------------------------------------------------------
    @property
    def graph(self):
        """The workload graph (an :class:`~sparoa_sim.ir.graph.OpGraph`)."""
        return self._sim.graph

    @property
    def platform(self):
        """The hardware profile."""
        return self._sim.platform

    @property
    def name(self) -> str:
        """Operator name."""
        return self._gt.names[self.op]

    @property
    def kind(self) -> int:
        """Kind code (``hwmodels.KINDS[code]``)."""
        return int(self._sim.graph.arrays.kind[self.op])

    @property
    def kind_name(self) -> str:
        """Kind as its string (``"conv"``…)."""
        return KINDS[self.kind].value

    def _arr(self, field: str) -> float:
        return float(getattr(self._sim.graph.arrays, field)[self.op])

    @property
    def flops(self) -> float:
        """FLOPs per sample."""
        return self._arr("flops")

    @property
    def macs(self) -> float:
        """Multiply-accumulates per sample."""
        return self._arr("macs")

    @property
    def bytes_in(self) -> float:
        """Activation bytes read per sample."""
        return self._arr("bytes_in")

    @property
    def bytes_out(self) -> float:
        """Activation bytes written per sample."""
        return self._arr("bytes_out")

    @property
    def bytes_w(self) -> float:
        """Parameter bytes."""
        return self._arr("bytes_w")

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOPs per byte moved."""
        return self._arr("intensity")

    @property
    def act_sparsity(self) -> float:
        """Fraction of zeros in the input activations."""
        return self._arr("act_sparsity")

    @property
    def w_sparsity(self) -> float:
        """Fraction of zeros in the weights."""
        return self._arr("w_sparsity")

    @property
    def splittable(self) -> bool:
        """Whether the operator has a split axis (GPU shares strictly inside (0, 1) allowed)."""
        return self._gt.splittable[self.op]

    @property
    def batch(self) -> int:
        """Samples in the batch this operator runs for."""
        return self.job_state.tables.batch

    # -- devices -------------------------------------------------------------------------
    @property
    def backlog(self) -> tuple[float, float]:
        """(cpu, gpu) predicted seconds of work queued or running on each device."""
        b = self._state.backlog
        return (max(b[0], 0.0), max(b[1], 0.0))

    @property
    def host_backlog(self) -> float:
        """Predicted seconds of kernel launches queued on the host dispatch thread (each operator's
        ``t_dispatch[d] · max(1, kernels)``), the one in progress included."""
        return max(self._host.backlog, 0.0)

    def _inputs(self) -> list[int]:
        """Producers of this operator; a source reads the request's input (index n), which
        matters only where the input must be copied from the host (``host_io``)."""
        gt = self._gt
        deps = gt.deps[self.op]
        if deps:
            return list(deps)
        return [gt.n] if self._state.host_io else []

    def _bound(self, p: int) -> int:
        """Residency bits of producer ``p``'s value (1: CPU, 2: GPU): where it is, or — placed but
        not yet made — the device it will be made on (a split's home: the GPU on a tie)."""
        job = self.job_state
        r = job.res[p]
        if r & 3:
            return r
        s = job.share[p]
        return r if s < 0.0 else r | (2 if s >= 0.5 else 1)

    @property
    def input_bytes(self) -> tuple[float, float]:
        """(on cpu, on gpu): bytes of this operator's inputs resident on each device, or to be made
        there by a producer already placed."""
        xb = self.job_state.tables.xfer_bytes
        on = [0.0, 0.0]
        for p in self._inputs():
            r = self._bound(p)
            if r & 1:
                on[0] += xb[p]
            if r & 2:
                on[1] += xb[p]
        return (on[0], on[1])

    @property
    def input_total_bytes(self) -> float:
        """Bytes of all of this operator's inputs at its batch."""
        xb = self.job_state.tables.xfer_bytes
        return float(sum(xb[p] for p in self._inputs()))

    @property
    def transfer_in(self) -> tuple[float, float]:
        """(to cpu, to gpu): seconds to bring the inputs that are not (and will not be made) on each
        device (the longest copy)."""
        xs = self.job_state.tables.xfer_s
        out = [0.0, 0.0]
        for p in self._inputs():
            r = self._bound(p)
            for d in (0, 1):
                if not r & (1 << d) and xs[p] > out[d]:
                    out[d] = xs[p]
        return (out[0], out[1])

    @property
    def pred_latency(self) -> tuple[float, float]:
        """(cpu, gpu) predicted latency under the current load (no contention, no noise)."""
        t = self.job_state.tables
        load = self._state.load
        return (t.duration(0, self.op, load[0], 1.0), t.duration(1, self.op, load[1], 1.0))

    @property
    def pred_latency_idle(self) -> tuple[float, float]:
        """(cpu, gpu) predicted latency on an idle machine (the reference-setting figures)."""
        t = self.job_state.tables
        return (t.lat[0][self.op], t.lat[1][self.op])

    @property
    def t_dispatch(self) -> tuple[float, float]:
        """(cpu, gpu) host time to issue the operator to each device (not inside latency):
        ``t_dispatch[d] · max(1, kernels)`` (docs/architecture.md §4.1)."""
        td = self.job_state.tables.td
        op = self.op
        return (td[0][op], td[1][op])

    def decision_state(self) -> tuple[float, float, float, float, float, float, float, float, float, bool, float,
                                      float, int]:
        """The per-decision fields an observation reads, in one pass: ``(*pred_latency, *backlog, host_backlog,
        *input_bytes, *transfer_in, host_busy, contention, progress, n_ready)``, each value equal to what its
        property returns (the environment's observation builder reads the same values through :attr:`bound`,
        without the tuple)."""
        job = self.job_state
        t = job.tables
        op = self.op
        state = self._state
        load = state.load
        at = self._at  # t.at_load(d, load)[op], without the call while the load holds (it takes few values)
        ld = load[0]
        a = at[0]
        pc = t.lat[0][op] if ld == 0.0 else (a[2] if a[0] is t and a[1] == ld else self._at_load(0, t, ld))[op]
        ld = load[1]
        a = at[1]
        pg = t.lat[1][op] if ld == 0.0 else (a[2] if a[0] is t and a[1] == ld else self._at_load(1, t, ld))[op]
        gt = self._gt
        deps = gt.deps[op]
        if not deps:
            deps = (gt.n,) if state.host_io else ()
        on_c, on_g, xc, xg = input_residency(deps, job.res, job.share, t.xfer_bytes, t.xfer_s)
        b = state.backlog
        host = self._host
        hb = host.backlog
        b0 = b[0]
        b1 = b[1]
        return (pc, pg, 0.0 if 0.0 > b0 else b0, 0.0 if 0.0 > b1 else b1, 0.0 if 0.0 > hb else hb,  # = max(x, 0.0)
                on_c, on_g, xc, xg, host.busy, self._rates.contention, job.placed / gt.n, len(state.ready))

    def _at_load(self, d: int, t: Any, load: float) -> list[float]:
        """``t.at_load(d, load)``, kept as the last list device ``d`` read (see :meth:`decision_state`)."""
        lat = t.at_load(d, load)
        self._at[d] = (t, load, lat)
        return lat

    # -- hardware state and progress -------------------------------------------------------
    @property
    def hw(self) -> HardwareState:
        """Snapshot of the hardware state."""
        return self._sim.hardware_state()

    @property
    def host_busy(self) -> bool:
        """The host dispatch thread is launching a kernel now (cheap: no snapshot built)."""
        return self._host.busy

    @property
    def contention(self) -> float:
        """DRAM bandwidth factor in force now, 1 = none (cheap: no snapshot built)."""
        return self._rates.contention

    @property
    def load(self) -> tuple[float, float]:
        """(cpu, gpu) background load shares now."""
        bg = self._rates.bg
        return (bg[0], bg[1])

    @property
    def mode(self) -> str:
        """Power mode name."""
        return self.job_state.tables.mode

    @property
    def precision(self) -> str:
        """Simulated precision."""
        return self.job_state.tables.precision

    @property
    def now(self) -> float:
        """Simulation time, s."""
        return self._sim.now

    @property
    def job(self) -> int:
        """Index of the batch (job) this operator belongs to, in its stream's start order."""
        return self.job_state.nth

    @property
    def request(self) -> int:
        """Index of the first request of the batch."""
        return self.job_state.requests[0]

    @property
    def ops_done(self) -> int:
        """Operators of this batch finished so far."""
        return self.job_state.done

    @property
    def n_ops(self) -> int:
        """Operators in the graph."""
        return self._gt.n

    @property
    def decided(self) -> int:
        """Operators of this batch already placed (this one excluded)."""
        return self.job_state.placed

    @property
    def progress(self) -> float:
        """Fraction of this batch's operators placed before this one."""
        return self.job_state.placed / self._gt.n

    @property
    def n_ready(self) -> int:
        """Operators (of any batch) waiting for a decision besides this one."""
        return len(self._state.ready)

    @property
    def n_in_system(self) -> int:
        """Requests arrived and not yet complete."""
        return self._sim.n_in_system

    @property
    def requests_done(self) -> int:
        """Requests completed so far."""
        return self._sim.requests_done

    @property
    def n_requests(self) -> int:
        """Requests in the whole run."""
        return self._sim.n_requests

    @property
    def energy_so_far(self) -> float:
        """Joules spent so far (finished operators and copies plus idle power)."""
        return self._sim.energy_so_far

    def snapshot(self) -> dict[str, Any]:
        """Every field as plain JSON-able values (for logging or keeping past ``decide``)."""
        out: dict[str, Any] = {}
        for name in ("op", "name", "kind", "kind_name", "flops", "macs", "bytes_in", "bytes_out", "bytes_w",
                     "intensity", "act_sparsity", "w_sparsity", "splittable", "batch", "backlog", "host_backlog",
                     "input_bytes", "input_total_bytes", "transfer_in", "pred_latency", "pred_latency_idle",
                     "t_dispatch", "load", "mode", "precision", "now", "job", "request", "ops_done", "n_ops",
                     "decided", "progress", "n_ready", "n_in_system", "requests_done", "n_requests",
                     "energy_so_far"):
            v = getattr(self, name)
            out[name] = list(v) if isinstance(v, tuple) else v
        out["hw"] = self.hw.to_dict()
        return out

    def __repr__(self) -> str:
        if self.job_state is None:
            return "OpView(<no decision pending>)"
        return f"OpView(op={self.op} {self.name!r}, job={self.job}, now={self.now:.6g})"
