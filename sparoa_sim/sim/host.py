"""The host dispatch thread: kernel launches, one at a time (docs/architecture.md §4.1).

A serial resource: issuing operator ``i`` to device ``d`` costs ``td[d][i] = t_dispatch[d] ·
max(1, kernels[i])`` seconds of host time (every kernel eager PyTorch launches, at least one
call for a view; on the shipped profiles only GPU launches cost any), in submission order. While it
launches it occupies one of the CPU's cores: with dispatch interference on, a running CPU
operator is re-timed at load share ``1/cores`` whenever the thread starts or stops being busy
(``sim.rates``). A launched operator joins its device's queue (``sim.executors``).

When a launch ends while decisions are due at the same instant, the thread stays busy until the
dispatcher has taken them (it *settles* the thread as its last step), so the next launch still
comes from the head of the queue, whatever those decisions add to it.
"""

from __future__ import annotations

from collections import deque
from heapq import heappush
from typing import Any

from simpy.events import NORMAL

from sparoa_sim.sim.entities import CPU, Task, Timer, new_instance
from sparoa_sim.sim.state import RunState

__all__ = ["HostThread"]


class HostThread:
    """The host's launch queue and its one launch in progress (reset per run)."""

    def __init__(self) -> None:
        self._end_cbs = (self._end,)  # a launch timer's callbacks, bound once (no allocation per launch)
        # one launch is in flight at a time, so one timer serves every launch (its entry is popped before
        # the next is pushed; callbacks set at each push, as EventLoop.step clears them)
        self._timer = new_instance(Timer)
        self.task: Task | None = None
        self.busy = False
        self.unsettled = False
        self.busy_s = 0.0
        self.backlog = 0.0

    def connect(self, dispatcher: Any, executors: Any, rates: Any) -> None:
        """The dispatcher to call after a launch, the executors launched tasks go to, the rates it loads."""
        self._dispatcher = dispatcher
        self._executors = executors
        self._rates = rates

    def reset(self, state: RunState) -> None:
        """An idle thread with an empty queue, for a new run on ``state``."""
        self._env = state.env
        self._queue = state.queue
        self._eid = state.eid
        self._td = state.td
        self._interf = state.interference
        self._ready = state.ready
        self._trace = state.trace
        #: Tasks waiting for a launch, in submission order.
        self.queue: deque[Task] = deque()
        #: The task being launched, or None.
        self.task = None
        self._t0 = 0.0
        #: Host seconds of the launch in progress (its operator's ``td``).
        self._task_td = 0.0
        #: The thread is launching now (its CPU core is taken).
        self.busy = False
        #: A launch ended with decisions due at the same instant: the dispatcher settles the thread.
        self.unsettled = False
        #: Seconds spent launching; predicted seconds of launches queued or in progress.
        self.busy_s = 0.0
        self.backlog = 0.0

    def submit(self, task: Task) -> None:
        """Queue ``task`` for its launch (launched at once when the thread is idle)."""
        td = self._td[task.dev][task.op]
        self.backlog += td
        if self.task is not None or self.queue:
            self.queue.append(task)
            if self.task is None:
                self._next()
            return
        # idle host, empty queue: launch at once
        self.task = task
        self._task_td = td
        self.unsettled = False
        if not self.busy:
            self.busy = True
            if self._interf:
                self._rates.refresh_load(CPU)
        now = self._t0 = self._env._now
        ev = self._timer
        ev.callbacks = self._end_cbs
        heappush(self._queue, (now + td, NORMAL, next(self._eid), ev))  # = env.schedule(ev, NORMAL, td)

    def _next(self) -> None:
        """Launch the head of the queue, or let the thread go idle (callers ensure no decision
        is due at this instant: see ``_end``)."""
        q = self.queue
        if q:
            task = q.popleft()
            self.task = task
            self.unsettled = False
            if not self.busy:
                self.busy = True
                if self._interf:
                    self._rates.refresh_load(CPU)
            now = self._t0 = self._env._now
            td = self._td[task.dev][task.op]
            self._task_td = td
            ev = self._timer
            ev.callbacks = self._end_cbs
            heappush(self._queue, (now + td, NORMAL, next(self._eid), ev))
            return
        self.task = None
        if self.busy:
            self.busy = False
            if self._interf:
                self._rates.refresh_load(CPU)

    def settle(self) -> None:
        """The decisions due when the last launch ended are taken: launch the next one (or idle)."""
        self.unsettled = False
        if self.task is None:
            self._next()

    def _end(self, ev: Timer) -> None:
        task = self.task
        now = self._env._now
        self.busy_s += now - self._t0
        self.backlog -= self._task_td
        if self._trace is not None:
            self._trace.append((2, 1, task.op, task.job.seq, self._t0, now, task.dev, 0))
        self._executors.launched(task)
        if self._ready:
            # Decisions at this instant may launch more: the host stays busy until they are taken
            # (the dispatcher settles it), and the next launch still comes from the queue's head.
            self.task = None
            self.unsettled = True
            self._dispatcher.dispatch_ready()
        else:
            self._next()
