"""Power-mode switches during a run: when the board changes mode (e.g. a Nano dropping from 15W to 7W).

A run may be given ``power = ((time_s, mode), ...)``: at each time the platform switches to that mode
(``nvpmodel`` on a Jetson). What follows the switch, and when (docs/scenarios.md, "Power-mode switches"):

- a *batch (job) formed at or after the switch* takes the new mode's prediction tables — operator latencies
  and power, copies, host launch costs — for all its operators; a batch formed before it finishes on the old
  mode's figures (the engine's figures are per batch), its operators that start later included;
- the *board-wide* figures change at the switch itself: the DRAM bandwidth both devices share (contention
  re-times the running operators), the CPU cores the dispatch thread's load is a share of, and the board's
  idle power (energy integrates it over time).

:func:`check_power_switches` validates the list against a platform; :func:`mode_process` is the SimPy process
that applies it; :func:`mean_over` averages a piecewise-constant figure (idle power) over a window.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from sparoa_sim.errors import SimulationError, SparOAError

__all__ = ["MAX_SWITCHES", "board_idle_w", "check_power_switches", "mean_over", "mode_process"]

#: Most switches one run may hold (work is bounded before it starts).
MAX_SWITCHES = 10_000


def check_power_switches(switches: Any, platform: Any) -> tuple[tuple[float, str], ...]:
    """``switches`` as ``((time_s, mode name), ...)`` with times finite, >= 0 and increasing and each mode one
    of ``platform``'s (an alias resolved to its name); a SimulationError naming ``power[i]`` otherwise."""
    if isinstance(switches, (str, bytes)) or not isinstance(switches, Sequence):
        raise SimulationError(f"power must be a list of (time_s, mode) pairs, got {switches!r}")
    if len(switches) > MAX_SWITCHES:
        raise SimulationError(f"power: at most {MAX_SWITCHES} switches, got {len(switches)}")
    out: list[tuple[float, str]] = []
    for i, sw in enumerate(switches):
        if isinstance(sw, (str, bytes)) or not isinstance(sw, Sequence) or len(sw) != 2:
            raise SimulationError(f"power[{i}]: expected (time_s, mode), got {sw!r}")
        t, mode = sw
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
            raise SimulationError(f"power[{i}].time_s: expected a non-negative number of seconds, got {t!r}")
        if out and t <= out[-1][0]:
            raise SimulationError(f"power[{i}].time_s: times must increase, got {t!r} after {out[-1][0]!r}")
        if not isinstance(mode, str) or not mode:
            raise SimulationError(f"power[{i}].mode: expected a power mode name, got {mode!r}")
        try:
            name = platform.mode(mode).name
        except SparOAError as exc:
            raise SimulationError(f"power[{i}].mode: {exc}") from None
        out.append((float(t), name))
    return tuple(out)


def mode_process(env: Any, switches: Sequence[tuple[float, str]], on_switch: Callable[[str], None]):
    """SimPy process: call ``on_switch(mode)`` at each ``(time_s, mode)`` of ``switches``."""
    for t, mode in switches:
        if t > env.now:
            yield env.timeout(t - env.now)
        on_switch(mode)


def mean_over(log: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Time average over ``[start, end]`` of a piecewise-constant value given as ``(from_time, value)`` steps
    (the first at or before ``start``); the value at ``start`` for an empty window."""
    if not log:
        raise SimulationError("mean_over: no values")
    if end <= start:
        return next((v for t, v in reversed(log) if t <= start), log[0][1])
    total = 0.0
    for k, (t, v) in enumerate(log):
        t_next = log[k + 1][0] if k + 1 < len(log) else math.inf
        lo, hi = max(t, start), min(t_next, end)
        if hi > lo:
            total += v * (hi - lo)
    return total / (end - start)


def board_idle_w(mode_log: Sequence[tuple[float, str]], idle_of: Callable[[str], float], streams: Sequence[Any],
                 now: float) -> float:
    """The board's idle power (W) to charge over a run's window — from the first arrival of any stream to the
    last completion once all are finished, else to ``now`` (as ``sim.metrics`` charges it) — averaged over the
    modes in force (``mode_log``: ``(from_time, mode)``; ``idle_of``: a mode's idle power). One mode: its own."""
    if len({idle_of(m) for _t, m in mode_log}) == 1:  # one idle power throughout: exactly it
        return idle_of(mode_log[0][1])
    firsts = [s.arrival[0] for s in streams if s.arrival]
    if not firsts:
        return idle_of(mode_log[0][1])
    done = all(s.finished for s in streams)
    end = max(max(s.completion) for s in streams if s.completion) if done else now
    return mean_over([(t, idle_of(m)) for t, m in mode_log], min(firsts), end)
