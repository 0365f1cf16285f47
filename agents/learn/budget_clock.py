"""The clock training budgets run on: wall time (the default, as ``--time-budget`` always meant), or, opted
into, this process's CPU time — so a budget buys the same search on a busy host as on a quiet one."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sparoa_sim.errors import PolicyError

__all__ = ["CLOCKS", "budget_clock", "now"]

#: The clocks by name: ``wall`` (time.perf_counter) and ``cpu`` (time.process_time, every thread of this process).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
_CLOCK: contextvars.ContextVar[Callable[[], float]] = contextvars.ContextVar("budget_clock", default=time.perf_counter)


def now() -> float:
    """Seconds on the budget clock in force (wall time unless :func:`budget_clock` says otherwise)."""
    return _CLOCK.get()()


@contextmanager
def budget_clock(name: str) -> Iterator[None]:
    """Within the block, training budgets (and the ``train_s`` reported) run on clock ``name``."""
    if name not in CLOCKS:
        raise PolicyError(f"budget clock: must be one of {sorted(CLOCKS)}, got {name!r}")
    token = _CLOCK.set(CLOCKS[name])
    try:
        yield
    finally:
        _CLOCK.reset(token)
