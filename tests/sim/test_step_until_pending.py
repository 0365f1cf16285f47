"""``EventLoop.step_until_pending`` (the env's run to the next decision) is repeated ``step()``, exactly."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from simpy.core import EmptySchedule

from sparoa_sim.sim.eventloop import EventLoop

_plans = st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["log", "decide", "finish", "spawn"])),
                  min_size=1, max_size=25)


def _drive(plan, fast: bool):
    """Timers at the plan's times; 'decide' parks a decision, 'finish' ends the run, 'spawn' schedules
    another timer; run to each decision (clearing it) until finished or the heap runs dry."""
    env = EventLoop()
    owner = SimpleNamespace(pending=None)
    finish = SimpleNamespace(finished=False)
    log = []

    def cb(k, what):
        def call(ev):
            log.append((env.now, k, what))
            if what == "decide":
                owner.pending = k
            elif what == "finish":
                finish.finished = True
            elif what == "spawn":
                env.timeout(1.5).callbacks.append(cb(k + 100, "log"))
        return call

    for k, (t, what) in enumerate(plan):
        env.timeout(t).callbacks.append(cb(k, what))
    stops = []
    while True:
        try:
            if fast:
                env.step_until_pending(owner, finish)
            else:
                while owner.pending is None and not finish.finished:
                    env.step()
        except EmptySchedule:
            stops.append("empty")
            break
        stops.append((env.now, owner.pending, finish.finished))
        if finish.finished:
            break
        owner.pending = None
    return log, stops, env.now, len(env.queue)


@given(_plans)
def test_same_events_same_stops_as_step(plan):
    assert _drive(plan, True) == _drive(plan, False)


def test_stops_at_once_when_a_decision_is_pending_or_the_run_is_over():
    env = EventLoop()
    env.timeout(1.0)
    env.step_until_pending(SimpleNamespace(pending=(0, 1)), SimpleNamespace(finished=False))
    env.step_until_pending(SimpleNamespace(pending=None), SimpleNamespace(finished=True))
    assert env.now == 0 and len(env.queue) == 1
    with pytest.raises(EmptySchedule):
        EventLoop().step_until_pending(SimpleNamespace(pending=None), SimpleNamespace(finished=False))
