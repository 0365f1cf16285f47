"""The ``host`` platform: a base profile built from this machine's CPU, stored in the user data dir.

The CPU side comes from ``/proc/cpuinfo`` (model, physical cores, clock, SIMD flags → FP32
FLOP/cycle) and the measured STREAM-copy bandwidth of a measurement table; the GPU side, on a
host without one measured, is the base Jetson profile's (said so in every GPU note). Calibration
then fits the CPU's latency parameters on top (``sparoa calibrate … --base host-base``), and
:func:`store_host_profile` writes the result where ``load_platform("host")`` finds it — never
into the repository. Standard library and ``hwmodels`` only (no torch).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sparoa_sim.hwmodels.errors import ProfileError
from sparoa_sim.hwmodels.fileio import atomic_write_text
from sparoa_sim.hwmodels.measurements import MeasurementTable
from sparoa_sim.hwmodels.platform import DeviceSpec, Memory, PerPrecision, Platform, PowerMode
from sparoa_sim.hwmodels.profile_io import host_profile_path, parse_platform, platform_to_toml, save_platform

__all__ = [
    "E2E_SPREAD_LIMIT",
    "HOST_MODE",
    "NOISY_E2E_SPREAD",
    "NOISY_ROW_SPREAD",
    "CalibrationConditions",
    "HostCPU",
    "OTHERS_SHARE_LIMIT",
    "ROW_SPREAD_LIMIT",
    "assess_conditions",
    "load_host_conditions",
    "table_spreads",
    "PEAK_HEADROOM",
    "achieved_flops_per_core",
    "detect_host_cpu",
    "flop_per_cycle",
    "host_platform",
    "parse_cpuinfo",
    "host_anchors_path",
    "load_host_anchors",
    "store_host_anchors",
    "store_host_profile",
]

#: Name of the host profile's single power mode (alias ``MAXN``: what the machine runs at).
HOST_MODE = "host"
#: Share of the peak the fastest measured operator is taken to reach when it sets the clock.
PEAK_HEADROOM = 0.95
_GEMM_KINDS = ("conv", "linear", "matmul", "attention")
#: Per-operator framework overhead of eager PyTorch on an x86 core before calibration, s.
_T_LAUNCH_GUESS = 5e-6


@dataclass(frozen=True)
class HostCPU:
    """What identifies the CPU's throughput: model, vendor, physical cores, clock, SIMD flags."""

    model: str
    vendor: str
    family: int | None
    cores: int
    clock_hz: float
    clock_source: str
    flags: frozenset[str]
    memory_bytes: float | None = None


def flop_per_cycle(cpu: HostCPU) -> tuple[float, float, str]:
    """(FP32, FP16) FLOP per core per cycle from the SIMD flags, and the reasoning as a note.

    FMA pipes: Intel server cores with AVX-512 have two 512-bit FMA units (64 FP32 FLOP/cycle);
    AMD Zen 2-4 run two 256-bit FMA pipes (AVX-512 on Zen 4 is double-pumped: 32); Zen 5 has two
    512-bit pipes (64); AVX2+FMA cores 32; AVX without FMA 16 (separate mul and add); SSE 8. FP16
    is computed in FP32 unless the core has AVX-512 FP16 (then twice the FP32 rate).
    """
    f = cpu.flags
    amd = cpu.vendor == "AuthenticAMD"
    if "avx512f" in f and not (amd and (cpu.family or 0) < 26):
        fp32, why = 64.0, "2 × 512-bit FMA pipes × 16 FP32 lanes × 2 FLOP (AVX-512)"
    elif "avx2" in f and "fma" in f:
        fp32, why = 32.0, "2 × 256-bit FMA pipes × 8 FP32 lanes × 2 FLOP (AVX2+FMA"
        why += "; AVX-512 here is double-pumped on 256-bit pipes)" if "avx512f" in f else ")"
    elif "avx" in f:
        fp32, why = 16.0, "256-bit add + mul pipes × 8 FP32 lanes (AVX, no FMA)"
    elif "asimd" in f or "neon" in f:
        fp32, why = 16.0, "2 × 128-bit NEON FMA pipes × 4 FP32 lanes × 2 FLOP"
    else:
        fp32, why = 8.0, "128-bit add + mul pipes × 4 FP32 lanes (SSE)"
    if "avx512_fp16" in f or "asimdhp" in f:
        return fp32, 2.0 * fp32, why + "; FP16 arithmetic at twice the FP32 rate"
    return fp32, fp32, why + "; no FP16 arithmetic: FP16 runs at the FP32 rate"


def parse_cpuinfo(text: str) -> tuple[str, str, int | None, int, frozenset[str], float | None]:
    """(model, vendor, family, physical cores, flags, max listed MHz × 1e6) from /proc/cpuinfo text.

    Physical cores are the distinct (physical id, core id) pairs; where those are absent
    (containers, Arm), every listed processor counts as a core.
    """
    blocks = [b for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    model, vendor, family, flags = "unknown", "", None, frozenset()
    cores: set[tuple[str, str]] = set()
    n_proc, mhz = 0, None
    for block in blocks:
        kv: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                kv[key.strip()] = value.strip()
        if "processor" not in kv:
            continue
        n_proc += 1
        model = kv.get("model name") or kv.get("Model") or kv.get("Hardware") or model
        vendor = kv.get("vendor_id", vendor)
        if kv.get("cpu family", "").isdigit():
            family = int(kv["cpu family"])
        if "flags" in kv or "Features" in kv:
            flags = frozenset((kv.get("flags") or kv.get("Features", "")).split())
        if "physical id" in kv and "core id" in kv:
            cores.add((kv["physical id"], kv["core id"]))
        try:
            mhz = max(mhz or 0.0, float(kv["cpu MHz"]))
        except (KeyError, ValueError):
            pass
    n_cores = len(cores) or n_proc
    return model, vendor, family, max(1, n_cores), flags, None if mhz is None else mhz * 1e6


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def detect_host_cpu() -> HostCPU:
    """This machine's CPU: /proc/cpuinfo, cpufreq's maximum clock where the kernel exposes it.

    The core count is capped by the CPUs this process may run on (cgroup/affinity).
    """
    text = _read("/proc/cpuinfo")
    if text is None:
        raise ProfileError("/proc/cpuinfo: cannot read it; build the host profile from a HostCPU by hand")
    model, vendor, family, cores, flags, mhz = parse_cpuinfo(text)
    try:
        cores = min(cores, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        pass
    max_khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if max_khz and max_khz.strip().isdigit():
        clock, source = float(max_khz.strip()) * 1e3, "cpufreq cpuinfo_max_freq"
    elif mhz:
        clock, source = mhz, "/proc/cpuinfo 'cpu MHz' (no cpufreq here: boost clocks are not visible)"
    else:
        raise ProfileError("/proc/cpuinfo: no 'cpu MHz' and no cpufreq: cannot tell the CPU clock")
    mem = None
    meminfo = _read("/proc/meminfo") or ""
    m = re.search(r"^MemTotal:\s+(\d+)\s*kB", meminfo, re.M)
    if m:
        mem = float(m.group(1)) * 1024.0
    return HostCPU(model=model, vendor=vendor, family=family, cores=cores, clock_hz=clock,
                   clock_source=source, flags=flags, memory_bytes=mem)


def achieved_flops_per_core(tables: Iterable[MeasurementTable]) -> float | None:
    """The fastest GEMM-like operator rate measured, FLOP/s per torch thread (None if no such row).

    A lower bound of the true peak: where it exceeds the nominal clock's peak, the CPU boosts
    above the clock ``/proc/cpuinfo`` shows (virtual machines hide turbo clocks).
    """
    best = None
    for t in tables:
        if t.device != "cpu":
            continue  # a GPU table's rates say nothing about the CPU's clock
        threads = max(1, int(t.host.get("torch_threads") or 1))
        for r in t.rows:
            if r.kind in _GEMM_KINDS and r.time_s > 0 and r.flops > 0:
                rate = r.flops * r.batch / r.time_s / threads
                best = rate if best is None else max(best, rate)
    return best


def host_platform(cpu: HostCPU, base: Platform, mem_bw: float, *, threads: int | None = None,
                  mem_bw_note: str = "STREAM copy, measured by the profiler", name: str = "host",
                  achieved_per_core: float | None = None) -> Platform:
    """A base profile of this host: ``cpu`` as the CPU side, ``base``'s GPU (untouched) as the GPU.

    ``mem_bw`` is the sustained CPU bandwidth, B/s (the profiler's STREAM copy); ``threads`` the
    cores the measurements used (the mode's active cores; default all). ``achieved_per_core``
    (:func:`achieved_flops_per_core`) raises the clock where operators ran faster than the
    nominal peak allows, so that the fastest one sits at :data:`PEAK_HEADROOM` of the peak. The
    CPU's latency parameters start at ``base``'s efficiencies and sparse-kernel figures
    (``assumed``) until calibration fits them; its sparse kernel covers linear layers only (the
    kind the profiler's sweep measures). Validated by a TOML round trip.
    """
    if not (mem_bw > 0):
        raise ProfileError(f"host profile: mem_bw must be > 0 B/s, got {mem_bw!r}")
    fp32, fp16, why = flop_per_cycle(cpu)
    if achieved_per_core is not None and achieved_per_core > PEAK_HEADROOM * cpu.clock_hz * fp32:
        clock = achieved_per_core / (PEAK_HEADROOM * fp32)
        source = (f"raised from the nominal {cpu.clock_hz / 1e6:.0f} MHz ({cpu.clock_source}): an operator "
                  f"reached {achieved_per_core / 1e9:.1f} GFLOP/s per core, so the core boosts above it; "
                  f"clock set so that rate is {PEAK_HEADROOM:.0%} of the peak")
        cpu = dataclasses.replace(cpu, clock_hz=clock, clock_source=source)
    units = cpu.cores
    active = units if threads is None else max(1, min(int(threads), units))
    # The sparse kernel is offered for linear layers only: the profiler's dense-vs-CSR sweep
    # measures CSR matmuls (calibrate.fit_sparse fits them); a CSR convolution (im2col, then a
    # CSR matmul) is unmeasured here and, run by the executor, slower than dense at 80 % sparsity.
    lat = dataclasses.replace(base.cpu.latency, t_launch=_T_LAUNCH_GUESS, t_dispatch=0.0, mem_bw=float(mem_bw),
                              sparse_kinds=tuple(k for k in base.cpu.latency.sparse_kinds if k.value == "linear"))
    cpu_spec = DeviceSpec(kind="cpu", name=f"{units}-core {cpu.model}", unit_name="core", units=units,
                          max_clock_hz=cpu.clock_hz, flop_per_cycle=PerPrecision(fp32, fp16),
                          peak_flops=PerPrecision(units * cpu.clock_hz * fp32, units * cpu.clock_hz * fp16),
                          latency=lat)
    base_mode = base.mode(None)
    peak_bw = max(float(mem_bw), base.memory.peak_bw)
    mode = PowerMode(name=HOST_MODE, cpu_cores=active, cpu_clock_hz=cpu.clock_hz, gpu_tpcs=base_mode.gpu_tpcs,
                     gpu_clock_hz=base_mode.gpu_clock_hz, emc_bw=peak_bw, energy=base_mode.energy,
                     aliases=("MAXN",), description=f"this machine as it runs: {active} of {units} cores")
    memory = Memory(capacity_bytes=cpu.memory_bytes or base.memory.capacity_bytes, peak_bw=peak_bw)
    gpu_note = f"from {base.name}: no GPU measured on this host"
    prov: list[tuple[str, str, str]] = []
    for key, origin, note in base.provenance:
        if key.startswith("gpu."):
            prov.append((key, origin, f"{gpu_note}; {note}" if note else gpu_note))
        elif key.startswith("cpu.latency."):
            prov.append((key, origin, f"start value from {base.name}; calibrate" if origin != "fitted" else note))
        elif key.startswith(("interconnect.", f"modes.{base_mode.name}.energy.")):
            new_key = key.replace(f"modes.{base_mode.name}.", f"modes.{HOST_MODE}.")
            prov.append((new_key, "assumed", f"from {base.name}; not measured on this host"))
    clock_note = f"{cpu.clock_hz / 1e6:.0f} MHz: {cpu.clock_source}"
    prov += [
        ("cpu.units", "measured", f"physical cores usable by this process ({cpu.model})"),
        ("cpu.max_clock_hz", "measured", clock_note),
        ("cpu.flop_per_cycle.fp32", "derived", why),
        ("cpu.flop_per_cycle.fp16", "derived", why),
        ("cpu.peak_flops.fp32", "derived", f"{units} × {fp32:g} × {cpu.clock_hz / 1e9:.3g} GHz"),
        ("cpu.peak_flops.fp16", "derived", f"{units} × {fp16:g} × {cpu.clock_hz / 1e9:.3g} GHz"),
        ("cpu.latency.t_launch", "assumed", "eager PyTorch per-operator overhead on x86 (~5 µs); calibrate"),
        ("cpu.latency.t_dispatch", "assumed", "a CPU operator runs on the host thread itself"),
        ("cpu.latency.mem_bw", "measured", mem_bw_note),
        ("memory.capacity_bytes", "measured" if cpu.memory_bytes else "assumed", "/proc/meminfo MemTotal"),
        ("memory.peak_bw", "assumed", "the larger of the measured CPU bandwidth and the base GPU's DRAM peak: "
                                      "no memory-clock caps on this host"),
        (f"modes.{HOST_MODE}.cpu_cores", "measured", "threads the measurements ran with"),
        (f"modes.{HOST_MODE}.cpu_clock_hz", "measured", clock_note),
        (f"modes.{HOST_MODE}.gpu_tpcs", "assumed", gpu_note),
        (f"modes.{HOST_MODE}.gpu_clock_hz", "assumed", gpu_note),
        (f"modes.{HOST_MODE}.emc_bw", "assumed", "uncapped: equals memory.peak_bw"),
    ]
    desc = (f"this machine: {units}-core {cpu.model} at {cpu.clock_hz / 1e9:.3g} GHz, "
            f"{mem_bw / 1e9:.3g} GB/s STREAM copy; GPU side copied from {base.name} (no GPU measured here)")
    plat = Platform(name=name, description=desc, cpu=cpu_spec, gpu=base.gpu, memory=memory,
                    interconnect=base.interconnect, modes=(mode,), default_mode=HOST_MODE,
                    provenance=tuple(prov))
    return parse_platform(platform_to_toml(plat), f"<host profile {name!r}>", default_name=name)


def store_host_profile(platform: Platform, path: str | os.PathLike[str] | None = None) -> Path:
    """Write ``platform`` as ``<user data dir>/profiles/host.toml`` (or ``path``), atomically.

    Refuses a path inside this package's source tree: a machine's profile never goes into the
    repository.
    """
    target = Path(path).expanduser() if path is not None else host_profile_path()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").is_file() and target.resolve().is_relative_to(repo):
        raise ProfileError(f"{target}: refusing to write a host profile inside the repository ({repo}); "
                           "set SPAROA_SIM_DATA to a data directory outside it")
    return save_platform(platform, target)


def host_anchors_path() -> Path:
    """Beside the host profile: the eager latencies measured when it was calibrated."""
    return host_profile_path().with_name("host.anchors.json")


def _profile_digest(anchors: Path) -> str | None:
    """SHA-256 of the host profile beside ``anchors`` (None when there is none)."""
    try:
        return hashlib.sha256(anchors.with_name(host_profile_path().name).read_bytes()).hexdigest()
    except OSError:
        return None


def store_host_anchors(eager_s: dict[str, float], *, clock: str, threads: int,
                       path: str | os.PathLike[str] | None = None,
                       conditions: CalibrationConditions | None = None) -> Path:
    """Record the eager CPU latency (s, batch 1) of each workload at calibration time.

    A shared host's speed drifts (by tens of per cent for cache-bound models on a VM); timing
    the same eager pass later and dividing by its anchor gives the drift since calibration —
    a ratio of two measurements of one thing — which ``validate`` reports beside its errors.
    The anchors are tied to the host profile beside them (its digest): a profile written later
    by other means makes them stale, and :func:`load_host_anchors` then returns none.
    ``conditions`` (how busy the machine was while calibrating) is stored beside them.
    """
    bad = {k: v for k, v in eager_s.items()
           if isinstance(v, bool) or not (isinstance(v, float | int) and math.isfinite(v) and v > 0)}
    if bad:
        raise ProfileError(f"host anchors: eager latencies must be positive seconds, got {bad}")
    target = Path(path) if path is not None else host_anchors_path()
    doc = {"clock": clock, "threads": int(threads), "batch": 1, "eager_s": {k: float(v) for k, v in eager_s.items()},
           "profile_sha256": _profile_digest(target)}
    if conditions is not None:
        doc["conditions"] = conditions.to_dict()
    return atomic_write_text(target, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def load_host_anchors(path: str | os.PathLike[str] | None = None) -> dict[str, float]:
    """Anchors stored with the host profile: empty when there are none, the file is unreadable,
    or the profile beside them is not the one they were measured with; an entry that is not a
    positive finite number of seconds is left out (the others stay)."""
    target = Path(path) if path is not None else host_anchors_path()
    try:
        doc = json.loads(target.read_text(encoding="utf-8"))
        entries = doc["eager_s"].items()
        digest = doc.get("profile_sha256")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    if digest is not None and digest != _profile_digest(target):
        return {}
    out = {}
    for k, v in entries:
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0:
            out[str(k)] = float(v)
    return out


# ---------------------------------------------------------------------------------------------
# how busy the machine was while calibrating

#: Other processes' share of the machine's CPU time, averaged over the calibration, above which
#: it is flagged disturbed. An idle Linux host's daemons take ~1 % of it; 10 % is a fifth of a
#: core on a 2-core host — something else ran (a test suite, a build). Even with the
#: ``thread_cpu`` clock (preemption left out) such a tenant shares the caches, the memory
#: bandwidth and, on SMT or over-committed virtual cores, the timed core's pipelines.
OTHERS_SHARE_LIMIT = 0.10
#: The halves' repeatability does not measure how busy the machine is: on a quiet host it is
#: measurement noise. Evidence (thread-CPU clock, ``benchmarks/host_quick_calibration.py --runs 3``,
#: 15 s per workload, load 0.5, others' CPU share 0.1-0.5 %, 2026-12-07 11:50 UTC): largest eager
#: halves' gap per run 1.8 %, 5.6 %, 7.2 %; in-graph rows' median gap 13.5 %, 7.9 %, 3.9 %.
#: So the spreads flag a calibration as disturbed only beyond about twice the worst a quiet host
#: showed (the host's speed itself moved: throttling, a neighbour the counters do not show) ...
#: Largest eager (end-to-end) halves' gap ``|a − b| / median`` of a profiled workload above which
#: the calibration is disturbed (quiet host: up to 7.2 %).
E2E_SPREAD_LIMIT = 0.15
#: Median halves' gap of the in-graph operator rows above which it is disturbed (quiet: up to 13.5 %).
ROW_SPREAD_LIMIT = 0.25
#: ... and between the targets and those limits they only add a "noisy measurement" note: the
#: eager gap above the 5 % end-to-end target (docs/architecture.md §8), the rows' median above the
#: ±10 % per-operator target (§9) — the figures are that uncertain, the machine was not busy.
NOISY_E2E_SPREAD = 0.05
NOISY_ROW_SPREAD = 0.10


@dataclass(frozen=True)
class CalibrationConditions:
    """How busy the machine was while the host profile was calibrated, and the verdict.

    ``others_cpu_share``: other processes' share of all CPUs' time over the calibration (None
    where it could not be measured; ``cpu_source`` says how it was); ``others_cpu_share_peak``:
    the largest over its phases (one per profiled workload); ``e2e_spread``: each workload's eager
    repeatability; ``row_spread_median``: the in-graph rows' median repeatability; ``disturbed``
    with one ``reason`` line and the ``redo`` command when a limit was passed; ``noisy`` with a
    ``note`` when a repeatability figure passed its target but not the disturbed limit.
    """

    others_cpu_share: float | None
    others_cpu_share_peak: float | None
    cpu_source: str
    e2e_spread: dict[str, float]
    row_spread_median: float | None
    disturbed: bool
    reason: str
    redo: str
    noisy: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {**dataclasses.asdict(self), "limits": {"others_cpu_share": OTHERS_SHARE_LIMIT,
                                                      "e2e_spread": E2E_SPREAD_LIMIT,
                                                      "row_spread_median": ROW_SPREAD_LIMIT,
                                                      "noisy_e2e_spread": NOISY_E2E_SPREAD,
                                                      "noisy_row_spread_median": NOISY_ROW_SPREAD}}

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> CalibrationConditions:
        """The conditions stored by :meth:`to_dict`; a :class:`ProfileError` on a malformed record."""
        try:
            def share(v: object) -> float | None:
                return None if v is None else float(v)  # type: ignore[arg-type]

            spread = doc.get("e2e_spread") or {}
            return cls(others_cpu_share=share(doc.get("others_cpu_share")),
                       others_cpu_share_peak=share(doc.get("others_cpu_share_peak")),
                       cpu_source=str(doc["cpu_source"]),
                       e2e_spread={str(k): float(v) for k, v in spread.items()},  # type: ignore[union-attr]
                       row_spread_median=share(doc.get("row_spread_median")), disturbed=bool(doc["disturbed"]),
                       reason=str(doc["reason"]), redo=str(doc["redo"]), noisy=bool(doc.get("noisy", False)),
                       note=str(doc.get("note", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProfileError(f"host calibration conditions: malformed record ({exc})") from None


def table_spreads(tables: Iterable[MeasurementTable]) -> tuple[dict[str, float], float | None]:
    """(eager repeatability per workload at batch 1, median repeatability of the in-graph rows)."""
    e2e: dict[str, float] = {}
    rows: list[float] = []
    for t in tables:
        e2e.update({e.workload: e.rel_spread for e in t.end_to_end if e.batch == 1 and math.isfinite(e.rel_spread)})
        rows += [r.rel_spread for r in t.rows if r.context == "graph" and math.isfinite(r.rel_spread)]
    rows.sort()
    n = len(rows)
    median = None if not n else (rows[n // 2] if n % 2 else 0.5 * (rows[n // 2 - 1] + rows[n // 2]))
    return e2e, median


def assess_conditions(others_share: float | None, others_peak: float | None, cpu_source: str,
                      e2e_spread: dict[str, float], row_spread_median: float | None, redo: str
                      ) -> CalibrationConditions:
    """Judge a calibration: disturbed when other processes' CPU share passes
    :data:`OTHERS_SHARE_LIMIT` or a repeatability figure passes :data:`E2E_SPREAD_LIMIT` /
    :data:`ROW_SPREAD_LIMIT` (one line saying which); noisy, with a note, when a repeatability
    figure passes only :data:`NOISY_E2E_SPREAD` / :data:`NOISY_ROW_SPREAD`."""
    for name, v in (("others_share", others_share), ("others_peak", others_peak), ("row_spread_median",
                                                                                   row_spread_median)):
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise ProfileError(f"host calibration conditions: {name} must be a finite share >= 0, got {v!r}")
    why, noise = [], []
    if others_share is not None and others_share > OTHERS_SHARE_LIMIT:
        why.append(f"other processes used {others_share:.0%} of the CPU while calibrating "
                   f"(limit {OTHERS_SHARE_LIMIT:.0%}" + (f", {others_peak:.0%} at the busiest phase)"
                                                          if others_peak is not None else ")"))
    worst = max(e2e_spread.items(), key=lambda kv: kv[1], default=None)
    if worst is not None and worst[1] > NOISY_E2E_SPREAD:
        (why if worst[1] > E2E_SPREAD_LIMIT else noise).append(
            f"the two halves of {worst[0]}'s eager time differ by {worst[1]:.1%} "
            f"(limit {E2E_SPREAD_LIMIT if worst[1] > E2E_SPREAD_LIMIT else NOISY_E2E_SPREAD:.0%})")
    if row_spread_median is not None and row_spread_median > NOISY_ROW_SPREAD:
        lim = ROW_SPREAD_LIMIT if row_spread_median > ROW_SPREAD_LIMIT else NOISY_ROW_SPREAD
        (why if lim == ROW_SPREAD_LIMIT else noise).append(
            f"the operators' two halves differ by {row_spread_median:.1%} at the median (limit {lim:.0%})")
    note = ""
    if noise:
        busy = "unmeasured" if others_share is None else f"{others_share:.0%}"
        head = "noisy measurement as well" if why else f"noisy measurement, not a busy machine (other processes' " \
                                                       f"CPU share {busy})"
        note = f"{head}: " + "; ".join(noise) + "; a longer profiling budget averages more"
    return CalibrationConditions(
        others_cpu_share=others_share, others_cpu_share_peak=others_peak, cpu_source=cpu_source,
        e2e_spread=dict(e2e_spread), row_spread_median=row_spread_median, disturbed=bool(why),
        reason="; ".join(why) if why else ("quiet: every figure within its limit" if not noise else
                                           "quiet: other processes' CPU share within its limit (see the note)"),
        redo=redo,
        noisy=bool(noise), note=note)


def load_host_conditions(path: str | os.PathLike[str] | None = None) -> CalibrationConditions | None:
    """The calibration conditions stored with the host anchors (None when there are none, the
    record is unreadable or malformed, or the profile beside them is not the one calibrated)."""
    target = Path(path) if path is not None else host_anchors_path()
    try:
        doc = json.loads(target.read_text(encoding="utf-8"))
        rec = doc.get("conditions")
        digest = doc.get("profile_sha256")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(rec, dict) or (digest is not None and digest != _profile_digest(target)):
        return None
    try:
        return CalibrationConditions.from_dict(rec)
    except ProfileError:
        return None
