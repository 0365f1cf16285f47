"""The real-time hardware state the scheduler observes: power mode, precision, background load.

Background load (docs/architecture.md §4) is a piecewise-constant, Markov-modulated share of each device taken
by other tenants: the share of a device stays at one of ``levels`` for an exponentially
distributed holding time (mean ``mean_hold_s``), then jumps to another level drawn uniformly
among the others. Each device has its own path drawn from its own random substream, so the path
is a function of the seed alone — two policies run with one seed see the same load at the same
times (common random numbers), whatever their events.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np

from sparoa_sim.errors import SimulationError

__all__ = ["MAX_LOAD", "BackgroundLoad", "HardwareState", "background_process", "load_path"]

#: The largest share of a device that background and dispatch load may take together (a device
#: never stops); a background level is at most this.
MAX_LOAD = 0.95


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


def background_process(env, cfg: BackgroundLoad, rng: np.random.Generator, on_change: Callable[[float], None]):
    """SimPy process: call ``on_change(level)`` at t = 0 and at every jump of the load path."""
    last = None
    constant = len(set(cfg.levels)) == 1
    for hold, level in load_path(cfg, rng):
        if level != last:
            on_change(level)
            last = level
        if constant:
            return  # it never changes: no need to keep the event queue alive (a stalled run then ends)
        yield env.timeout(hold)


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
