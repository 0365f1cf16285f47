"""The device executors: one in-order queue per device, and what a finished operator releases
(docs/architecture.md §4.1).

A launched task joins its device's queue; the head starts once its inputs are on the device
(``Task.waits`` reaches 0) and the device is free, and the CPU and the GPU run concurrently. A
GPU operator whose producers are GPU operators launched earlier need not wait for them
explicitly — the stream is in order — and a whole GPU operator is *issued* (its consumers may be
released) as soon as it is launched. A task's duration is its base (predicted) time times its
noise factor, at the current rates (``sim.rates``); when rates change, :meth:`Executors.retime`
re-times the running task from its remaining fraction and schedules a new end event, and the
superseded one is recognised as stale and ignored.

When an operator's output exists on a device, the tasks waiting for it there are woken, a copy
to the other device starts if a consumer there waits for it, its consumers are issued (if not
already), a GPU sink's output is copied back to the host (``host_io``), and the job finishes
with its last operator. A split operator's part reports to its ``Split``; the part on the minor
device then copies its share of the output to the home device (``sim.transfers``).
"""

from __future__ import annotations

from collections import deque
from heapq import heappush
from typing import Any

from simpy.events import NORMAL

from sparoa_sim.sim.entities import CPU, GPU, EndTimer, Job, Task, new_instance
from sparoa_sim.sim.state import RunState

__all__ = ["Executors"]


class Executors:
    """Both devices' queues, running tasks and end events, and their busy time and energy."""

    def __init__(self) -> None:
        #: An end timer's callbacks (bound once): the task's end; the timer carries its device (``EndTimer.dev``).
        self._end_cbs = (self._on_end,)
        self.running: list[Task | None] = [None, None]

    def connect(self, dispatcher: Any, rates: Any, transfers: Any) -> None:
        """The components a finished operator reports to: the dispatcher (or, with co-running
        streams, the router in front of each stream's dispatcher), rates and transfers; a finished
        job reports to its own request stream (``job.lane.stream``)."""
        self._dispatcher = dispatcher
        self._rates = rates
        self._transfers = transfers

    def reset(self, state: RunState) -> None:
        """Idle devices with empty queues, for a new run on ``state``."""
        self._env = state.env
        self._queue = state.queue
        self._eid = state.eid
        self._ready = state.ready
        self._backlog = state.backlog
        self._load = state.load
        self._trace = state.trace
        self._host_io = state.host_io
        self._dynamic = state.dynamic
        self._contention = state.contention
        #: Per device: launched tasks not yet started, the running task, its end event.
        self.queue: tuple[deque[Task], deque[Task]] = (deque(), deque())
        self.running = [None, None]
        self.end_ev: list[EndTimer | None] = [None, None]
        self._at_load: list[tuple[Any, float, list[float] | None]] = [(None, -1.0, None), (None, -1.0, None)]
        #: Per device: seconds busy, joules spent by finished operators.
        self.busy = [0.0, 0.0]
        self.energy = [0.0, 0.0]

    def launched(self, task: Task) -> None:
        """``task`` is launched: it joins its device's queue (and starts if it can)."""
        d = task.dev
        q = self.queue[d]
        q.append(task)
        if d == GPU and task.part is None:  # issued: Dispatcher.issue(job, op), written out (once per GPU operator)
            job = task.job
            un = job.unissued
            for c in job.cons[task.op]:
                k = un[c] - 1
                un[c] = k
                if k == 0:
                    self._ready.append((job, c))
        if self.running[d] is None and not q[0].waits:
            self._start(d, q.popleft())

    def _start(self, d: int, task: Task) -> None:
        job = task.job
        z = 1.0 if job.z is None else job.z[2 * task.op + d]
        self.running[d] = task
        if self._dynamic:
            rates = self._rates
            if self._contention and self.running[1 - d] is not None:
                rates.update_contention(d)
            load = self._load[d]
            if rates.contention != 1.0 or task.part is not None:
                dur = z * rates.duration(task, d)
            elif load == 0.0:
                dur = z * task.base
            else:  # Rates.duration's value at a background load without contention, read directly
                at = self._at_load[d]  # (tables, load, their latencies at that load), the last asked for
                if at[0] is not job.tables or at[1] != load:
                    at = self._at_load[d] = (job.tables, load, job.tables.at_load(d, load))
                dur = z * at[2][task.op]
        else:
            dur = z * task.base
        now = self._env._now
        task.z = z
        task.t0 = now
        task.t_seg = now
        task.frac = 1.0
        task.dur = dur
        ev = new_instance(EndTimer)
        ev.callbacks = self._end_cbs
        ev.dev = d
        heappush(self._queue, (now + dur, NORMAL, next(self._eid), ev))  # = env.schedule(ev, NORMAL, dur)
        self.end_ev[d] = ev

    def retime(self, d: int) -> None:
        """Re-time the running task of device ``d`` at the current rates (remaining fraction)."""
        task = self.running[d]
        if task is None:
            return
        now = self._env._now
        frac = task.frac
        if task.dur > 0.0:
            frac -= (now - task.t_seg) / task.dur
            if frac < 0.0:
                frac = 0.0
        new = task.z * self._rates.duration(task, d)
        task.frac = frac
        task.t_seg = now
        task.dur = new
        ev = new_instance(EndTimer)
        ev.callbacks = self._end_cbs
        ev.dev = d
        heappush(self._queue, (now + frac * new, NORMAL, next(self._eid), ev))
        self.end_ev[d] = ev

    def _on_end(self, ev: EndTimer) -> None:
        """The running task of device ``ev.dev`` ends, unless ``ev`` was superseded by a re-timing."""
        d = ev.dev
        if ev is not self.end_ev[d]:
            return  # stale: the task was re-timed and ends at another event
        task = self.running[d]
        self.running[d] = None
        self.end_ev[d] = None
        now = self._env._now
        t0 = task.t0
        busy = now - t0
        self.busy[d] += busy
        job = task.job
        op = task.op
        part = task.part
        t = job.tables
        self.energy[d] += (t.e_dyn[d][op] if part is None else part.e_dyn) + t.p_static[d] * busy
        self._backlog[d] -= task.base
        if self._trace is not None:
            self._trace.append((d, 0, op, job.seq, t0, now, job.share[op], 0))
        if self._contention and self._rates.contention != 1.0:
            self._rates.update_contention(d)  # the other device now runs alone
        if part is None:  # op_done(job, op, d), written out (once per operator: the hot path)
            job.res[op] |= 1 << d
            job.done += 1
            w = job.waiters
            if w:
                lst = w.pop(2 * op + d, None)
                if lst:
                    self.notify(lst)
                if 2 * op + 1 - d in w:
                    self._transfers.start(job, op, 1 - d)
            if job.share[op] != 1.0:
                self._dispatcher.issue(job, op)
            if d == GPU and job.sink[op] and self._host_io:
                self._transfers.start(job, op, CPU)  # the output goes back to the host; finishes there
            else:
                job.left -= 1
                if job.left == 0:
                    job.lane.stream.job_done(job)
        else:
            self._part_done(task)
        q = self.queue[d]
        if q and not q[0].waits and self.running[d] is None:
            self._start(d, q.popleft())
        if self._ready:
            self._dispatcher.dispatch_ready()

    def op_done(self, job: Job, op: int, home: int) -> None:
        """The output of ``op`` exists on ``home``: wake waiters, issue consumers, finish the job."""
        job.res[op] |= 1 << home
        job.done += 1
        w = job.waiters
        if w:
            lst = w.pop(2 * op + home, None)
            if lst:
                self.notify(lst)
            if 2 * op + 1 - home in w:
                self._transfers.start(job, op, 1 - home)
        if job.share[op] != 1.0:
            self._dispatcher.issue(job, op)
        if home == GPU and job.sink[op] and self._host_io:
            self._transfers.start(job, op, CPU)  # the output goes back to the host; finishes there
            return
        job.left -= 1
        if job.left == 0:
            job.lane.stream.job_done(job)

    def notify(self, tasks: list[Task]) -> None:
        """One input of each of ``tasks`` has arrived: start those now ready on a free device."""
        running = self.running
        for task in tasks:
            task.waits -= 1
            if task.waits == 0:
                dv = task.dev
                if running[dv] is None:  # a free device starts its queue's head if that is ready
                    q = self.queue[dv]
                    if q and not q[0].waits:
                        self._start(dv, q.popleft())

    def _part_done(self, task: Task) -> None:
        sp = task.split
        sp.left -= 1
        if task.dev != sp.home:
            self._transfers.start_merge(sp, task.dev)
        if sp.left == 0:
            self.op_done(sp.job, sp.op, sp.home)
