"""What a scenario is, as frozen values: background load, request streams, deadlines (docs/architecture.md §4.5).

A *scenario* is the situation a workload runs in, independent of the workload and of the placement
policy: how busy other tenants keep each device (:class:`LoadSpec`), how the workload's requests
arrive and are batched (the primary :class:`StreamSpec`, whose workload is the one the command names),
and which other DNNs run beside it (co-run :class:`StreamSpec` values, each naming its workload and its
own placement policy), and when the board switches power mode (:class:`PowerSwitch`). Every value is validated on construction; a bad field raises
:class:`~sparoa_sim.errors.SimulationError` naming it. :mod:`sparoa_sim.scenarios.engine` turns a
scenario into the engine's arguments; :mod:`sparoa_sim.scenarios.files` reads and writes the TOML form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sparoa_sim.errors import SimulationError
from sparoa_sim.limits import MAX_REQUESTS  # the one limits table (README "Limits")
from sparoa_sim.sim.hwstate import MAX_LOAD

__all__ = ["ARRIVAL_KINDS", "LOAD_KINDS", "SCENARIO_VERSION", "ArrivalSpec", "LoadSpec", "PowerSwitch", "Scenario",
           "StreamSpec"]

#: Version of the scenario file format (``version`` in a file; a newer one is refused).
SCENARIO_VERSION = 1
LOAD_KINDS = ("fixed", "markov", "trace")
ARRIVAL_KINDS = ("closed", "poisson", "periodic", "bursts", "trace")


def _num(where: str, value: object, *, lo: float = 0.0, hi: float = math.inf, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SimulationError(f"{where}: expected a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < lo or v > hi or (lo_open and v <= lo):
        rng = f"({lo:g}, {hi:g}]" if lo_open else f"[{lo:g}, {hi:g}]"
        raise SimulationError(f"{where}: {value!r} is outside {rng}")
    return v


def _int(where: str, value: object, lo: int = 1, hi: int = MAX_REQUESTS) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SimulationError(f"{where}: expected an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


def _share(where: str, value: object) -> float:
    return _num(where, value, lo=0.0, hi=MAX_LOAD)


@dataclass(frozen=True)
class LoadSpec:
    """Background load of other tenants.

    ``fixed``: constant shares ``cpu`` and ``gpu`` (the oracle can solve it); ``markov``: each device in
    ``devices`` jumps among ``levels`` with exponential holding times of mean ``mean_hold_s``;
    ``trace``: piecewise-constant ``points`` ``(time_s, cpu, gpu)``, the first at t = 0.
    """

    kind: str = "fixed"
    cpu: float = 0.0
    gpu: float = 0.0
    levels: tuple[float, ...] = ()
    mean_hold_s: float = 0.02
    devices: tuple[str, ...] = ("cpu", "gpu")
    points: tuple[tuple[float, float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in LOAD_KINDS:
            raise SimulationError(f"background.kind: unknown kind {self.kind!r} (known: {', '.join(LOAD_KINDS)})")
        object.__setattr__(self, "cpu", _share("background.cpu", self.cpu))
        object.__setattr__(self, "gpu", _share("background.gpu", self.gpu))
        if self.kind == "markov":
            if not isinstance(self.levels, (list, tuple)) or not self.levels:
                raise SimulationError(f"background.levels: a markov load needs a list of shares, got {self.levels!r}")
            object.__setattr__(self, "levels", tuple(_share(f"background.levels[{i}]", x)
                                                     for i, x in enumerate(self.levels)))
            object.__setattr__(self, "mean_hold_s", _num("background.mean_hold_s", self.mean_hold_s, lo=0.0,
                                                         hi=3600.0, lo_open=True))
            devs = tuple(self.devices) if isinstance(self.devices, (list, tuple)) else (self.devices,)
            if not devs or any(d not in ("cpu", "gpu") for d in devs) or len(set(devs)) != len(devs):
                raise SimulationError(f"background.devices: expected 'cpu' and/or 'gpu', got {self.devices!r}")
            object.__setattr__(self, "devices", devs)
        if self.kind == "trace":
            if not isinstance(self.points, (list, tuple)) or not self.points:
                raise SimulationError(f"background.points: a trace needs [time_s, cpu, gpu] points, got {self.points!r}")
            pts = []
            for i, p in enumerate(self.points):
                if not isinstance(p, (list, tuple)) or len(p) != 3:
                    raise SimulationError(f"background.points[{i}]: expected [time_s, cpu, gpu], got {p!r}")
                t = _num(f"background.points[{i}].time_s", p[0], hi=1e6)
                if pts and t <= pts[-1][0]:
                    raise SimulationError(f"background.points[{i}].time_s: times must increase, got {t!r} after "
                                          f"{pts[-1][0]!r}")
                if not pts and t != 0.0:
                    raise SimulationError(f"background.points[0].time_s: the first point must be at 0, got {t!r}")
                pts.append((t, _share(f"background.points[{i}].cpu", p[1]), _share(f"background.points[{i}].gpu", p[2])))
            object.__setattr__(self, "points", tuple(pts))

    @property
    def fixed(self) -> tuple[float, float] | None:
        """(cpu, gpu) shares when the load never changes, else None."""
        if self.kind == "fixed":
            return (self.cpu, self.gpu)
        if self.kind == "trace" and len(self.points) == 1:
            return self.points[0][1:]
        if self.kind == "markov" and len(set(self.levels)) == 1:
            lv = self.levels[0]
            return (lv if "cpu" in self.devices else 0.0, lv if "gpu" in self.devices else 0.0)
        return None

    def describe(self) -> str:
        """Short text for tables."""
        if self.kind == "fixed":
            return f"cpu={self.cpu:g},gpu={self.gpu:g}"
        if self.kind == "markov":
            return f"markov({'/'.join(f'{x:g}' for x in self.levels)} on {'+'.join(self.devices)})"
        return f"trace({len(self.points)} steps)"


@dataclass(frozen=True)
class ArrivalSpec:
    """How a stream's requests arrive.

    ``closed``: ``concurrency`` clients back to back; ``poisson``: at ``rate`` per second; ``periodic``: a
    camera at ``fps`` frames per second; ``bursts``: ``burst`` requests together every ``every_s`` seconds;
    ``trace``: the given ``times``. ``requests``: how many (a trace's own count when it has times).
    """

    kind: str = "closed"
    requests: int = 1
    concurrency: int | None = None
    rate: float = 0.0
    fps: float = 0.0
    burst: int = 1
    every_s: float = 0.0
    times: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ARRIVAL_KINDS:
            raise SimulationError(f"arrival.kind: unknown kind {self.kind!r} (known: {', '.join(ARRIVAL_KINDS)})")
        if self.kind == "trace":
            if not isinstance(self.times, (list, tuple)) or not self.times:
                raise SimulationError(f"arrival.times: a trace needs a list of arrival times, got {self.times!r}")
            ts = tuple(_num(f"arrival.times[{i}]", t, hi=1e6) for i, t in enumerate(self.times))
            if any(b < a for a, b in zip(ts, ts[1:])):
                raise SimulationError("arrival.times: times must be sorted ascending")
            if len(ts) > MAX_REQUESTS:
                raise SimulationError(f"arrival.times: at most {MAX_REQUESTS} arrivals, got {len(ts)}")
            object.__setattr__(self, "times", ts)
            object.__setattr__(self, "requests", len(ts))
        else:
            object.__setattr__(self, "requests", _int("arrival.requests", self.requests))
        if self.kind == "closed" and self.concurrency is not None:
            object.__setattr__(self, "concurrency", _int("arrival.concurrency", self.concurrency, 1, 4096))
        if self.kind == "poisson":
            object.__setattr__(self, "rate", _num("arrival.rate", self.rate, lo=1e-3, hi=1e6))
        if self.kind == "periodic":
            object.__setattr__(self, "fps", _num("arrival.fps", self.fps, lo=1e-3, hi=1e6))
        if self.kind == "bursts":
            object.__setattr__(self, "burst", _int("arrival.burst", self.burst, 1, 4096))
            object.__setattr__(self, "every_s", _num("arrival.every_s", self.every_s, lo=1e-6, hi=3600.0))

    @property
    def span_s(self) -> float:
        """When the last request arrives (0 for a closed loop): bounds the simulated time."""
        if self.kind == "poisson":
            return self.requests / self.rate
        if self.kind == "periodic":
            return (self.requests - 1) / self.fps
        if self.kind == "bursts":
            return (math.ceil(self.requests / self.burst) - 1) * self.every_s
        if self.kind == "trace":
            return self.times[-1]
        return 0.0

    def describe(self) -> str:
        """Short text for tables."""
        return {"closed": f"closed:{self.concurrency or 1}", "poisson": f"poisson:{self.rate:g}/s",
                "periodic": f"{self.fps:g} fps", "bursts": f"{self.burst} every {self.every_s:g} s",
                "trace": f"trace:{self.requests}"}[self.kind] + f" ×{self.requests}"


@dataclass(frozen=True)
class StreamSpec:
    """One request stream: its workload (None: the command's), placement policy, arrivals, batching, deadline."""

    workload: str | None = None
    policy: str = "gpu"
    arrival: ArrivalSpec = field(default_factory=ArrivalSpec)
    max_batch: int = 1
    timeout_s: float = math.inf
    max_inflight: int = 1
    deadline_s: float | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        where = f"stream {self.name or self.workload or 'primary'}"
        if self.workload is not None and (not isinstance(self.workload, str) or not self.workload.strip()):
            raise SimulationError(f"{where}: workload must be a workload name or path, got {self.workload!r}")
        if not isinstance(self.policy, str) or not self.policy or self.policy == "external":
            raise SimulationError(f"{where}: policy must be a policy name or schedule file (not 'external'), "
                                  f"got {self.policy!r}")
        if not isinstance(self.arrival, ArrivalSpec):
            raise SimulationError(f"{where}: arrival must be an ArrivalSpec, got {self.arrival!r}")
        object.__setattr__(self, "max_batch", _int(f"{where}.max_batch", self.max_batch, 1, 1024))
        object.__setattr__(self, "max_inflight", _int(f"{where}.max_inflight", self.max_inflight, 1, 1024))
        t = self.timeout_s
        if not (isinstance(t, (int, float)) and not isinstance(t, bool) and (t == math.inf or math.isfinite(t))
                and t >= 0):
            raise SimulationError(f"{where}.timeout_s: expected a non-negative number of seconds, got {t!r}")
        object.__setattr__(self, "timeout_s", float(t))
        if self.deadline_s is not None:
            object.__setattr__(self, "deadline_s", _num(f"{where}.deadline_s", self.deadline_s, lo=0.0, hi=3600.0,
                                                        lo_open=True))
        if self.name is not None and (not isinstance(self.name, str) or not self.name.strip()):
            raise SimulationError(f"{where}: name must be a non-empty string, got {self.name!r}")


@dataclass(frozen=True)
class PowerSwitch:
    """At ``time_s`` seconds into the run the board switches to power mode ``mode`` (a mode of the platform the
    scenario runs on, checked when it runs; what changes when: :mod:`sparoa_sim.sim.powerswitch`)."""

    time_s: float
    mode: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "time_s", _num("power.time_s", self.time_s, hi=1e6))
        if not isinstance(self.mode, str) or not self.mode.strip():
            raise SimulationError(f"power.mode: expected a power mode name (e.g. '7W'), got {self.mode!r}")


@dataclass(frozen=True)
class Scenario:
    """A named situation: background load, the primary stream, co-running streams, power-mode switches."""

    name: str
    description: str = ""
    background: LoadSpec | None = None
    primary: StreamSpec = field(default_factory=StreamSpec)
    coruns: tuple[StreamSpec, ...] = ()
    version: int = SCENARIO_VERSION
    power: tuple[PowerSwitch, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 200:
            raise SimulationError(f"scenario name: expected a non-empty string, got {self.name!r}")
        if not isinstance(self.description, str):
            raise SimulationError(f"scenario {self.name}: description must be a string, got {self.description!r}")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or not 1 <= self.version <= SCENARIO_VERSION:
            raise SimulationError(f"scenario {self.name}: version {self.version!r} is not supported "
                                  f"(this sparoa-sim reads versions 1..{SCENARIO_VERSION})")
        if self.background is not None and not isinstance(self.background, LoadSpec):
            raise SimulationError(f"scenario {self.name}: background must be a LoadSpec, got {self.background!r}")
        if self.primary.workload is not None:
            raise SimulationError(f"scenario {self.name}: the primary stream's workload is the command's "
                                  f"(--workload); got {self.primary.workload!r}")
        object.__setattr__(self, "coruns", tuple(self.coruns))
        names = set()
        for i, c in enumerate(self.coruns):
            if not isinstance(c, StreamSpec) or c.workload is None:
                raise SimulationError(f"scenario {self.name}: corun[{i}] must name its workload")
            label = c.name or c.workload
            if label in names:
                raise SimulationError(f"scenario {self.name}: corun[{i}]: two co-runs named {label!r} (give each a name)")
            names.add(label)
        if len(self.coruns) > 8:
            raise SimulationError(f"scenario {self.name}: at most 8 co-running streams, got {len(self.coruns)}")
        if not isinstance(self.power, (list, tuple)):
            raise SimulationError(f"scenario {self.name}: power must be a list of PowerSwitch, got {self.power!r}")
        object.__setattr__(self, "power", tuple(self.power))
        if len(self.power) > 1000:
            raise SimulationError(f"scenario {self.name}: at most 1000 power switches, got {len(self.power)}")
        for i, sw in enumerate(self.power):
            if not isinstance(sw, PowerSwitch):
                raise SimulationError(f"scenario {self.name}: power[{i}] must be a PowerSwitch, got {sw!r}")
            if i and sw.time_s <= self.power[i - 1].time_s:
                raise SimulationError(f"scenario {self.name}: power[{i}].time_s: times must increase, got "
                                      f"{sw.time_s!r} after {self.power[i - 1].time_s!r}")

    @property
    def fixed_load(self) -> tuple[float, float] | None:
        """(cpu, gpu) background shares when they never change (idle: (0, 0)); None when they do."""
        return (0.0, 0.0) if self.background is None else self.background.fixed

    @property
    def load_levels(self) -> tuple[tuple[float, float], ...]:
        """The fixed (cpu, gpu) loads the scenario visits: its one load, a Markov chain's levels, a trace's
        steps — what a load-aware policy trains on and what the oracle solves at, one by one."""
        if self.fixed_load is not None:
            return (self.fixed_load,)
        b = self.background
        if b.kind == "markov":
            return tuple(dict.fromkeys((lv if "cpu" in b.devices else 0.0, lv if "gpu" in b.devices else 0.0)
                                       for lv in b.levels))
        return tuple(dict.fromkeys((c, g) for _t, c, g in b.points))

    @property
    def single_inference(self) -> bool:
        """One request at a time, nothing beside it: what the oracle solves (at its fixed load)."""
        a, p = self.primary.arrival, self.primary
        return not self.coruns and a.kind == "closed" and (a.concurrency or 1) == 1 and p.max_batch == 1

    @property
    def stochastic(self) -> bool:
        """Results depend on the seed beyond latency noise (a Markov load, Poisson arrivals); a load trace is
        deterministic."""
        streams = (self.primary, *self.coruns)
        markov = self.background is not None and self.background.kind == "markov" and self.fixed_load is None
        return markov or any(s.arrival.kind == "poisson" for s in streams)
