"""The engine's event loop (``sim.eventloop.EventLoop``) is SimPy's, event for event.

The same random mix of processes, timeouts, conditions, plain events, failures and the engine's
own timers is run on ``simpy.Environment`` and on ``EventLoop``: the logs (time and what
happened, in order) must be identical, with ``run()``, ``run(until=event)``, ``run(until=time)``
and ``step()`` alike; and a run stopped at an ``until`` event resumes exactly as SimPy's does.
"""

from __future__ import annotations

from heapq import heappush

import pytest
import simpy
from hypothesis import given
from hypothesis import strategies as st
from simpy.events import NORMAL

from sparoa_sim.sim.entities import Timer, new_instance
from sparoa_sim.sim.eventloop import EventLoop


def _scenario(env: simpy.Environment, plan: list[tuple[int, float, int]], log: list) -> simpy.Event:
    """Processes, timers and conditions from ``plan`` on ``env``; returns an event that fires midway."""
    mid = env.event()

    def proc(k: int, delay: float, reps: int):
        for r in range(reps):
            if k % 4 == 0:
                yield env.timeout(delay)
            elif k % 4 == 1:
                yield env.timeout(delay) | env.timeout(delay / 2 + 1e-3)
            elif k % 4 == 2:
                yield env.timeout(delay) & env.timeout(delay * 0.7)
            else:
                ev = env.event()
                env.timeout(delay).callbacks.append(lambda _e, ev=ev: ev.succeed(("v", k)))
                value = yield ev
                log.append((env.now, "value", k, value))
            log.append((env.now, "proc", k, r))
            if k == 0 and r == 0 and not mid.triggered:
                mid.succeed("mid")

    def failing(delay: float):
        yield env.timeout(delay)
        raise ValueError("boom")

    def catcher(delay: float):
        try:
            yield env.process(failing(delay))
        except ValueError as exc:
            log.append((env.now, "caught", str(exc)))

    def timer_cb(tag):
        def cb(ev):
            log.append((env.now, "timer", tag))
        return cb

    for k, (kind, delay, reps) in enumerate(plan):
        if kind == 0:
            env.process(proc(k, delay, reps))
        elif kind == 1:  # the engine's timers, pushed as the components push them
            ev = new_instance(Timer)
            ev.callbacks = (timer_cb(k),)
            heappush(env._queue, (env.now + delay, NORMAL, next(env._eid), ev))
        elif kind == 2:
            ev = Timer(timer_cb(("plain", k)))
            env.schedule(ev, NORMAL, delay)
        else:
            env.process(catcher(delay))
    return mid


_PLANS = st.lists(st.tuples(st.integers(0, 3), st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.25]), st.integers(1, 4)),
                  min_size=1, max_size=12)


def _run(env_cls, plan, how):
    env = env_cls()
    log: list = []
    mid = _scenario(env, plan, log)
    out = []
    if how == "run":
        out.append(env.run())
    elif how == "until_event":
        out.append(env.run(until=mid) if plan and plan[0][0] == 0 else None)
        log.append(("resumed", env.now))
        out.append(env.run())
    elif how == "until_time":
        out.append(env.run(until=1.75))
        log.append(("resumed", env.now))
        out.append(env.run())
    else:
        try:
            while True:
                env.step()
        except simpy.core.EmptySchedule:
            out.append("empty")
    return log, out, env.now


@given(plan=_PLANS, how=st.sampled_from(["run", "until_event", "until_time", "step"]))
def test_event_loop_is_simpys(plan, how):
    assert _run(EventLoop, plan, how) == _run(simpy.Environment, plan, how)


def test_uncaught_failure_crashes_both_alike():
    def bad(env):
        yield env.timeout(1)
        raise KeyError("x")

    for cls in (simpy.Environment, EventLoop):
        env = cls()
        env.process(bad(env))
        with pytest.raises(KeyError):
            env.run()


def test_until_errors_match():
    for cls in (simpy.Environment, EventLoop):
        env = cls()
        env.timeout(1)
        with pytest.raises(ValueError, match="must be greater"):
            env.run(until=0)
        never = env.event()
        with pytest.raises(RuntimeError, match="No scheduled events left"):
            env.run(until=never)


def test_stopped_event_resumes_later_like_simpy():
    """``run(until=ev)`` stopped by ``ev``'s lone callback leaves it scheduled again, as SimPy does."""
    states = []
    for cls in (simpy.Environment, EventLoop):
        env = cls()
        ev = env.event()
        env.timeout(2).callbacks.append(lambda _e, ev=ev: ev.succeed(7))
        env.timeout(5)
        value = env.run(until=ev)
        states.append((value, env.now, len(env._queue), env.peek()))
        env.run()
        states.append(env.now)
    assert states[:2] == states[2:]
