"""The oracle's wall-clock budget and its honest answer to Ctrl-C (issue 20).

``--time-limit`` covers the whole call, model building included: :class:`Budget` is started when
the oracle is called and every phase after the whole-operator heuristics (the fallback answer)
asks it how much time is left. CP-SAT catches SIGINT itself and returns its best solution as
``FEASIBLE``, which reads like an answer; :func:`solve_interruptibly` runs the solve in a thread
with CP-SAT's own handler off, so Ctrl-C reaches Python, stops the search and is reported as an
interruption (:class:`OracleInterrupted` carries the best schedule found, marked interrupted).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sparoa_sim.errors import SimulationError
from sparoa_sim.limits import MAX_ORACLE_OPS  # the one limits table (README "Limits")

__all__ = ["Budget", "BudgetSpent", "MAX_ORACLE_OPS", "OracleInterrupted", "check_oracle_size", "solve_interruptibly"]



def check_oracle_size(n_ops: int, name: str) -> None:
    """Refuse a graph the oracle cannot model within any reasonable time limit, before any work."""
    if n_ops > MAX_ORACLE_OPS:
        raise SimulationError(f"oracle: workload {name!r} has {n_ops:,} operators; the oracle takes at most "
                              f"{MAX_ORACLE_OPS:,} (its model grows about as n²)")


class Budget:
    """A wall-clock budget started now: ``limit_s`` seconds for the whole oracle call."""

    def __init__(self, limit_s: float) -> None:
        self.start = time.perf_counter()
        self.limit_s = float(limit_s)

    def elapsed(self) -> float:
        """Seconds since the budget started."""
        return time.perf_counter() - self.start

    def left(self) -> float:
        """Seconds left (negative when overspent)."""
        return self.limit_s - self.elapsed()

    def spent(self) -> bool:
        """Whether no time is left."""
        return self.left() <= 0.0

    def check(self) -> None:
        """Raise :class:`BudgetSpent` when no time is left (for long loops)."""
        if self.spent():
            raise BudgetSpent(f"time limit of {self.limit_s:g} s reached")


class BudgetSpent(Exception):
    """Raised by a phase that ran out of the budget part-way (the caller keeps its best start)."""


class OracleInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the solver: ``result`` is the best schedule found so far, marked
    ``interrupted`` (never the answer: not optimal, its gap to the proven bound given)."""

    def __init__(self, result: Any) -> None:
        super().__init__("oracle interrupted")
        self.result = result


def solve_interruptibly(solver: Any, model: Any) -> tuple[Any, bool]:
    """``solver.solve(model)`` that Ctrl-C stops: returns (status, interrupted).

    The solve runs in a helper thread (CP-SAT releases the GIL) with CP-SAT's SIGINT handler off;
    the calling thread waits in short sleeps, so a KeyboardInterrupt lands there, calls
    ``stop_search`` (thread-safe) and waits for the solver to hand back its best solution.
    """
    solver.parameters.catch_sigint_signal = False
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["status"] = solver.solve(model)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=work, name="cp-sat-solve", daemon=True)
    thread.start()
    interrupted = False
    while not box:  # polled with sleep: a KeyboardInterrupt inside Thread.join leaves it unreliable
        try:
            time.sleep(0.02)
        except KeyboardInterrupt:
            interrupted = True
            solver.stop_search()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["status"], interrupted
