"""Energy meters: RAPL (x86 CPUs), NVML (NVIDIA GPUs), Jetson (tegrastats / jetson-stats).

See docs/architecture.md §7.

Each meter is optional and detected at run time; a meter that is absent (no sysfs tree, no
permission, no library, no device) says so and why, and its energy is ``None`` — never an
estimate. :func:`measure_energy` measures a block with every available meter::

    with measure_energy() as m:
        run_something()
    m.energy_j      # joules, or None when no meter is present
    m.readings      # per meter: joules per domain, how it was measured, or why it is absent

Counters (RAPL ``energy_uj``, NVML total energy) are read at the start and end of the block and
at every poll in between, so a counter that wraps around (RAPL's wraps every few minutes under
load) is accounted for as long as it wraps at most once between two reads. Meters without a
counter (tegrastats rails, NVML power on older GPUs) integrate sampled power over the block.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sparoa_sim.real.measure.tegra_rails import board_power

__all__ = [
    "EnergyMeasurement",
    "JetsonMeter",
    "Meter",
    "MeterReading",
    "NvmlMeter",
    "RaplMeter",
    "detect_meters",
    "measure_energy",
    "parse_tegrastats",
]

RAPL_ROOT = Path("/sys/class/powercap")
_RAPL_ZONE = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")
_TEGRA_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*)\s+(\d+)(?:mW)?/(\d+)(?:mW)?\b")  # Orin: 5123mW/5000mW; older: 5123/5000


@dataclass(frozen=True)
class MeterReading:
    """What one meter measured over a block: joules per domain, or why it could not."""

    meter: str
    available: bool
    energy_j: float | None  # total over the meter's counted domains; None when absent
    domains: Mapping[str, float] = field(default_factory=dict)
    method: str = ""  # "counter" | "sampled power" | "" (absent)
    reason: str = ""  # why the meter is absent


class Meter(Protocol):
    """One energy meter: detected at construction, read around a block."""

    name: str
    available: bool
    reason: str

    def start(self) -> None: ...

    def poll(self) -> None: ...

    def stop(self) -> MeterReading: ...


def _absent(name: str, reason: str) -> MeterReading:
    return MeterReading(meter=name, available=False, energy_j=None, reason=reason)


# ---------------------------------------------------------------------------------------------
# RAPL


@dataclass
class _Counter:
    """A wrapping energy counter in µJ, accumulated across polls."""

    path: Path
    max_range: int
    last: int = 0
    total_uj: int = 0

    def read(self) -> int:
        return int(self.path.read_text().strip())

    def reset(self) -> None:
        self.last = self.read()
        self.total_uj = 0

    def advance(self) -> None:
        now = self.read()
        delta = now - self.last
        if delta < 0:  # wrapped around once since the last read
            delta += self.max_range
        self.total_uj += delta
        self.last = now


class RaplMeter:
    """Intel/AMD RAPL through the powercap sysfs tree (``energy_uj`` counters per zone).

    Counted: every ``package-*`` zone plus ``dram`` sub-zones (DRAM is outside the package);
    where there is no package zone, ``psys`` (the platform). Others are reported per domain.
    """

    name = "rapl"

    def __init__(self, root: str | Path = RAPL_ROOT) -> None:
        self.root = Path(root)
        self.available = False
        self.reason = ""
        self._zones: dict[str, _Counter] = {}
        self._counted: list[str] = []
        self._discover()

    def _discover(self) -> None:
        if not self.root.is_dir():
            self.reason = f"no powercap tree at {self.root}"
            return
        zones: dict[str, _Counter] = {}
        denied = []
        for d in sorted(self.root.iterdir(), key=lambda p: p.name):
            m = _RAPL_ZONE.match(d.name)
            if not m or not (d / "energy_uj").exists():
                continue
            try:
                label = (d / "name").read_text().strip() if (d / "name").exists() else d.name
                counter = _Counter(d / "energy_uj", int((d / "max_energy_range_uj").read_text().strip()))
                counter.read()
            except PermissionError:
                denied.append(d.name)
                continue
            except (OSError, ValueError) as exc:
                denied.append(f"{d.name} ({exc})")
                continue
            key = label if m.group(2) is None else f"{label}:{m.group(1)}"  # sub-zones: core:0, dram:0
            zones[key if key not in zones else f"{key}@{d.name}"] = counter
        if not zones:
            self.reason = (f"RAPL counters under {self.root} are not readable ({', '.join(denied)}): permission denied"
                           if denied else f"no RAPL zones under {self.root}")
            return
        packages = [k for k in zones if k.startswith("package")]
        dram = [k for k in zones if k.startswith("dram:")]
        self._counted = packages + dram if packages else [k for k in zones if k.startswith("psys")]
        if not self._counted:
            self.reason = f"RAPL under {self.root} has neither package nor psys zones ({', '.join(zones)})"
            return
        self._zones = zones
        self.available = True

    def start(self) -> None:
        for c in self._zones.values():
            c.reset()

    def poll(self) -> None:
        for c in self._zones.values():
            c.advance()

    def stop(self) -> MeterReading:
        if not self.available:
            return _absent(self.name, self.reason)
        self.poll()
        domains = {k: c.total_uj / 1e6 for k, c in self._zones.items()}
        return MeterReading(self.name, True, sum(domains[k] for k in self._counted), domains, "counter")


# ---------------------------------------------------------------------------------------------
# NVML


class NvmlMeter:
    """An NVIDIA GPU through NVML (``pynvml``): the total-energy counter, else sampled power."""

    name = "nvml"

    def __init__(self, index: int = 0) -> None:
        self.index = index
        self.available = False
        self.reason = ""
        self._nvml: Any = None
        self._handle: Any = None
        self._counter = False
        self._e0 = 0.0
        self._joules = 0.0
        self._last_t = 0.0
        self._last_p = 0.0
        try:
            import pynvml  # type: ignore[import-not-found]
        except ImportError:
            self.reason = "pynvml is not installed (pip install nvidia-ml-py)"
            return
        try:
            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        except Exception as exc:  # noqa: BLE001 - NVMLError has many subclasses; any means absent
            self.reason = f"NVML has no GPU {index}: {exc}"
            return
        self._nvml = pynvml
        try:
            pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
            self._counter = True
        except Exception:  # noqa: BLE001 - not supported before Volta
            try:
                pynvml.nvmlDeviceGetPowerUsage(self._handle)
            except Exception as exc:  # noqa: BLE001
                self.reason = f"NVML GPU {index} reports neither energy nor power: {exc}"
                return
        self.available = True

    def _power_w(self) -> float:
        return self._nvml.nvmlDeviceGetPowerUsage(self._handle) / 1e3

    def start(self) -> None:
        if not self.available:
            return
        self._joules = 0.0
        if self._counter:
            self._e0 = self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1e3
        else:
            self._last_t, self._last_p = time.perf_counter(), self._power_w()

    def poll(self) -> None:
        if not self.available or self._counter:
            return
        t, p = time.perf_counter(), self._power_w()
        self._joules += 0.5 * (p + self._last_p) * (t - self._last_t)
        self._last_t, self._last_p = t, p

    def stop(self) -> MeterReading:
        if not self.available:
            return _absent(self.name, self.reason)
        if self._counter:
            e = self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1e3 - self._e0
            return MeterReading(self.name, True, e, {f"gpu{self.index}": e}, "counter")
        self.poll()
        return MeterReading(self.name, True, self._joules, {f"gpu{self.index}": self._joules}, "sampled power")


# ---------------------------------------------------------------------------------------------
# Jetson


def parse_tegrastats(line: str) -> dict[str, float]:
    """Rail powers in watts from one tegrastats line (``VDD_IN 5123mW/5000mW``, older ``POM_5V_IN 5123/5000``).

    Each rail reads current/average milliwatts; ``RAM 2448/30536MB`` and the like are not rails.
    """
    return {m.group(1): int(m.group(2)) / 1e3 for m in _TEGRA_RAIL.finditer(line)}


def _board_rail(rails: Mapping[str, float]) -> float | None:
    """The module power of a tegrastats sample in watts (``tegra_rails.board_power``), or None."""
    return board_power(rails).watts


class JetsonMeter:
    """A Jetson module's power from ``tegrastats`` (or jetson-stats' ``jtop``), integrated.

    From tegrastats: the input rail where the module has one, else the sum of its rails
    (``tegra_rails.MODULE_RAILS``); the reading's domain says which. Samples without a known
    total are counted and, when none had one, the reading names the rails seen.
    """

    name = "jetson"

    def __init__(self, interval_ms: int = 100, tegrastats: str | None = None) -> None:
        self.interval_ms = interval_ms
        self.available = False
        self.reason = ""
        self._exe = tegrastats or shutil.which("tegrastats")
        self._jtop: Any = None
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None
        self._samples: list[tuple[float, float]] = []
        self._seen: set[str] = set()  # rails in the samples without a known total
        self._why = ""  # the last such sample's reason
        self._rule = ""  # the rails the last usable sample's total came from
        self._lines = 0
        if self._exe:
            self.available = True
            return
        try:
            from jtop import jtop  # type: ignore[import-not-found]
        except ImportError:
            self.reason = "not a Jetson: no tegrastats on PATH and jetson-stats (jtop) is not installed"
            return
        self._jtop = jtop
        self.available = True

    def _read_tegrastats(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self._take(line, time.perf_counter())

    def _take(self, line: str, t: float) -> None:
        """Keep one tegrastats line's module power (or remember why it had none)."""
        rails = parse_tegrastats(line)
        if not rails:
            return
        self._lines += 1
        got = board_power(rails)
        if got.watts is None:
            self._seen.update(rails)
            self._why = got.reason
            return
        self._rule = "+".join(got.rails)
        self._samples.append((t, got.watts))

    def _read_jtop(self, stop: threading.Event) -> None:
        with self._jtop(interval=self.interval_ms / 1e3) as jetson:
            while not stop.is_set() and jetson.ok():
                tot = jetson.power.get("tot", {})
                if "power" in tot:
                    self._samples.append((time.perf_counter(), tot["power"] / 1e3))

    def start(self) -> None:
        if not self.available:
            return
        self._samples = []
        self._seen, self._why, self._rule, self._lines = set(), "", "", 0
        self._stop = threading.Event()
        if self._exe:
            self._proc = subprocess.Popen([self._exe, "--interval", str(self.interval_ms)], stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True)
            self._thread = threading.Thread(target=self._read_tegrastats, daemon=True)
        else:
            self._thread = threading.Thread(target=self._read_jtop, args=(self._stop,), daemon=True)
        self._t0 = time.perf_counter()
        self._thread.start()

    def poll(self) -> None:
        """Samples arrive on their own thread."""

    def stop(self) -> MeterReading:
        if not self.available:
            return _absent(self.name, self.reason)
        t1 = time.perf_counter()
        self._stop.set()
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=5)
            self._proc = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        samples = [(t, p) for t, p in self._samples if self._t0 <= t <= t1]
        if not samples:
            if self._lines and self._why:  # tegrastats spoke, but no sample had a known total
                return MeterReading(self.name, False, None, reason=f"tegrastats: {self._why}")
            return MeterReading(self.name, False, None, reason=f"no power sample within the {t1 - self._t0:.3f} s "
                                f"block (interval {self.interval_ms} ms): make the block longer")
        e = integrate_power(samples, self._t0, t1)
        key = f"module ({self._rule})" if self._rule else "module (jtop tot)"
        return MeterReading(self.name, True, e, {key: e}, "sampled power")


def integrate_power(samples: Sequence[tuple[float, float]], t0: float, t1: float) -> float:
    """Joules from (time, watts) samples over [t0, t1]: each sample holds until the next one."""
    pts = sorted(samples)
    e = 0.0
    for k, (t, p) in enumerate(pts):
        lo = t0 if k == 0 else t
        hi = pts[k + 1][0] if k + 1 < len(pts) else t1
        e += p * max(0.0, hi - lo)
    return e


# ---------------------------------------------------------------------------------------------
# detection and measurement


def detect_meters(rapl_root: str | Path = RAPL_ROOT, nvml_index: int = 0) -> dict[str, Meter]:
    """Every meter by name (``jetson``, ``nvml``, ``rapl``), each saying whether it is available."""
    return {"jetson": JetsonMeter(), "nvml": NvmlMeter(nvml_index), "rapl": RaplMeter(rapl_root)}


@dataclass
class EnergyMeasurement:
    """Filled when the :func:`measure_energy` block ends."""

    readings: dict[str, MeterReading] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def energy_j(self) -> float | None:
        """Board energy on a Jetson; else CPU (RAPL) + GPU (NVML) where present; None without meters.
        :attr:`scope` says which of these the figure covers (GPU alone where RAPL is absent)."""
        jet = self.readings.get("jetson")
        if jet is not None and jet.energy_j is not None:
            return jet.energy_j
        parts = [r.energy_j for k, r in self.readings.items() if k in ("rapl", "nvml") and r.energy_j is not None]
        return sum(parts) if parts else None

    @property
    def scope(self) -> str | None:
        """What :attr:`energy_j` covers: "board", "cpu+gpu", "cpu only", "gpu only", or None."""
        jet = self.readings.get("jetson")
        if jet is not None and jet.energy_j is not None:
            return "board"
        have = [k for k in ("rapl", "nvml") if (r := self.readings.get(k)) is not None and r.energy_j is not None]
        return {("rapl", "nvml"): "cpu+gpu", ("rapl",): "cpu only", ("nvml",): "gpu only"}.get(tuple(have))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: total, duration and each meter's reading or absence reason."""
        return {"energy_j": self.energy_j, "energy_scope": self.scope, "duration_s": self.duration_s,
                "meters": {k: {"available": r.available, "energy_j": r.energy_j, "domains": dict(r.domains),
                               "method": r.method, "reason": r.reason} for k, r in self.readings.items()}}


@contextlib.contextmanager
def measure_energy(meters: Mapping[str, Meter] | None = None, poll_s: float | None = 1.0) -> Iterator[EnergyMeasurement]:
    """Measure the energy of the ``with`` block with every available meter (see the module doc).

    ``poll_s``: how often counters are read meanwhile (catches wrap-around in long blocks);
    None reads them only at the start and the end.
    """
    meters = detect_meters() if meters is None else meters
    result = EnergyMeasurement()
    live = {name: m for name, m in meters.items() if m.available}
    failed: dict[str, str] = {}  # meter → why its figure cannot be trusted (never estimated instead)
    started: list[str] = []
    stop = threading.Event()
    poller = None
    t0 = time.perf_counter()
    try:
        for name, m in live.items():
            m.start()
            started.append(name)

        if poll_s is not None and live:
            def _poll() -> None:
                while not stop.wait(poll_s):
                    for name, m in live.items():
                        if name in failed:
                            continue
                        try:
                            m.poll()
                        except Exception as exc:  # noqa: BLE001 - a missed read could hide a counter wrap
                            failed[name] = f"reading failed while measuring: {type(exc).__name__}: {exc}"

            poller = threading.Thread(target=_poll, daemon=True)
            poller.start()
        yield result
    finally:
        result.duration_s = time.perf_counter() - t0
        stop.set()
        if poller is not None:
            poller.join()
        readings: dict[str, MeterReading] = {}
        for name, m in meters.items():
            if name in live and name not in started:  # a meter before it failed to start: never read
                readings[name] = MeterReading(name, False, None, reason=failed.get(name, "not started"))
                continue
            try:  # each meter stops on its own: one failing leaves the others stopped, the block's error kept
                r = m.stop()
            except Exception as exc:  # noqa: BLE001
                r = MeterReading(name, False, None, reason=f"stopping failed: {type(exc).__name__}: {exc}")
            if name in failed:
                r = MeterReading(name, False, None, reason=failed[name])
            readings[name] = r
        result.readings = readings
