"""Request sources and the batcher's configuration (docs/architecture.md §4): values, validated on construction.

A *request* is one inference of one sample. A source says when requests arrive:

- :class:`ClosedLoop` — ``concurrency`` clients, each sending its next request the moment its
  previous one completes (think time 0);
- :class:`Poisson` — exponential inter-arrival times at ``rate`` requests per second, the first
  arrival one inter-arrival time after 0;
- :class:`TraceArrivals` — explicit, sorted arrival times;
- :class:`Periodic` — a camera stream: one request every ``1/fps`` seconds from ``phase_s`` on.

:class:`Batching` groups waiting requests into batches (one pass of the graph at batch size
``len(batch)``): a batch is formed when ``max_batch`` requests wait, when the oldest has waited
``timeout_s``, or when the source has no more requests (the rest is flushed), and only while
fewer than ``max_inflight`` batches are in the engine. ``Batching()`` serves one request at a
time, first come first served; ``Batching.fixed(B)`` waits for full batches of ``B``.

Bad values raise :class:`~sparoa_sim.errors.SimulationError` naming the argument. A source is bounded
on construction (``sparoa_sim.limits``): at most ``MAX_REQUESTS`` requests, and its last arrival (a
Poisson stream's expected one) within ``MAX_HORIZON_S`` of simulated time, so a rate of 1e-300 or a
trace time of 1e308 is refused at once instead of simulating for ever.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels.fileio import read_bounded_text
from sparoa_sim.limits import MAX_HORIZON_S, MAX_REQUESTS, MAX_TRACE_FILE_BYTES, check_nesting

__all__ = [
    "ARRIVAL_TYPES",
    "Arrivals",
    "Batching",
    "ClosedLoop",
    "Periodic",
    "Poisson",
    "TraceArrivals",
    "check_closed_loop",
    "load_arrival_trace",
    "parse_arrival",
]


def _check_count(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SimulationError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_requests(value: object) -> int:
    """``n_requests``: an integer in [1, MAX_REQUESTS] (a stream's arrivals are drawn up front)."""
    n = _check_count("n_requests", value)
    if n > MAX_REQUESTS:
        raise SimulationError(f"n_requests is {n:,}, above the limit of {MAX_REQUESTS:,} requests (MAX_REQUESTS)")
    return n


def _check_horizon(what: str, seconds: float) -> None:
    """Refuse a source whose last arrival lies beyond MAX_HORIZON_S of simulated time."""
    if not seconds <= MAX_HORIZON_S:  # NaN or inf fail too
        raise SimulationError(f"{what} is {seconds:.4g} s of simulated time, above the limit of {MAX_HORIZON_S:,} s "
                              f"({MAX_HORIZON_S / 86400:g} days, MAX_HORIZON_S)")


@dataclass(frozen=True)
class ClosedLoop:
    """``n_requests`` requests from ``concurrency`` clients (default: the batcher's ``max_batch``)."""

    n_requests: int = 1
    concurrency: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "n_requests", _check_requests(self.n_requests))
        if self.concurrency is not None:
            object.__setattr__(self, "concurrency", _check_count("concurrency", self.concurrency))

    def describe(self) -> str:
        """Short text for tables and JSON (``closed`` or ``closed:C``)."""
        return "closed" if self.concurrency is None else f"closed:{self.concurrency}"


@dataclass(frozen=True)
class Poisson:
    """``n_requests`` requests with exponential inter-arrival times at ``rate`` per second."""

    rate: float
    n_requests: int = 1

    def __post_init__(self) -> None:
        r = self.rate
        if isinstance(r, bool) or not isinstance(r, (int, float, np.floating, np.integer)) or not math.isfinite(r) or r <= 0:
            raise SimulationError(f"rate must be a positive, finite number of requests per second, got {r!r}")
        object.__setattr__(self, "rate", float(r))
        object.__setattr__(self, "n_requests", _check_requests(self.n_requests))
        _check_horizon(f"poisson: the expected last arrival ({self.n_requests:,} requests at {r:g}/s)",
                       self.n_requests / float(r))

    def describe(self) -> str:
        """Short text for tables and JSON (``poisson:RATE``)."""
        return f"poisson:{self.rate:g}"


@dataclass(frozen=True)
class TraceArrivals:
    """Requests arriving at the given times (seconds, non-negative, sorted ascending)."""

    times: tuple[float, ...]

    def __post_init__(self) -> None:
        raw = self.times
        if isinstance(raw, (str, bytes)) or not isinstance(raw, (list, tuple, np.ndarray)):
            raise SimulationError(f"arrival trace: times must be a list of seconds, got {raw!r}")
        try:
            arr = np.asarray(raw)
        except (ValueError, TypeError, OverflowError):  # ragged: [0.0, []] (a fuzzer's find)
            raise SimulationError(f"arrival trace: times must be a flat list of numbers (seconds), got {raw!r}"[:300]) \
                from None
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iuf"):  # no nesting, strings or booleans
            raise SimulationError(f"arrival trace: times must be a flat list of numbers (seconds), got {raw!r}")
        t = arr.astype(float)
        if t.size == 0:
            raise SimulationError("arrival trace: no arrival times")
        if not np.all(np.isfinite(t)):
            raise SimulationError(f"arrival trace: time {int(np.flatnonzero(~np.isfinite(t))[0])} is not finite")
        if np.any(t < 0):
            raise SimulationError(f"arrival trace: time {int(np.flatnonzero(t < 0)[0])} is negative ({t[t < 0][0]!r})")
        bad = np.flatnonzero(np.diff(t) < 0)
        if bad.size:
            i = int(bad[0]) + 1
            raise SimulationError(f"arrival trace: times must be sorted ascending; time {i} ({t[i]!r}) comes "
                                  f"before time {i - 1} ({t[i - 1]!r})")
        if t.size > MAX_REQUESTS:
            raise SimulationError(f"arrival trace: {t.size:,} times, above the limit of {MAX_REQUESTS:,} requests "
                                  "(MAX_REQUESTS)")
        _check_horizon(f"arrival trace: time {t.size - 1} ({float(t[-1])!r})", float(t[-1]))
        object.__setattr__(self, "times", tuple(float(x) for x in t))

    @property
    def n_requests(self) -> int:
        """Number of requests in the trace."""
        return len(self.times)

    def describe(self) -> str:
        """Short text for tables and JSON."""
        return f"trace:{len(self.times)}"


def _check_seconds(name: str, value: object, positive: bool) -> float:
    v = value
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not math.isfinite(v) \
            or (v <= 0 if positive else v < 0):
        want = "a positive" if positive else "a non-negative"
        raise SimulationError(f"{name} must be {want}, finite number, got {value!r}")
    return float(v)


@dataclass(frozen=True)
class Periodic:
    """A camera stream: ``n_requests`` frames, frame ``k`` arriving at ``phase_s + k / fps`` seconds."""

    fps: float
    n_requests: int = 1
    phase_s: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "fps", _check_seconds("fps (frames per second)", self.fps, positive=True))
        object.__setattr__(self, "n_requests", _check_requests(self.n_requests))
        object.__setattr__(self, "phase_s", _check_seconds("phase_s (seconds)", self.phase_s, positive=False))
        _check_horizon(f"periodic: the last frame ({self.n_requests:,} frames at {self.fps:g} fps)",
                       self.phase_s + (self.n_requests - 1) / self.fps)

    @property
    def period_s(self) -> float:
        """Seconds between two frames."""
        return 1.0 / self.fps

    def times(self) -> list[float]:
        """Arrival time of every frame, seconds."""
        fps, phase = self.fps, self.phase_s
        return [phase + k / fps for k in range(self.n_requests)]

    def describe(self) -> str:
        """Short text for tables and JSON (``periodic:FPS``, ``periodic:FPS+PHASE`` with a phase)."""
        return f"periodic:{self.fps:g}" + (f"+{self.phase_s:g}" if self.phase_s else "")


Arrivals = Union[ClosedLoop, Poisson, TraceArrivals, Periodic]

#: The arrival processes the engine takes.
ARRIVAL_TYPES: tuple[type, ...] = (ClosedLoop, Poisson, TraceArrivals, Periodic)


@dataclass(frozen=True)
class Batching:
    """How waiting requests become batches (see the module docstring)."""

    max_batch: int = 1
    timeout_s: float = math.inf
    max_inflight: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_batch", _check_count("batch size (max_batch)", self.max_batch))
        object.__setattr__(self, "max_inflight", _check_count("max_inflight", self.max_inflight))
        t = self.timeout_s
        if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)) or math.isnan(t) or t < 0:
            raise SimulationError(f"batch timeout_s must be a non-negative number of seconds (inf allowed), got {t!r}")
        if MAX_HORIZON_S < t < math.inf:
            raise SimulationError(f"batch timeout_s is {t!r} s, above the limit of {MAX_HORIZON_S:,} s (MAX_HORIZON_S; "
                                  "inf: never)")
        object.__setattr__(self, "timeout_s", float(t))

    @classmethod
    def fixed(cls, batch: int, max_inflight: int = 1) -> Batching:
        """Full batches of ``batch`` requests (the last one flushed when the source runs dry)."""
        return cls(max_batch=batch, timeout_s=math.inf, max_inflight=max_inflight)


def check_closed_loop(arrivals: Arrivals, batching: Batching, field: str = "arrivals") -> None:
    """Raise if a closed loop could never fill the batcher's batches (it would wait forever)."""
    if isinstance(arrivals, ClosedLoop):
        conc = batching.max_batch if arrivals.concurrency is None else arrivals.concurrency
        if conc < batching.max_batch and arrivals.n_requests > conc and math.isinf(batching.timeout_s):
            raise SimulationError(
                f"{field}: a closed loop of concurrency {conc} can never fill batches of {batching.max_batch} "
                "(raise the concurrency or give the batcher a finite timeout_s)")


def load_arrival_trace(path: str | os.PathLike[str]) -> TraceArrivals:
    """Read arrival times from a JSON list (or ``{"times": [...]}``) or a text file, one per line."""
    p = Path(path)
    text = read_bounded_text(p, "arrival trace", SimulationError, MAX_TRACE_FILE_BYTES)
    check_nesting(text, f"arrival trace {p}", SimulationError)  # before json recurses into it
    try:
        doc = json.loads(text)
        times = doc["times"] if isinstance(doc, dict) and "times" in doc else doc
    except json.JSONDecodeError:
        try:
            times = [float(line.split(",")[0]) for line in text.splitlines() if line.strip() and not line.startswith("#")]
        except ValueError:
            raise SimulationError(f"arrival trace {p}: expected a JSON list or one number per line") from None
    if not isinstance(times, Sequence) or isinstance(times, str):
        raise SimulationError(f"arrival trace {p}: expected a list of times")
    try:
        return TraceArrivals(tuple(times))
    except SimulationError as exc:
        raise SimulationError(f"{p}: {exc}") from None


def parse_arrival(text: str, n_requests: int = 1) -> Arrivals:
    """``closed`` | ``closed:C`` | ``poisson:RATE`` | ``periodic:FPS`` | ``trace:FILE`` → an arrivals value."""
    if not isinstance(text, str):
        raise SimulationError(f"arrival must be a string like 'closed' or 'poisson:RATE', got {text!r}")
    kind, _, arg = text.partition(":")
    kind = kind.strip().lower()
    if kind == "closed":
        if not arg:
            return ClosedLoop(n_requests)
        try:
            return ClosedLoop(n_requests, int(arg))
        except ValueError:
            raise SimulationError(f"arrival: 'closed:C' needs an integer concurrency, got {arg!r}") from None
    if kind == "poisson":
        try:
            rate = float(arg)
        except ValueError:
            raise SimulationError(f"arrival: 'poisson:RATE' needs a number of requests per second, got {arg!r}") from None
        return Poisson(rate, n_requests)
    if kind == "periodic":
        try:
            fps = float(arg)
        except ValueError:
            raise SimulationError(f"arrival: 'periodic:FPS' needs a number of frames per second, got {arg!r}") from None
        return Periodic(fps, n_requests)
    if kind == "trace" and arg:
        return load_arrival_trace(arg)
    raise SimulationError(f"arrival: unknown arrival process {text!r} (known: closed, closed:C, poisson:RATE, periodic:FPS, trace:FILE)")
