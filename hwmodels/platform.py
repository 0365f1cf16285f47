"""Value types of a hardware platform: devices, power modes, interconnect, energy coefficients.

A :class:`Platform` is what a TOML profile describes (docs/architecture.md §3): a CPU and a GPU
:class:`DeviceSpec`, the shared memory, the copy path between the devices and the power modes,
each mode carrying its clock/core caps and its energy coefficients. All values are frozen; the
origin of every number (datasheet, derived, measured, fitted, assumed) is kept in
``Platform.provenance`` and shown by :meth:`Platform.to_dict`.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from sparoa_sim.hwmodels.errors import ProfileError
from sparoa_sim.hwmodels.params import ACT_CACHE_PARAMS, ACT_SPARSE_PARAMS, OPTIONAL_TERMS, SCALAR_PARAMS, LatencyParams
from sparoa_sim.hwmodels.kinds import KINDS

__all__ = [
    "CPU",
    "DEVICE_KINDS",
    "DeviceEnergy",
    "DeviceSpec",
    "EnergyCoefficients",
    "GPU",
    "Interconnect",
    "Memory",
    "ORIGINS",
    "PRECISIONS",
    "PRECISION_BYTES",
    "PerPrecision",
    "Platform",
    "PowerMode",
    "Tagged",
    "TENSOR_CORE_KINDS",
    "TF32_KINDS",
    "TF32_MODES",
    "device_index",
]

#: Where a number came from.
ORIGINS: tuple[str, ...] = ("datasheet", "derived", "measured", "fitted", "assumed")
#: Simulation precisions as PyTorch runs them (docs/architecture.md §3): ``fp32`` (with TF32 tensor
#: cores for the kinds :data:`TF32_KINDS` names under the platform's ``tf32`` switch) and ``fp16``
#: (``.half()``: tensor cores for the kinds in :data:`TENSOR_CORE_KINDS`, CUDA cores / the CPU's
#: FP16 path elsewhere); ``fp16_tc`` is kept as an alias of ``fp16``.
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "fp16_tc")
#: Bytes per value at each precision (scales the graph's byte counts, see ``OpArrays.elem_bytes``).
PRECISION_BYTES: dict[str, float] = {"fp32": 4.0, "fp16": 2.0, "fp16_tc": 2.0}
#: Kinds whose dense kernels run on tensor cores under ``fp16_tc`` (others use the FP16 peak).
TENSOR_CORE_KINDS: tuple[str, ...] = ("conv", "linear", "matmul", "attention")
#: The ``tf32`` switch: which FP32 kinds run on TF32 tensor cores. "conv" is PyTorch's default
#: (``torch.backends.cudnn.allow_tf32 = True``, ``torch.backends.cuda.matmul.allow_tf32 = False``
#: since PyTorch 1.12), "all" turns matmul on too, "none" turns both off.
TF32_MODES: tuple[str, ...] = ("conv", "all", "none")
TF32_KINDS: dict[str, tuple[str, ...]] = {
    "conv": ("conv",),
    "all": ("conv", "linear", "matmul", "attention"),
    "none": (),
}
#: Device kinds, in column order of every (n_ops, 2) array: 0 = CPU, 1 = GPU.
DEVICE_KINDS: tuple[str, ...] = ("cpu", "gpu")
CPU: int = 0
GPU: int = 1

# Keys whose numbers are identifiers, not measurements: they carry no origin tag.
UNTAGGED_KEYS = frozenset({"schema_version", "nvpmodel_id"})


def device_index(kind: str | int) -> int:
    """Column index of a device kind (``"cpu"`` → 0, ``"gpu"`` → 1); ProfileError if unknown."""
    if isinstance(kind, int) and not isinstance(kind, bool) and kind in (CPU, GPU):
        return kind
    if isinstance(kind, str) and kind.lower() in DEVICE_KINDS:
        return DEVICE_KINDS.index(kind.lower())
    raise ProfileError(f"unknown device kind {kind!r} (known: {', '.join(DEVICE_KINDS)})")


@dataclass(frozen=True)
class Tagged:
    """A profile value with its origin and a short source note."""

    value: Any
    origin: str
    note: str = ""


@dataclass(frozen=True)
class PerPrecision:
    """One number per arithmetic rate: ``fp32`` and ``fp16`` on CUDA cores / the CPU's vector
    units, ``fp16_tc`` and ``tf32`` on tensor cores (None on devices without them).

    ``tf32`` is a rate, not a simulation precision: FP32 kernels of the kinds the ``tf32`` switch
    names run at it (:data:`TF32_KINDS`).
    """

    fp32: float
    fp16: float
    fp16_tc: float | None = None
    tf32: float | None = None

    def get(self, precision: str) -> float:
        """The rate for ``precision``; a device without tensor cores runs ``fp16_tc`` as ``fp16``
        and ``tf32`` as ``fp32``."""
        if precision == "fp32":
            return self.fp32
        if precision == "fp16":
            return self.fp16
        if precision == "fp16_tc":
            return self.fp16 if self.fp16_tc is None else self.fp16_tc
        if precision == "tf32":
            return self.fp32 if self.tf32 is None else self.tf32
        raise ProfileError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})")

    def items(self) -> tuple[tuple[str, float], ...]:
        """(rate, value) pairs that are present."""
        out = [("fp32", self.fp32), ("fp16", self.fp16)]
        if self.fp16_tc is not None:
            out.append(("fp16_tc", self.fp16_tc))
        if self.tf32 is not None:
            out.append(("tf32", self.tf32))
        return tuple(out)


@dataclass(frozen=True)
class DeviceSpec:
    """One compute device: parallel units (cores or TPCs), clock, per-precision throughput, model
    parameters.

    ``flop_per_cycle`` is per unit per cycle; ``peak_flops`` is the declared peak with all units at
    ``max_clock_hz`` (the loader checks it against the product within 5 %).
    """

    kind: str
    name: str
    unit_name: str
    units: int
    max_clock_hz: float
    flop_per_cycle: PerPrecision
    peak_flops: PerPrecision
    latency: LatencyParams

    def peak(self, precision: str = "fp32", units: int | None = None,
             clock_hz: float | None = None) -> float:
        """Peak FLOP/s with ``units`` active units at ``clock_hz`` (both capped at the maximum)."""
        u = self.units if units is None else min(units, self.units)
        f = self.max_clock_hz if clock_hz is None else min(clock_hz, self.max_clock_hz)
        return float(u) * float(f) * self.flop_per_cycle.get(precision)


@dataclass(frozen=True)
class DeviceEnergy:
    """Roofline energy coefficients of one device in one mode: J/FLOP, J/byte and static W."""

    eps_flop: float
    eps_byte: float
    p_static: float


@dataclass(frozen=True)
class EnergyCoefficients:
    """Per-device energy coefficients of one power mode plus the board's idle power (W)."""

    cpu: DeviceEnergy
    gpu: DeviceEnergy
    board_idle_w: float

    def device(self, kind: str | int) -> DeviceEnergy:
        """The coefficients of ``kind`` ("cpu"/"gpu")."""
        return (self.cpu, self.gpu)[device_index(kind)]


@dataclass(frozen=True)
class PowerMode:
    """An nvpmodel power mode: active CPU cores and GPU TPCs, clock caps, memory bandwidth cap."""

    name: str
    cpu_cores: int
    cpu_clock_hz: float
    gpu_tpcs: int
    gpu_clock_hz: float
    emc_bw: float
    energy: EnergyCoefficients
    nvpmodel_id: int | None = None
    aliases: tuple[str, ...] = ()
    description: str = ""
    #: The CPU's sustained bandwidth in this mode relative to ``cpu.latency.mem_bw`` where it was
    #: measured per mode (fewer cores at a lower clock stream less: Orin Nano 7W); None: scale
    #: with the memory-clock cap like the GPU (:meth:`Platform.emc_scale`).
    cpu_bw_scale: float | None = None

    def units(self, kind: str | int) -> int:
        """Active parallel units of a device in this mode (CPU cores or GPU TPCs)."""
        return (self.cpu_cores, self.gpu_tpcs)[device_index(kind)]

    def clock(self, kind: str | int) -> float:
        """Clock cap of a device in this mode, Hz."""
        return (self.cpu_clock_hz, self.gpu_clock_hz)[device_index(kind)]


@dataclass(frozen=True)
class Interconnect:
    """The copy path between the devices (on Jetson: a copy inside the shared DRAM).

    ``copy_bw`` (B/s, at the maximum memory clock) and ``t_sync`` (s) give a cross-device transfer
    ``t_sync + bytes / copy_bw``; ``concurrent_bw_fraction`` is the fraction of the memory's
    peak bandwidth both devices together sustain when they contend (only if ``shared_dram``).
    """

    copy_bw: float
    t_sync: float
    concurrent_bw_fraction: float
    shared_dram: bool = True


@dataclass(frozen=True)
class Memory:
    """Main memory: capacity (bytes) and peak bandwidth at the maximum memory clock (B/s)."""

    capacity_bytes: float
    peak_bw: float


@dataclass(frozen=True)
class Platform:
    """A CPU-GPU platform as described by one TOML profile (docs/architecture.md §3)."""

    name: str
    description: str
    cpu: DeviceSpec
    gpu: DeviceSpec
    memory: Memory
    interconnect: Interconnect
    modes: tuple[PowerMode, ...]
    default_mode: str
    schema_version: int = 1
    source: str | None = None
    #: Which FP32 kinds run on TF32 tensor cores (:data:`TF32_MODES`); PyTorch's default "conv".
    tf32: str = "conv"
    #: (dotted key, origin, note) for every tagged number, e.g. ("gpu.units", "datasheet", "").
    provenance: tuple[tuple[str, str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.tf32 not in TF32_MODES:
            raise ProfileError(f"{self._where()}: key 'tf32': unknown value {self.tf32!r} "
                               f"(known: {', '.join(TF32_MODES)})")

    # --- look-ups ---------------------------------------------------------------------
    @functools.cached_property
    def _mode_index(self) -> dict[str, PowerMode]:
        idx: dict[str, PowerMode] = {}
        for m in self.modes:
            idx[m.name] = m
        for m in self.modes:
            for a in m.aliases:
                idx.setdefault(a, m)
        return idx

    @property
    def mode_names(self) -> tuple[str, ...]:
        """Names of the power modes, in profile order."""
        return tuple(m.name for m in self.modes)

    def mode(self, name: str | PowerMode | None = None) -> PowerMode:
        """The power mode called ``name`` (or an alias; the default mode for None)."""
        if isinstance(name, PowerMode):
            return name
        key = self.default_mode if name is None else name
        try:
            return self._mode_index[key]
        except (KeyError, TypeError):
            raise ProfileError(
                f"{self._where()}: unknown power mode {key!r} (known: {', '.join(self.mode_names)})"
            ) from None

    def device(self, kind: str | int) -> DeviceSpec:
        """The :class:`DeviceSpec` of ``kind`` ("cpu"/"gpu")."""
        return (self.cpu, self.gpu)[device_index(kind)]

    @property
    def devices(self) -> tuple[DeviceSpec, DeviceSpec]:
        """(cpu, gpu), in column order."""
        return (self.cpu, self.gpu)

    def origin(self, key: str) -> Tagged | None:
        """Origin and note of the tagged number at dotted ``key`` (None if untagged/unknown)."""
        for k, o, n in self.provenance:
            if k == key:
                return Tagged(None, o, n)
        return None

    # --- per-mode figures ---------------------------------------------------------------
    def peak_flops(self, kind: str | int, mode: str | PowerMode | None = None,
                   precision: str = "fp32") -> float:
        """P_d(m): peak FLOP/s of a device in a mode (active units × clock cap × FLOP/cycle)."""
        m = self.mode(mode)
        dev = self.device(kind)
        return dev.peak(precision, m.units(kind), m.clock(kind))

    def mem_bw(self, kind: str | int, mode: str | PowerMode | None = None) -> float:
        """B_d(m): sustained bandwidth of a device alone in a mode, B/s: the device's ``mem_bw`` times
        the mode's memory-clock cap, or for the CPU its measured per-mode scale where the profile has one."""
        m = self.mode(mode)
        i = device_index(kind)
        scale = m.cpu_bw_scale if (i == CPU and m.cpu_bw_scale is not None) else self.emc_scale(m)
        return self.device(i).latency.mem_bw * scale

    def emc_scale(self, mode: str | PowerMode | None = None) -> float:
        """Memory-clock cap of a mode relative to the maximum (1.0 when uncapped)."""
        return min(self.mode(mode).emc_bw, self.memory.peak_bw) / self.memory.peak_bw

    def overhead_scale(self, mode: str | PowerMode | None = None) -> float:
        """Factor on host-bound overheads in a mode: max CPU clock / the mode's CPU clock cap."""
        m = self.mode(mode)
        return self.cpu.max_clock_hz / min(m.cpu_clock_hz, self.cpu.max_clock_hz)

    def copy_bw(self, mode: str | PowerMode | None = None) -> float:
        """Cross-device copy bandwidth in a mode, B/s."""
        return self.interconnect.copy_bw * self.emc_scale(mode)

    # --- derived copies -----------------------------------------------------------------
    def with_tf32(self, tf32: str | None) -> Platform:
        """A copy whose FP32 kernels use TF32 tensor cores as ``tf32`` says (None: this one)."""
        if tf32 is None or tf32 == self.tf32:
            return self
        if tf32 not in TF32_MODES:
            raise ProfileError(f"tf32: unknown value {tf32!r} (known: {', '.join(TF32_MODES)})")
        return dataclasses.replace(self, tf32=tf32)

    def with_latency(self, kind: str | int, params: LatencyParams, origin: str = "fitted",
                     note: str = "") -> Platform:
        """A copy whose device ``kind`` has new latency parameters, tagged with ``origin``."""
        i = device_index(kind)
        name = DEVICE_KINDS[i]
        dev = dataclasses.replace(self.device(i), latency=params)
        prefix = f"{name}.latency."
        keys = [prefix + p.name for p in SCALAR_PARAMS] + [prefix + "noise_sigma"]
        keys += [f"{prefix}eta.{k.value}" for k in KINDS] + [f"{prefix}dispatch_factor.{k.value}" for k in KINDS]
        keys += [prefix + a for a in ACT_SPARSE_PARAMS + ACT_CACHE_PARAMS + OPTIONAL_TERMS]
        old = self.device(i).latency
        changed = {k for k in keys if _latency_value(old, k[len(prefix):]) != _latency_value(params, k[len(prefix):])}
        prov = tuple((k, origin, note) if k in changed else (k, o, n) for k, o, n in self.provenance)
        known = {k for k, _, _ in prov}  # the optional activation-sparse figures may be new to this profile
        prov += tuple((prefix + a, origin, note) for a in ACT_SPARSE_PARAMS + ACT_CACHE_PARAMS + OPTIONAL_TERMS
                      if prefix + a in changed and prefix + a not in known)
        return dataclasses.replace(self, **{name: dev}, provenance=prov)

    # --- views --------------------------------------------------------------------------
    def raw_tree(self) -> dict[str, Any]:
        """The profile as nested plain values, keyed exactly as in the TOML schema."""
        tree: dict[str, Any] = {
            "schema_version": self.schema_version,
            "name": self.name,
            "description": self.description,
            "default_mode": self.default_mode,
            "tf32": self.tf32,
            "memory": {"capacity_bytes": self.memory.capacity_bytes, "peak_bw": self.memory.peak_bw},
            "interconnect": {
                "copy_bw": self.interconnect.copy_bw,
                "t_sync": self.interconnect.t_sync,
                "concurrent_bw_fraction": self.interconnect.concurrent_bw_fraction,
                "shared_dram": self.interconnect.shared_dram,
            },
            "cpu": _device_tree(self.cpu),
            "gpu": _device_tree(self.gpu),
            "modes": {m.name: _mode_tree(m) for m in self.modes},
        }
        return tree

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view: the profile with every tagged number as {value, origin, note}, plus
        ``derived`` per-mode peaks and bandwidths (for ``sparoa platforms show --json``)."""
        prov = {k: (o, n) for k, o, n in self.provenance}
        out = _tag_tree(self.raw_tree(), prov, "")
        out["source"] = self.source
        derived: dict[str, Any] = {}
        for m in self.modes:
            derived[m.name] = {
                "cpu_peak_flops": {p: self.peak_flops("cpu", m, p) for p in PRECISIONS},
                "gpu_peak_flops": {p: self.peak_flops("gpu", m, p) for p in PRECISIONS + ("tf32",)},
                "cpu_mem_bw": self.mem_bw("cpu", m),
                "gpu_mem_bw": self.mem_bw("gpu", m),
                "copy_bw": self.copy_bw(m),
            }
        out["derived"] = derived
        return out

    def _where(self) -> str:
        return self.source or f"platform {self.name!r}"


def _latency_value(p: LatencyParams, key: str) -> Any:
    if key.startswith("eta."):
        return p.eta_of(key[4:])
    if key.startswith("dispatch_factor."):
        return p.dispatch_factor_of(key[len("dispatch_factor."):])
    return getattr(p, key)


def _device_tree(d: DeviceSpec) -> dict[str, Any]:
    lat = d.latency
    latency: dict[str, Any] = {p.name: getattr(lat, p.name) for p in SCALAR_PARAMS}
    latency["noise_sigma"] = lat.noise_sigma
    latency.update({a: getattr(lat, a) for a in OPTIONAL_TERMS if getattr(lat, a)})  # 0 = no term: not written
    latency["sparse_kinds"] = [k.value for k in lat.sparse_kinds]
    latency["eta"] = {k.value: e for k, e in zip(KINDS, lat.eta)}
    if any(f != 1.0 for f in lat.dispatch_factor):  # all ones = the plain per-kernel rule: not written
        latency["dispatch_factor"] = {k.value: f for k, f in zip(KINDS, lat.dispatch_factor) if f != 1.0}
    if lat.act_kinds:  # the optional activation-sparse kernel: written only where a device has one
        latency["act_kinds"] = [k.value for k in lat.act_kinds]
        latency.update({a: getattr(lat, a) for a in ACT_SPARSE_PARAMS})
        latency.update({a: getattr(lat, a) for a in ACT_CACHE_PARAMS if getattr(lat, a)})
    if lat.residual is not None:
        latency["residual"] = lat.residual.to_tree()
    return {
        "name": d.name,
        "unit_name": d.unit_name,
        "units": d.units,
        "max_clock_hz": d.max_clock_hz,
        "flop_per_cycle": dict(d.flop_per_cycle.items()),
        "peak_flops": dict(d.peak_flops.items()),
        "latency": latency,
    }


def _mode_tree(m: PowerMode) -> dict[str, Any]:
    e = m.energy
    t: dict[str, Any] = {}
    if m.nvpmodel_id is not None:
        t["nvpmodel_id"] = m.nvpmodel_id
    t["description"] = m.description
    t["aliases"] = list(m.aliases)
    t.update(
        cpu_cores=m.cpu_cores,
        cpu_clock_hz=m.cpu_clock_hz,
        gpu_tpcs=m.gpu_tpcs,
        gpu_clock_hz=m.gpu_clock_hz,
        emc_bw=m.emc_bw,
    )
    if m.cpu_bw_scale is not None:
        t["cpu_bw_scale"] = m.cpu_bw_scale
    t["energy"] = {
        "board_idle_w": e.board_idle_w,
        "cpu": dataclasses.asdict(e.cpu),
        "gpu": dataclasses.asdict(e.gpu),
    }
    return t


def _tag_tree(node: dict[str, Any], prov: dict[str, tuple[str, str]], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in node.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict):
            out[k] = _tag_tree(v, prov, path + ".")
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and k not in UNTAGGED_KEYS:
            origin, note = prov.get(path, ("assumed", "no origin recorded"))
            out[k] = {"value": v, "origin": origin, "note": note}
        else:
            out[k] = v
    return out
