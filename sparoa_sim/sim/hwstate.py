"""The real-time hardware state the scheduler observes: power mode, precision, background load.

Background load (docs/architecture.md §4) is a piecewise-constant, Markov-modulated share of each device taken
by other tenants: the share of a device stays at one of ``levels`` for an exponentially
distributed holding time (mean ``mean_hold_s``), then jumps to another level drawn uniformly
among the others. Each device has its own path drawn from its own random substream, so the path
is a function of the seed alone — two policies run with one seed see the same load at the same
times (common random numbers), whatever their events.

A :class:`LoadTrace` is the deterministic alternative: piecewise-constant (time, cpu, gpu) shares
given as data (``LoadTrace.fixed`` for a constant load, e.g. the GPU shared with another job).
It draws nothing, so it is an input of the problem rather than a stochastic effect: it stays on in
the reference setting, where the oracle schedules at a fixed load (docs/architecture.md §4.3).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

import numpy as np

from sparoa_sim.errors import SimulationError

__all__ = ["MAX_LOAD", "BackgroundLoad", "HardwareState", "LoadTrace", "as_load_pair", "background_process",
           "load_path", "shared_load_path", "trace_process"]

#: The largest share of a device that background and dispatch load may take together (a device
#: never stops); a background level is at most this.
MAX_LOAD = 0.95


def _share(v: object, what: str) -> float:
    """``v`` as a background share in [0, MAX_LOAD], or a SimulationError naming ``what`` and ``v``."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not (
            math.isfinite(float(v)) and 0.0 <= float(v) <= MAX_LOAD):
        raise SimulationError(f"{what} must be a background share in [0, {MAX_LOAD}] (a device keeps at least "
                              f"{1 - MAX_LOAD:.0%} for the work simulated), got {v!r}")
    return float(v)


def as_load_pair(load: object, what: str = "load") -> tuple[float, float]:
    """A fixed (cpu, gpu) background share pair, checked (finite, in [0, :data:`MAX_LOAD`]);
    errors name ``what`` and the value."""
    if isinstance(load, (str, bytes)) or not hasattr(load, "__len__") or len(load) != 2:  # type: ignore[arg-type]
        raise SimulationError(f"{what} must be a (cpu, gpu) pair of background shares, got {load!r}")
    c, g = load  # type: ignore[misc]
    return _share(c, f"{what}[cpu]"), _share(g, f"{what}[gpu]")


@dataclass(frozen=True)
class LoadTrace:
    """Deterministic, piecewise-constant background load: ``points`` = ((time_s, cpu, gpu), ...).

    The first point is at t = 0; times strictly increase; each share holds from its time to the
    next point's (the last forever). Shares lie in [0, :data:`MAX_LOAD`]. Unlike
    :class:`BackgroundLoad` it draws nothing (no substream is read), so it stays on in the
    reference setting; an all-zero trace is exactly no background.
    """

    points: tuple[tuple[float, float, float], ...]

    def __post_init__(self) -> None:
        raw = self.points
        if isinstance(raw, (str, bytes)) or not hasattr(raw, "__iter__"):
            raise SimulationError(f"load trace points must be a list of (time_s, cpu, gpu), got {raw!r}")
        pts = []
        for k, pt in enumerate(raw):
            if isinstance(pt, (str, bytes)) or not hasattr(pt, "__len__") or len(pt) != 3:
                raise SimulationError(f"load trace points[{k}] must be (time_s, cpu, gpu), got {pt!r}")
            t = pt[0]
            if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or not (
                    math.isfinite(float(t)) and float(t) >= 0.0):
                raise SimulationError(f"load trace points[{k}].time_s must be a finite time >= 0 s, got {t!r}")
            pts.append((float(t), _share(pt[1], f"load trace points[{k}].cpu"),
                        _share(pt[2], f"load trace points[{k}].gpu")))
        if not pts:
            raise SimulationError("load trace points must not be empty (the first is at t = 0)")
        if pts[0][0] != 0.0:
            raise SimulationError(f"load trace points[0].time_s must be 0 (the load from the start), got {pts[0][0]!r}")
        for k in range(1, len(pts)):
            if not pts[k][0] > pts[k - 1][0]:
                raise SimulationError(f"load trace points[{k}].time_s must be after points[{k - 1}]'s "
                                      f"({pts[k - 1][0]!r} s), got {pts[k][0]!r}")
        object.__setattr__(self, "points", tuple(pts))

    @classmethod
    def fixed(cls, cpu: float = 0.0, gpu: float = 0.0) -> LoadTrace:
        """A constant load: ``cpu`` and ``gpu`` shares from t = 0 on."""
        return cls(((0.0, cpu, gpu),))

    @property
    def constant(self) -> bool:
        """Whether the shares never change (every point has the first one's)."""
        first = self.points[0][1:]
        return all(p[1:] == first for p in self.points)

    @property
    def idle(self) -> bool:
        """Whether every share is 0 (the trace is no background at all)."""
        return all(p[1] == 0.0 and p[2] == 0.0 for p in self.points)

    @property
    def load(self) -> tuple[float, float]:
        """The (cpu, gpu) shares of a constant trace (raises for a varying one)."""
        if not self.constant:
            raise SimulationError("load trace: a varying trace has no single (cpu, gpu) load")
        return self.points[0][1], self.points[0][2]

    def changes(self, d: int) -> list[tuple[float, float]]:
        """(time, share) of each change of device ``d``'s share (0 CPU, 1 GPU) from the idle start
        (0 before the trace begins): the steps the engine applies."""
        out = []
        last = 0.0
        for p in self.points:
            if p[1 + d] != last:
                out.append((p[0], p[1 + d]))
                last = p[1 + d]
        return out


@dataclass(frozen=True)
class BackgroundLoad:
    """Markov-modulated background load: share levels per device and their mean holding time.

    ``levels`` are shares of a device in [0, :data:`MAX_LOAD`]; ``initial`` picks the starting level: ``"draw"``
    (uniform among the levels, from the device's substream) or an index into ``levels``.
    ``devices`` says which devices carry load ("cpu", "gpu"). The defaults are assumptions, not
    measurements: other tenants taking 0, 25 or 50 % of a device for ~20 ms at a time.
    """

    levels: tuple[float, ...] = (0.0, 0.25, 0.5)
    mean_hold_s: float = 0.02
    initial: str | int = "draw"
    devices: tuple[str, ...] = ("cpu", "gpu")

    def __post_init__(self) -> None:
        try:
            if isinstance(self.levels, (str, bytes)):
                raise TypeError
            lv = tuple(float(x) for x in self.levels if not isinstance(x, bool))
            if len(lv) != len(tuple(self.levels)):
                raise TypeError
        except (TypeError, ValueError):
            raise SimulationError(f"background load levels must be a list of shares, got {self.levels!r}") from None
        if not lv or not all(math.isfinite(x) and 0.0 <= x <= MAX_LOAD for x in lv):
            raise SimulationError(f"background load levels must be shares in [0, {MAX_LOAD}] (a device keeps at "
                                  f"least {1 - MAX_LOAD:.0%} for the work simulated), got {self.levels!r}")
        object.__setattr__(self, "levels", lv)
        h = self.mean_hold_s
        if isinstance(h, bool) or not isinstance(h, (int, float)) or not math.isfinite(h) or h <= 0:
            raise SimulationError(f"background load mean_hold_s must be a positive number of seconds, got {h!r}")
        if not (self.initial == "draw" or (isinstance(self.initial, int) and not isinstance(self.initial, bool)
                                           and 0 <= self.initial < len(lv))):
            raise SimulationError(f"background load initial must be 'draw' or a level index, got {self.initial!r}")
        devs = tuple(self.devices)
        if any(d not in ("cpu", "gpu") for d in devs) or len(set(devs)) != len(devs):
            raise SimulationError(f"background load devices must be among 'cpu', 'gpu', got {self.devices!r}")
        object.__setattr__(self, "devices", devs)

    @property
    def constant(self) -> bool:
        """Whether the load never changes (one distinct level): its process draws no changes."""
        return len(set(self.levels)) == 1


def load_path(cfg: BackgroundLoad, rng: np.random.Generator) -> Generator[tuple[float, float], None, None]:
    """Endless (holding time, level) pairs of one device's load path; the first holds from t = 0."""
    levels = cfg.levels
    k = len(levels)
    state = int(rng.integers(k)) if cfg.initial == "draw" else int(cfg.initial)
    while True:
        yield float(rng.exponential(cfg.mean_hold_s)), levels[state]
        if k > 1:
            nxt = int(rng.integers(k - 1))
            state = nxt if nxt < state else nxt + 1


#: Pairs a shared path keeps; a reader going further draws its own continuation (re-drawing the kept part).
RECORD_MAX = 4096


class _RecordedPath:
    """One device's load path, drawn once from its substream and replayed to every reader (the first
    :data:`RECORD_MAX` pairs: the memory of a run with many load changes stays bounded)."""

    __slots__ = ("cfg", "ss", "draw", "items")

    def __init__(self, cfg: BackgroundLoad, ss: np.random.SeedSequence) -> None:
        self.cfg = cfg
        self.ss = ss
        self.draw = load_path(cfg, np.random.default_rng(ss))
        self.items: list[tuple[float, float]] = []

    def __iter__(self) -> Iterator[tuple[float, float]]:
        items = self.items
        i = 0
        while True:
            if i == len(items):
                if i >= RECORD_MAX:
                    break
                items.append(next(self.draw))
            yield items[i]
            i += 1
        own = load_path(self.cfg, np.random.default_rng(self.ss))  # past the kept part: this reader's own draws
        for _ in range(i):
            next(own)
        yield from own


#: Recently used paths, by (substream entropy, spawn key, pool size, config): an environment episode reads one
#: device's path up to three times (the engine run and the single-device reference walks).
_PATHS: OrderedDict[tuple, _RecordedPath] = OrderedDict()
_PATHS_SIZE = 64


def shared_load_path(cfg: BackgroundLoad, ss: np.random.SeedSequence) -> Iterator[tuple[float, float]]:
    """What ``load_path(cfg, np.random.default_rng(ss))`` yields, pair for pair; for a substream of an
    integer seed the pairs drawn are kept (recently used substreams) and replayed to the next reader,
    so the engine and the single-device walks of one seed draw each path once."""
    if type(ss.entropy) is not int:
        return load_path(cfg, np.random.default_rng(ss))
    key = (ss.entropy, ss.spawn_key, ss.pool_size, cfg)
    rec = _PATHS.get(key)
    if rec is None:
        rec = _PATHS[key] = _RecordedPath(cfg, ss)
        if len(_PATHS) > _PATHS_SIZE:
            _PATHS.popitem(last=False)
    return iter(rec)


def background_process(env, cfg: BackgroundLoad, rng: np.random.Generator | None, on_change: Callable[[float], None],
                       path: Iterator[tuple[float, float]] | None = None):
    """SimPy process: call ``on_change(level)`` at t = 0 and at every jump of the load path (drawn from
    ``rng``, or ``path``: the pairs :func:`load_path` yields, e.g. :func:`shared_load_path`)."""
    last = None
    constant = cfg.constant
    for hold, level in (load_path(cfg, rng) if path is None else path):
        if level != last:
            on_change(level)
            last = level
        if constant:
            return  # it never changes: no need to keep the event queue alive (a stalled run then ends)
        yield env.timeout(hold)


def trace_process(env, steps: list[tuple[float, float]], on_change: Callable[[float], None]):
    """SimPy process: call ``on_change(share)`` at each (time, share) of ``steps`` (a device's
    :meth:`LoadTrace.changes`); it waits ``time − now`` between them."""
    for t, share in steps:
        if t > env.now:
            yield env.timeout(t - env.now)
        on_change(share)


@dataclass(frozen=True)
class HardwareState:
    """A snapshot of what the scheduler sees of the hardware at one instant.

    ``load``: background share per device (cpu, gpu); ``host_busy``: the host dispatch thread is
    launching a kernel; ``contention``: the DRAM bandwidth factor in force (1 = none).
    """

    mode: str
    precision: str
    load_cpu: float
    load_gpu: float
    host_busy: bool
    contention: float

    def to_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return {"mode": self.mode, "precision": self.precision, "load_cpu": self.load_cpu,
                "load_gpu": self.load_gpu, "host_busy": self.host_busy, "contention": self.contention}
