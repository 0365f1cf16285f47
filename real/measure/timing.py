"""Clocks and repetition, shared by everything that times work on this host.

A :class:`Clock` marks points in time on the host (wall or thread CPU time) or on a CUDA stream;
:func:`time_calls`, :func:`time_adaptive` and :func:`settle` time a callable; every figure is a
:class:`Figure`, the median of two halves of repetitions taken at different moments (their
spread is the figure's repeatability). :func:`quiet_runtime` is the state every measurement
runs in. The profiler, the bandwidth and sparse measurements, the eager timers and the
sim-to-real validation (``real.run.validate``) all use these, so their figures mean the same.
"""

from __future__ import annotations

import contextlib
import gc
import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sparoa_sim.errors import CalibrationError
from sparoa_sim.real.measure.allocator import keep_freed_memory

__all__ = [
    "CLOCKS",
    "Clock",
    "Figure",
    "MIN_TIME_S",
    "check_batches",
    "figure",
    "make_clock",
    "median_time",
    "n_reps",
    "quiet_runtime",
    "settle",
    "time_adaptive",
    "time_calls",
]

#: A figure is never reported as zero (timer resolution floor).
MIN_TIME_S = 1e-9


#: What a CPU figure measures: wall time, or the CPU time of the timing thread (one torch thread
#: only), which leaves out the time other tenants of a shared host take the core away.
CLOCKS = ("wall", "thread_cpu")


@dataclass(frozen=True)
class Clock:
    """Marks points in time on the host (``perf_counter_ns``, or ``thread_time_ns`` for the CPU
    time of this thread) or on a CUDA stream (events)."""

    cuda: bool
    cpu_time: bool = False

    def mark(self) -> Any:
        """A point in time: nanoseconds on the host, a recorded event on CUDA."""
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.thread_time_ns() if self.cpu_time else time.perf_counter_ns()

    def sync(self) -> None:
        """Wait for the device (CUDA) so marks can be read."""
        if self.cuda:
            torch.cuda.synchronize()

    def seconds(self, start: Any, end: Any) -> float:
        """Elapsed seconds between two marks (call :meth:`sync` first on CUDA)."""
        if self.cuda:
            return max(MIN_TIME_S, start.elapsed_time(end) / 1e3)
        return max(MIN_TIME_S, (end - start) / 1e9)


def make_clock(dev: torch.device, clock: str) -> Clock:
    """The clock of a run; ``thread_cpu`` needs a CPU device and exactly one torch thread (call it
    inside :func:`quiet_runtime`): with more, the work of the other threads would be missed."""
    if clock not in CLOCKS:
        raise CalibrationError(f"--clock: {clock!r} is not a clock (known: {', '.join(CLOCKS)})")
    if clock == "thread_cpu":
        if dev.type != "cpu":
            raise CalibrationError(f"--clock thread_cpu: only for the CPU, not {dev.type!r}")
        if torch.get_num_threads() != 1:
            raise CalibrationError(f"--clock thread_cpu: needs --threads 1 (torch runs {torch.get_num_threads()} "
                                   "threads; their CPU time would be missed)")
    return Clock(dev.type == "cuda", cpu_time=clock == "thread_cpu")


def time_calls(fn: Callable[[], Any], clock: Clock, n: int) -> list[float]:
    """Seconds of each of ``n`` consecutive calls of ``fn``."""
    marks = []
    for _ in range(n):
        start = clock.mark()
        fn()
        marks.append((start, clock.mark()))
    clock.sync()
    return [clock.seconds(s, e) for s, e in marks]


def n_reps(estimate_s: float, target_s: float, lo: int, hi: int) -> int:
    """Repetitions that fill ``target_s`` at ``estimate_s`` each, clamped to [lo, hi]."""
    want = math.ceil(target_s / max(estimate_s, MIN_TIME_S))
    return int(min(hi, max(lo, want)))


def time_adaptive(fn: Callable[[], Any], clock: Clock, warmup: int, target_s: float, lo: int, hi: int) -> list[float]:
    """Warm up, estimate one call, then time enough calls to fill ``target_s``."""
    estimate = min(time_calls(fn, clock, max(1, warmup)))
    return time_calls(fn, clock, n_reps(estimate, target_s, lo, hi))


def settle(fn: Callable[[], Any], clock: Clock, max_s: float, tol: float = 0.10) -> float:
    """Call ``fn`` until three calls in a row agree within ``tol`` (or ``max_s`` passes).

    A fresh process, or one that just freed a lot of memory, runs slowly for a while (pages
    faulted in, memory reclaimed under virtual machines); timing only starts once it is steady.
    Returns the seconds spent.
    """
    t0 = time.perf_counter()
    recent: list[float] = []
    while time.perf_counter() - t0 < max_s:
        recent = [*recent[-2:], time_calls(fn, clock, 1)[0]]
        if len(recent) == 3 and max(recent) <= (1 + tol) * min(recent):
            break
    return time.perf_counter() - t0


def median_time(xs: Sequence[float]) -> float:
    """Median of ``xs`` in seconds, floored at :data:`MIN_TIME_S`."""
    return max(MIN_TIME_S, float(statistics.median(xs)))


@dataclass(frozen=True)
class Figure:
    """A timed figure: median over all repetitions and the medians of its two halves."""

    time_s: float
    time_s_a: float
    time_s_b: float
    reps: int


def figure(half_a: Sequence[float], half_b: Sequence[float]) -> Figure:
    """The :class:`Figure` of two halves of repetitions."""
    return Figure(median_time([*half_a, *half_b]), median_time(half_a), median_time(half_b),
                  len(half_a) + len(half_b))


@contextlib.contextmanager
def quiet_runtime(threads: int | None) -> Iterator[int]:
    """Inference mode, fixed thread count (restored afterwards), no GC pauses while timing, and
    freed memory kept with the process (``real.measure.allocator``: no page faults from a fresh mapping
    on every pass)."""
    keep_freed_memory()
    old_threads = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise CalibrationError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        with torch.inference_mode():
            yield torch.get_num_threads()
    finally:
        if gc_was_enabled:
            gc.enable()
        torch.set_num_threads(old_threads)


def check_batches(batches: Sequence[int]) -> tuple[int, ...]:
    """Batch sizes as positive integers, duplicates dropped; a :class:`CalibrationError` otherwise."""
    out = tuple(batches)
    if not out or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in out):
        raise CalibrationError(f"--batch: batch sizes must be positive integers, got {list(batches)!r}")
    return tuple(dict.fromkeys(out))
