"""Copies between the devices: cross-device inputs, host I/O and split merges (docs/architecture.md §4.1).

A copy of an output to device ``d`` takes ``transfer_time`` of the output at the batch size
(``PredTables.xfer_s``). It starts as soon as both the output exists and a consumer on ``d``
needs it; an output copied once stays resident and serves every consumer there (residency
bits in ``Job.res``: 1 on the CPU, 2 on the GPU, 4 / 8 a copy to the CPU / GPU under way). The
request's input (index ``n``) starts on the CPU and the outputs must end there (``host_io``):
a GPU source waits for the input's copy, and a GPU sink's job finishes when its output is back.

A split operator (GPU share strictly between 0 and 1, only where the operator has a split axis)
runs its two parts concurrently, one per device (see ``PredTables.split``), then the part on the
*minor* device (the smaller share) copies its share of the output to the *home* device (the
larger share; the GPU on a tie): that merge copy is the split's extra cost, and the output then
lives on the home device. Copies run concurrently with each other and with the devices.
"""

from __future__ import annotations

from heapq import heappush
from typing import Any

from simpy.events import NORMAL

from sparoa_sim.sim.entities import CPU, GPU, CopyTimer, Job, MergeTimer, Split, new_instance
from sparoa_sim.sim.predtables import PredTables
from sparoa_sim.sim.state import RunState

__all__ = ["Transfers"]


class Transfers:
    """Copies in flight and their totals (count, bytes, busy seconds, joules)."""

    def __init__(self) -> None:
        self.inflight = 0
        self._copy_cbs = (self._copy_end,)  # the timers' callbacks, built once
        self._merge_cbs = (self._merge_end,)

    def connect(self, dispatcher: Any, executors: Any) -> None:
        """Who hears of a finished copy: the dispatcher (or the streams' router), the executors
        (waiters, splits); a job whose last output is home reports to its stream (``job.lane.stream``)."""
        self._dispatcher = dispatcher
        self._executors = executors

    def reset(self, state: RunState) -> None:
        """No copies, for a new run on ``state``."""
        self._env = state.env
        self._queue = state.queue
        self._eid = state.eid
        self._ready = state.ready
        self._trace = state.trace
        self._host_io = state.host_io
        #: Copies made (merges included), bytes copied, seconds of copying, joules.
        self.count = 0
        self.bytes = 0.0
        self.busy_s = 0.0
        self.energy = 0.0
        #: Copies under way.
        self.inflight = 0

    def _count(self, t: PredTables, dur: float, nbytes: float, dst: int) -> None:
        self.count += 1
        self.bytes += nbytes
        self.busy_s += dur
        self.energy += t.eps_byte[dst] * nbytes
        self.inflight += 1

    def start(self, job: Job, src: int, d: int) -> None:
        """Copy output ``src`` (``n`` = the request's input) of ``job`` to device ``d``."""
        t = job.tables
        job.res[src] |= 4 << d
        dur = t.xfer_s[src]
        nbytes = t.xfer_bytes[src]
        self.count += 1  # as _count, written out (one copy per cross-device edge: the hot path)
        self.bytes += nbytes
        self.busy_s += dur
        self.energy += t.eps_byte[d] * nbytes
        self.inflight += 1
        t0 = self._env._now
        ev = new_instance(CopyTimer)
        ev.callbacks = self._copy_cbs
        ev.job = job
        ev.src = src
        ev.dev = d
        ev.t0 = t0
        heappush(self._queue, (t0 + dur, NORMAL, next(self._eid), ev))  # = env.schedule(ev, NORMAL, dur)

    def _copy_end(self, ev: CopyTimer) -> None:
        """A copy has arrived: the output is resident on ``ev.dev``; wake the tasks waiting for it."""
        job = ev.job
        src = ev.src
        d = ev.dev
        t0 = ev.t0
        self.inflight -= 1
        res = job.res
        res[src] = (res[src] | (1 << d)) & ~(4 << d)
        if self._trace is not None:
            self._trace.append((3, 2, src, job.seq, t0, self._env._now, job.tables.xfer_bytes[src], d))
        lst = job.waiters.pop(2 * src + d, None)
        if lst:
            self._executors.notify(lst)
        sink = job.sink
        if d == CPU and src < len(sink) and sink[src] and self._host_io:
            job.left -= 1
            if job.left == 0:
                job.lane.stream.job_done(job)
        if self._ready:
            self._dispatcher.dispatch_ready()

    def start_merge(self, sp: Split, src: int) -> None:
        """The part of split ``sp`` on device ``src`` (the minor one) copies its share home."""
        job = sp.job
        t = job.tables
        minor = sp.share if src == GPU else 1.0 - sp.share
        dur, nbytes = t.merge_s(sp.op, minor)
        self._count(t, dur, nbytes, sp.home)
        t0 = self._env._now
        ev = new_instance(MergeTimer)
        ev.callbacks = self._merge_cbs
        ev.split = sp
        ev.t0 = t0
        ev.nbytes = nbytes
        heappush(self._queue, (t0 + dur, NORMAL, next(self._eid), ev))

    def _merge_end(self, ev: MergeTimer) -> None:
        """A split's merge copy has arrived home."""
        sp = ev.split
        t0 = ev.t0
        nbytes = ev.nbytes
        self.inflight -= 1
        if self._trace is not None:
            self._trace.append((3, 3, sp.op, sp.job.seq, t0, self._env._now, nbytes, sp.home))
        sp.left -= 1
        if sp.left == 0:
            self._executors.op_done(sp.job, sp.op, sp.home)
        if self._ready:
            self._dispatcher.dispatch_ready()
