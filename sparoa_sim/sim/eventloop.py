"""The engine's SimPy environment: SimPy's own event loop, written out for speed (docs/architecture.md §4.1).

:class:`EventLoop` is a ``simpy.Environment`` whose ``run`` processes events in a loop of its own
instead of calling ``step()`` once per event, and whose heap and event counter are public
(``queue``, ``eid``) so the engine's components schedule their timers with one ``heappush`` —
the entry ``(now + delay, NORMAL, next(eid), timer)`` that ``Environment.schedule`` would push.
The order of events, the handling of failed events and of ``StopSimulation`` are SimPy 4's,
line for line (``Environment.step``), so a run gives the same events in the same order, bit for
bit; SimPy processes, timeouts and conditions work unchanged.
"""

from __future__ import annotations

from heapq import heappop
from typing import Any

import simpy
from simpy.core import EmptySchedule, StopSimulation
from simpy.events import URGENT, Event, EventPriority

__all__ = ["EventLoop"]


class EventLoop(simpy.Environment):
    """A ``simpy.Environment`` with an inlined event loop and a public heap (see module doc)."""

    def __init__(self) -> None:
        super().__init__()
        #: The event heap and the event counter (the same objects as SimPy's own).
        self.queue = self._queue
        self.eid = self._eid

    def _process(self, event: Any) -> None:
        """Run the callbacks of ``event`` just popped (``Environment.step`` after the pop)."""
        callbacks, event.callbacks = event.callbacks, None
        try:
            for callback in callbacks:
                callback(event)
        except StopSimulation:
            # as SimPy: reassociate the remaining callbacks and resume with them later
            event.callbacks = callbacks[callbacks.index(callback) + 1:]
            self.schedule(event, EventPriority(-1))
            raise
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc

    def step(self) -> None:
        """Process the next event (``EmptySchedule`` when there is none)."""
        try:
            self._now, _, _, event = heappop(self._queue)
        except IndexError:
            raise EmptySchedule from None
        self._process(event)  # one event at a time: the loops below have the fast path

    def step_until_pending(self, owner: Any, finish: Any) -> None:
        """Process events, exactly as repeated :meth:`step` calls, until ``owner.pending`` is set or
        ``finish.finished`` (an external decision is due, or the run is over): one loop, no call per
        event. ``EmptySchedule`` when the heap runs dry first."""
        queue = self._queue
        while owner.pending is None and not finish.finished:
            if not queue:
                raise EmptySchedule
            self._now, _, _, event = heappop(queue)
            callbacks = event.callbacks
            if type(callbacks) is not tuple:  # an engine timer's callbacks stay as they are: see run()
                if len(callbacks) != 1 or not event._ok:
                    self._process(event)
                    continue
                event.callbacks = None
            try:
                callbacks[0](event)
            except StopSimulation:
                event.callbacks = []
                self.schedule(event, EventPriority(-1))
                raise

    def run(self, until: Any = None) -> Any:
        """As ``simpy.Environment.run``, with the loop over events written out."""
        if until is not None:
            if not isinstance(until, Event):
                at = until if isinstance(until, int) else float(until)
                if at <= self.now:
                    raise ValueError(f"until ({at}) must be greater than the current simulation time")
                until = Event(self)
                until._ok = True
                until._value = None
                self.schedule(until, URGENT, at - self.now)
            elif until.callbacks is None:
                return until.value
            until.callbacks.append(StopSimulation.callback)
        queue = self._queue
        event = None
        try:
            while queue:
                self._now, _, _, event = heappop(queue)
                callbacks = event.callbacks
                # the common case: one callback, a successful event — an engine timer (its callbacks a
                # tuple: sim.entities.Timer, which nothing reads after it fires, so its callbacks are left
                # as they are: no store per event), or a SimPy event with one callback
                if type(callbacks) is tuple:
                    callbacks[0](event)
                elif len(callbacks) == 1 and event._ok:
                    event.callbacks = None
                    callbacks[0](event)
                else:
                    self._process(event)
        except StopSimulation as exc:
            if event is not None and (event.callbacks is None or type(event.callbacks) is tuple):
                # raised by the lone callback of the fast path: as SimPy, the event resumes later with
                # the callbacks after it (none)
                event.callbacks = []
                self.schedule(event, EventPriority(-1))
            return exc.args[0]
        if until is not None:
            assert not until.triggered
            raise RuntimeError(f'No scheduled events left but "until" event was not triggered: {until}')
        return None
