"""How busy the machine is while this process measures: other processes' share of the CPU.

Read from the kernel's own counters, no sampling thread: ``/proc/stat``'s aggregate ``cpu`` line
(busy time of every CPU: user, nice, system, irq, softirq, steal — steal being time a virtual
machine's cores were taken by the hypervisor) minus this process's own CPU time (``os.times``,
every thread of it), over the wall time × the CPUs listed. Marked at phase boundaries (one
phase per profiled workload), so the share is known overall and per phase. Where ``/proc/stat``
cannot be read (not Linux), the share is ``None`` with source ``"none"``: unknown, not zero.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["BUSY_FIELDS", "CpuCounters", "LoadMonitor", "PhaseLoad", "parse_proc_stat", "read_counters"]

#: ``/proc/stat`` ``cpu`` fields counted as busy (user nice system idle iowait irq softirq steal …).
BUSY_FIELDS: tuple[int, ...] = (0, 1, 2, 5, 6, 7)
_PROC_STAT = "/proc/stat"


@dataclass(frozen=True)
class CpuCounters:
    """One reading: wall clock (s), busy CPU-seconds of the whole machine, this process's CPU-seconds,
    and how many CPUs ``/proc/stat`` lists."""

    wall_s: float
    busy_s: float
    own_s: float
    ncpu: int


def parse_proc_stat(text: str, ticks_per_s: float) -> tuple[float, int]:
    """(busy CPU-seconds summed over all CPUs, number of CPUs) from ``/proc/stat`` text."""
    busy, ncpu = None, 0
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "cpu":
            vals = [float(v) for v in parts[1:]]
            busy = sum(vals[i] for i in BUSY_FIELDS if i < len(vals)) / ticks_per_s
        elif parts[0].startswith("cpu") and parts[0][3:].isdigit():
            ncpu += 1
    if busy is None or ncpu == 0:
        raise ValueError("/proc/stat: no aggregate 'cpu' line or no per-CPU lines")
    return busy, ncpu


def read_counters() -> CpuCounters | None:
    """The machine's counters now (None where ``/proc/stat`` is unreadable or malformed)."""
    try:
        with open(_PROC_STAT, encoding="ascii") as fh:
            text = fh.read()
        busy, ncpu = parse_proc_stat(text, float(os.sysconf("SC_CLK_TCK")))
    except (OSError, ValueError, AttributeError):
        return None
    t = os.times()
    return CpuCounters(wall_s=time.monotonic(), busy_s=busy, own_s=t.user + t.system, ncpu=ncpu)


def others_share(a: CpuCounters, b: CpuCounters) -> float:
    """Other processes' share of all CPUs' time between two readings, in [0, 1]."""
    span = (b.wall_s - a.wall_s) * b.ncpu
    if span <= 0:
        return 0.0
    return min(1.0, max(0.0, ((b.busy_s - a.busy_s) - (b.own_s - a.own_s)) / span))


@dataclass(frozen=True)
class PhaseLoad:
    """Other processes' CPU share during one phase (None: not measurable here)."""

    label: str
    wall_s: float
    others_share: float | None


class LoadMonitor:
    """Other processes' CPU share over a run and per phase: :meth:`mark` closes a phase.

    ``reader`` (default :func:`read_counters`) is swappable so a test can feed known counters.
    """

    def __init__(self, reader: Callable[[], CpuCounters | None] = read_counters) -> None:
        self._read = reader
        self._first = self._last = reader()
        self._t0 = self._t_last = time.monotonic()
        self.phases: list[PhaseLoad] = []

    @property
    def source(self) -> str:
        return "none" if self._first is None else "/proc/stat - own os.times()"

    def mark(self, label: str) -> PhaseLoad:
        """End the current phase as ``label`` and start the next."""
        now, t = self._read(), time.monotonic()
        share = None if now is None or self._last is None else others_share(self._last, now)
        phase = PhaseLoad(label=label, wall_s=t - self._t_last, others_share=share)
        self.phases.append(phase)
        self._last, self._t_last = now, t
        return phase

    def overall(self) -> float | None:
        """The share from the first reading to the last mark (None if unmeasured or no phase yet)."""
        if self._first is None or self._last is None or not self.phases:
            return None
        return others_share(self._first, self._last)

    def peak(self) -> float | None:
        """The largest share of a phase (None if none was measured)."""
        shares = [p.others_share for p in self.phases if p.others_share is not None]
        return max(shares) if shares else None
