"""Reading, validating and writing TOML hardware profiles; resolving platform names.

A profile is found by name (the stem of a TOML file shipped in ``hwmodels/profiles/``, or of one
in the user's profile directory, where calibration writes ``host.toml``) or by path. Every bad
input raises :class:`ProfileError` naming the file, the dotted key and the offending value.
Schema (version 1) is documented in ``hwmodels/profiles/README.md``.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from sparoa_sim.hwmodels.fileio import atomic_write_text, loads_toml, read_bounded_text
from sparoa_sim.hwmodels.errors import ProfileError
from sparoa_sim.hwmodels.kinds import KINDS, parse_kind
from sparoa_sim.hwmodels.params import (ACT_CACHE_PARAMS, ACT_SPARSE_PARAMS, OPTIONAL_TERMS, SCALAR_PARAMS, VALID_RANGES,
                                         LatencyParams)
from sparoa_sim.hwmodels.limits import MAX_OVERHEAD_S, MAX_PROFILE_FILE_BYTES
from sparoa_sim.hwmodels.residual import Residual, validate_feature
from sparoa_sim.hwmodels.platform import (
    DEVICE_KINDS,
    ORIGINS,
    DeviceEnergy,
    DeviceSpec,
    EnergyCoefficients,
    Interconnect,
    Memory,
    PerPrecision,
    Platform,
    PowerMode,
    TF32_MODES,
    UNTAGGED_KEYS,
)

__all__ = [
    "SCHEMA_VERSIONS",
    "DATA_ENV_VAR",
    "host_profile_path",
    "list_platforms",
    "load_platform",
    "parse_platform",
    "platform_to_toml",
    "save_platform",
    "shipped_profile_names",
    "user_data_dir",
    "user_profiles_dir",
]

#: Profile schema versions this code reads.
SCHEMA_VERSIONS: tuple[int, ...] = (1,)
#: Environment variable overriding the user data directory.
DATA_ENV_VAR = "SPAROA_SIM_DATA"
#: Declared peaks must agree with units × clock × FLOP/cycle within this relative tolerance.
PEAK_TOLERANCE = 0.05

_INF = math.inf


# --- where profiles live ------------------------------------------------------------------
def user_data_dir() -> Path:
    """The user data directory: ``$SPAROA_SIM_DATA``, else ``$XDG_DATA_HOME/sparoa-sim``, else
    ``~/.local/share/sparoa-sim``."""
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "sparoa-sim"


def user_profiles_dir() -> Path:
    """Directory of the user's own profiles (``<data dir>/profiles``)."""
    return user_data_dir() / "profiles"


def host_profile_path() -> Path:
    """Where the calibrated profile of this machine lives (``<data dir>/profiles/host.toml``)."""
    return user_profiles_dir() / "host.toml"


def _shipped_dir() -> Any:
    return resources.files("sparoa_sim.hwmodels").joinpath("profiles")


def shipped_profile_names() -> tuple[str, ...]:
    """Names (TOML stems) of the profiles shipped with the package, sorted."""
    d = _shipped_dir()
    return tuple(sorted(p.name[: -len(".toml")] for p in d.iterdir() if p.name.endswith(".toml")))


def list_platforms(include_user: bool = True) -> tuple[str, ...]:
    """Platform names ``load_platform`` resolves: shipped ones (sorted), then the user's (sorted)."""
    shipped = shipped_profile_names()
    if not include_user:
        return shipped
    d = user_profiles_dir()
    user = sorted(p.stem for p in d.glob("*.toml")) if d.is_dir() else []
    return shipped + tuple(n for n in user if n not in shipped)


def _looks_like_path(s: str) -> bool:
    return s.endswith(".toml") or "/" in s or os.sep in s or (os.altsep is not None and os.altsep in s)


def as_platform(platform: Platform | str | os.PathLike[str]) -> Platform:
    """A :class:`Platform` as given, or the profile a name or path names (what every entry point accepts)."""
    if isinstance(platform, Platform):
        return platform
    if isinstance(platform, (str, os.PathLike)):
        return load_platform(platform)
    raise ProfileError(f"platform must be a Platform, a profile name or a path, got {platform!r}")


def load_platform(name_or_path: str | os.PathLike[str]) -> Platform:
    """Load a platform by shipped/user name (e.g. ``"jetson-agx-orin-64gb"``, ``"host"``) or by a
    path to a TOML profile."""
    if isinstance(name_or_path, os.PathLike) or (isinstance(name_or_path, str) and _looks_like_path(name_or_path)):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ProfileError(f"{path}: no such profile file")
        return parse_platform(_read_text(path), str(path), default_name=path.stem)
    if not isinstance(name_or_path, str):
        raise ProfileError(f"platform must be a name or a path, got {name_or_path!r}")
    name = name_or_path
    if name in shipped_profile_names():
        res = _shipped_dir().joinpath(f"{name}.toml")
        return parse_platform(res.read_text(encoding="utf-8"), str(res), default_name=name)
    user = user_profiles_dir() / f"{name}.toml"
    if user.is_file():
        return parse_platform(_read_text(user), str(user), default_name=name)
    if name == "host":
        raise ProfileError(
            f"no host profile at {user}: calibrate this machine first (sparoa calibrate … -o {user}),"
            f" or set {DATA_ENV_VAR} to the data directory holding profiles/host.toml"
        )
    raise ProfileError(f"unknown platform {name!r} (known: {', '.join(list_platforms())})")


def _read_text(path: Path) -> str:
    return read_bounded_text(path, "profile", ProfileError, MAX_PROFILE_FILE_BYTES)


# --- parsing --------------------------------------------------------------------------
class _Reader:
    """Typed access to a parsed TOML tree that records provenance and names keys in errors."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.prov: list[tuple[str, str, str]] = []

    def error(self, key: str, msg: str) -> ProfileError:
        return ProfileError(f"{self.source}: key {key!r}: {msg}")

    def keys(self, tbl: dict[str, Any], path: str, allowed: set[str]) -> None:
        for k in tbl:
            if k not in allowed:
                full = f"{path}.{k}" if path else k
                raise self.error(full, f"unknown key (allowed here: {', '.join(sorted(allowed))})")

    def table(self, tbl: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        full = f"{path}.{key}" if path else key
        if key not in tbl:
            raise self.error(full, "missing required table")
        v = tbl[key]
        if not isinstance(v, dict):
            raise self.error(full, f"must be a table, got {v!r}")
        return v

    def text(self, tbl: dict[str, Any], key: str, path: str, default: str | None = None) -> str:
        full = f"{path}.{key}" if path else key
        if key not in tbl:
            if default is None:
                raise self.error(full, "missing required field")
            return default
        v = tbl[key]
        if not isinstance(v, str):
            raise self.error(full, f"must be a string, got {v!r}")
        return v

    def num(self, tbl: dict[str, Any], key: str, path: str, *, lo: float = 0.0, hi: float = _INF,
            lo_incl: bool = False, integer: bool = False, default: float | None = None) -> float:
        """A tagged number ``{ value = …, origin = "…", note = "…" }`` checked against a range."""
        full = f"{path}.{key}" if path else key
        if key not in tbl:
            if default is None:
                raise self.error(full, "missing required field")
            self.prov.append((full, "assumed", "default value; not in the profile"))
            return default
        raw = tbl[key]
        if not isinstance(raw, dict):
            raise self.error(full, f"must be a tagged value {{ value = …, origin = \"…\" }}, got {raw!r}")
        extra = set(raw) - {"value", "origin", "note"}
        if extra:
            raise self.error(full, f"unknown field(s) {sorted(extra)} (allowed: value, origin, note)")
        if "value" not in raw:
            raise self.error(full, "missing 'value'")
        if "origin" not in raw:
            raise self.error(full, f"missing 'origin' (one of: {', '.join(ORIGINS)})")
        v, origin, note = raw["value"], raw["origin"], raw.get("note", "")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error(full, f"non-numeric value {v!r}")
        if not math.isfinite(v):
            raise self.error(full, f"value {v!r} is not finite")
        if origin not in ORIGINS:
            raise self.error(full, f"unknown origin {origin!r} (known: {', '.join(ORIGINS)})")
        if not isinstance(note, str):
            raise self.error(full, f"note must be a string, got {note!r}")
        below = v < lo or (v == lo and not lo_incl)
        if below or v > hi:
            lo_s = f"{'>=' if lo_incl else '>'} {lo:g}"
            rng = lo_s if hi == _INF else f"{lo_s} and <= {hi:g}"
            raise self.error(full, f"value {v!r} out of range (must be {rng})")
        if integer:
            if float(v) != int(v):
                raise self.error(full, f"value {v!r} must be an integer")
            v = int(v)
        else:
            v = float(v)
        self.prov.append((full, origin, note))
        return v


def parse_platform(text: str, source: str = "<string>", default_name: str | None = None) -> Platform:
    """Parse and validate a profile from TOML text; ``source`` names it in error messages."""
    doc = loads_toml(text, source, ProfileError)  # nesting bounded before parsing (sparoa_sim.limits)
    r = _Reader(source)

    if "schema_version" not in doc:
        raise r.error("schema_version", f"missing (supported: {', '.join(map(str, SCHEMA_VERSIONS))})")
    sv = doc["schema_version"]
    if isinstance(sv, bool) or not isinstance(sv, int) or sv not in SCHEMA_VERSIONS:
        raise r.error("schema_version",
                      f"unknown schema_version {sv!r} (supported: {', '.join(map(str, SCHEMA_VERSIONS))})")

    scalars = {"schema_version", "name", "description", "default_mode", "tf32"}
    tables = {"memory", "interconnect", "cpu", "gpu", "modes"}
    for k, v in doc.items():
        if k in scalars or k in tables:
            continue
        if isinstance(v, dict):
            raise r.error(k, f"unknown device kind {k!r} (known: {', '.join(DEVICE_KINDS)})")
        raise r.error(k, f"unknown key (allowed at top level: {', '.join(sorted(scalars | tables))})")

    name = r.text(doc, "name", "", default=default_name or "")
    if not name:
        raise r.error("name", "missing required field")
    description = r.text(doc, "description", "", default="")
    default_mode = r.text(doc, "default_mode", "")
    tf32 = r.text(doc, "tf32", "", default="conv")
    if tf32 not in TF32_MODES:
        raise r.error("tf32", f"unknown value {tf32!r} (known: {', '.join(TF32_MODES)})")

    mem_t = r.table(doc, "memory", "")
    r.keys(mem_t, "memory", {"capacity_bytes", "peak_bw"})
    memory = Memory(
        capacity_bytes=r.num(mem_t, "capacity_bytes", "memory"),
        peak_bw=r.num(mem_t, "peak_bw", "memory"),
    )

    ic_t = r.table(doc, "interconnect", "")
    r.keys(ic_t, "interconnect", {"copy_bw", "t_sync", "concurrent_bw_fraction", "shared_dram"})
    shared = ic_t.get("shared_dram", True)
    if not isinstance(shared, bool):
        raise r.error("interconnect.shared_dram", f"must be true or false, got {shared!r}")
    interconnect = Interconnect(
        copy_bw=r.num(ic_t, "copy_bw", "interconnect"),
        t_sync=r.num(ic_t, "t_sync", "interconnect", lo_incl=True, hi=MAX_OVERHEAD_S),
        concurrent_bw_fraction=r.num(ic_t, "concurrent_bw_fraction", "interconnect", hi=1.0),
        shared_dram=shared,
    )

    cpu = _parse_device(r, doc, "cpu")
    gpu = _parse_device(r, doc, "gpu")

    modes_t = r.table(doc, "modes", "")
    if not modes_t:
        raise r.error("modes", "at least one power mode is required")
    modes = tuple(_parse_mode(r, name_m, tbl, cpu, gpu, memory) for name_m, tbl in modes_t.items())
    names = {m.name for m in modes}
    seen_alias: set[str] = set()
    for m in modes:
        for a in m.aliases:
            if a in names or a in seen_alias:
                raise r.error(f"modes.{m.name}.aliases", f"alias {a!r} clashes with another mode name or alias")
            seen_alias.add(a)
    if default_mode not in names and default_mode not in seen_alias:
        raise r.error("default_mode",
                      f"unknown power mode {default_mode!r} (known: {', '.join(m.name for m in modes)})")

    return Platform(
        name=name,
        description=description,
        cpu=cpu,
        gpu=gpu,
        memory=memory,
        interconnect=interconnect,
        modes=modes,
        default_mode=default_mode,
        tf32=tf32,
        schema_version=sv,
        source=source,
        provenance=tuple(r.prov),
    )


def _parse_per_precision(r: _Reader, tbl: dict[str, Any], path: str, need: set[str] | None = None) -> PerPrecision:
    r.keys(tbl, path, {"fp32", "fp16", "fp16_tc", "tf32"})
    if need is not None:
        for p in sorted(need - set(tbl)):
            raise r.error(f"{path}.{p}", "missing required field (flop_per_cycle declares it)")
    tc = r.num(tbl, "fp16_tc", path) if "fp16_tc" in tbl else None
    tf = r.num(tbl, "tf32", path) if "tf32" in tbl else None
    return PerPrecision(fp32=r.num(tbl, "fp32", path), fp16=r.num(tbl, "fp16", path), fp16_tc=tc, tf32=tf)


def _parse_device(r: _Reader, doc: dict[str, Any], kind: str) -> DeviceSpec:
    t = r.table(doc, kind, "")
    r.keys(t, kind, {"name", "unit_name", "units", "max_clock_hz", "flop_per_cycle", "peak_flops", "latency"})
    name = r.text(t, "name", kind)
    unit_name = r.text(t, "unit_name", kind)
    units = int(r.num(t, "units", kind, lo=1.0, lo_incl=True, integer=True))
    clock = r.num(t, "max_clock_hz", kind)
    fpc = _parse_per_precision(r, r.table(t, "flop_per_cycle", kind), f"{kind}.flop_per_cycle")
    peak_t = r.table(t, "peak_flops", kind)
    peak = _parse_per_precision(r, peak_t, f"{kind}.peak_flops", need={p for p, _ in fpc.items()})
    for rate in ("fp16_tc", "tf32"):
        if getattr(peak, rate) is not None and getattr(fpc, rate) is None:
            raise r.error(f"{kind}.peak_flops.{rate}", f"declared but flop_per_cycle has no {rate}")
    for prec, declared in peak.items():
        computed = units * clock * fpc.get(prec)
        if not math.isfinite(computed):  # 1e300 units × a clock: the check below would pass on inf
            raise r.error(f"{kind}.peak_flops.{prec}", f"units × max_clock_hz × flop_per_cycle overflows ({computed})")
        if abs(declared - computed) > PEAK_TOLERANCE * computed:
            raise r.error(
                f"{kind}.peak_flops.{prec}",
                f"value {declared!r} disagrees with units × max_clock_hz × flop_per_cycle = {computed:.6g}"
                f" by more than {PEAK_TOLERANCE:.0%}",
            )
    latency = _parse_latency(r, r.table(t, "latency", kind), f"{kind}.latency")
    return DeviceSpec(kind=kind, name=name, unit_name=unit_name, units=units, max_clock_hz=clock,
                      flop_per_cycle=fpc, peak_flops=peak, latency=latency)


def _ranged(r: _Reader, tbl: dict[str, Any], key: str, path: str, default: float | None = None,
            rule: str | None = None) -> float:
    lo, hi, incl = VALID_RANGES[rule or key]
    return r.num(tbl, key, path, lo=lo, hi=hi, lo_incl=incl, default=default)


def _parse_latency(r: _Reader, t: dict[str, Any], path: str) -> LatencyParams:
    allowed = {p.name for p in SCALAR_PARAMS} | {"eta", "sparse_kinds", "noise_sigma", "residual", "dispatch_factor",
                                                  "act_kinds", *ACT_SPARSE_PARAMS, *ACT_CACHE_PARAMS, *OPTIONAL_TERMS}
    r.keys(t, path, allowed)
    vals: dict[str, Any] = {}
    for p in SCALAR_PARAMS:
        default = 0.0 if p.name == "sharpness" else None
        vals[p.name] = _ranged(r, t, p.name, path, default=default)
    vals["noise_sigma"] = _ranged(r, t, "noise_sigma", path, default=0.0)
    for name in OPTIONAL_TERMS:  # absent = the dataclass's 0: no term (hwmodels.latency), nothing recorded
        if name in t:
            vals[name] = _ranged(r, t, name, path)
    eta_t = r.table(t, "eta", path)
    known = {k.value for k in KINDS}
    for k in eta_t:
        if k not in known:
            raise r.error(f"{path}.eta.{k}", f"unknown operator kind {k!r} (known: {', '.join(sorted(known))})")
    eta = tuple(_ranged(r, eta_t, k.value, f"{path}.eta", rule="eta") for k in KINDS)
    sk = t.get("sparse_kinds", [])
    if not isinstance(sk, list) or not all(isinstance(x, str) for x in sk):
        raise r.error(f"{path}.sparse_kinds", f"must be a list of operator kinds, got {sk!r}")
    try:
        sparse_kinds = tuple(parse_kind(x) for x in sk)
    except ValueError as e:
        raise r.error(f"{path}.sparse_kinds", str(e)) from None
    residual = _parse_residual(r, t["residual"], f"{path}.residual") if "residual" in t else None
    factor = _parse_dispatch_factor(r, r.table(t, "dispatch_factor", path), f"{path}.dispatch_factor") \
        if "dispatch_factor" in t else ()
    if "act_kinds" in t:  # the optional activation-sparse kernel (hwmodels.latency); absent = none
        ak = t["act_kinds"]
        if not isinstance(ak, list) or not all(isinstance(x, str) for x in ak):
            raise r.error(f"{path}.act_kinds", f"must be a list of operator kinds, got {ak!r}")
        try:
            vals["act_kinds"] = tuple(parse_kind(x) for x in ak)
        except ValueError as e:
            raise r.error(f"{path}.act_kinds", str(e)) from None
        for name in ACT_SPARSE_PARAMS:
            vals[name] = _ranged(r, t, name, path)
        for name in ACT_CACHE_PARAMS:  # optional: absent = no cache term
            vals[name] = _ranged(r, t, name, path, default=0.0)
    elif any(name in t for name in ACT_SPARSE_PARAMS + ACT_CACHE_PARAMS):
        raise r.error(f"{path}.act_kinds", "the activation-sparse kernel's figures need act_kinds (the kinds it serves)")
    return LatencyParams(eta=eta, sparse_kinds=sparse_kinds, residual=residual, dispatch_factor=factor, **vals)


def _parse_dispatch_factor(r: _Reader, t: dict[str, Any], path: str) -> tuple[float, ...]:
    """``[<device>.latency.dispatch_factor]``: tagged per-kind multipliers on ``t_dispatch``; a kind
    left out keeps 1 (no provenance entry: it is the plain per-kernel rule)."""
    known = {k.value for k in KINDS}
    for k in t:
        if k not in known:
            raise r.error(f"{path}.{k}", f"unknown operator kind {k!r} (known: {', '.join(sorted(known))})")
    return tuple(_ranged(r, t, k.value, path, rule="dispatch_factor") if k.value in t else 1.0 for k in KINDS)


def _parse_residual(r: _Reader, t: Any, path: str) -> Residual:
    """``[<device>.latency.residual]``: origin, note, and plain lists (features, coef, center, scale, clip)."""
    if not isinstance(t, dict):
        raise r.error(path, f"must be a table, got {t!r}")
    r.keys(t, path, {"origin", "note", "features", "coef", "center", "scale", "clip"})
    origin = r.text(t, "origin", path)
    if origin not in ORIGINS:
        raise r.error(f"{path}.origin", f"unknown origin {origin!r} (known: {', '.join(ORIGINS)})")
    note = r.text(t, "note", path, default="")
    feats = t.get("features")
    if not isinstance(feats, list) or not all(isinstance(f, str) for f in feats):
        raise r.error(f"{path}.features", f"must be a list of feature names, got {feats!r}")
    for f in feats:
        try:
            validate_feature(f)
        except ValueError as e:
            raise r.error(f"{path}.features", str(e)) from None
    lists: dict[str, list[float]] = {}
    for key in ("coef", "center", "scale", "clip"):
        v = t.get(key)
        if key == "clip" and v is None:
            continue
        if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            raise r.error(f"{path}.{key}", f"must be a list of numbers, got {v!r}")
        bad = [x for x in v if not math.isfinite(x)]
        if bad:
            raise r.error(f"{path}.{key}", f"value {bad[0]!r} is not finite")
        want = 2 if key == "clip" else len(feats)
        if len(v) != want:
            raise r.error(f"{path}.{key}", f"has {len(v)} entries, expected {want}")
        lists[key] = [float(x) for x in v]
    if any(x <= 0 for x in lists["scale"]):
        raise r.error(f"{path}.scale", f"entries must be > 0, got {lists['scale']!r}")
    try:
        return Residual(features=tuple(feats), note=note, **{k: tuple(v) for k, v in lists.items()})
    except ValueError as e:
        raise r.error(path, str(e)) from None


def _parse_mode(r: _Reader, name: str, t: Any, cpu: DeviceSpec, gpu: DeviceSpec, memory: Memory) -> PowerMode:
    path = f"modes.{name}"
    if not isinstance(t, dict):
        raise r.error(path, f"must be a table, got {t!r}")
    r.keys(t, path, {"nvpmodel_id", "description", "aliases", "cpu_cores", "cpu_clock_hz", "gpu_tpcs",
                     "gpu_clock_hz", "emc_bw", "cpu_bw_scale", "energy"})
    nv = t.get("nvpmodel_id")
    if nv is not None and (isinstance(nv, bool) or not isinstance(nv, int)):
        raise r.error(f"{path}.nvpmodel_id", f"must be an integer, got {nv!r}")
    aliases = t.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise r.error(f"{path}.aliases", f"must be a list of strings, got {aliases!r}")
    cores = int(r.num(t, "cpu_cores", path, lo=1.0, lo_incl=True, hi=float(cpu.units), integer=True))
    tpcs = int(r.num(t, "gpu_tpcs", path, lo=1.0, lo_incl=True, hi=float(gpu.units), integer=True))
    cpu_clk = r.num(t, "cpu_clock_hz", path, hi=cpu.max_clock_hz * (1 + 1e-9))
    gpu_clk = r.num(t, "gpu_clock_hz", path, hi=gpu.max_clock_hz * (1 + 1e-9))
    emc = r.num(t, "emc_bw", path, hi=memory.peak_bw * (1 + 1e-9))
    cpu_bw_scale = r.num(t, "cpu_bw_scale", path, hi=1.0) if "cpu_bw_scale" in t else None
    e_t = r.table(t, "energy", path)
    ep = f"{path}.energy"
    r.keys(e_t, ep, {"board_idle_w", "cpu", "gpu"})
    devs = []
    for kind in DEVICE_KINDS:
        dt = r.table(e_t, kind, ep)
        dp = f"{ep}.{kind}"
        r.keys(dt, dp, {"eps_flop", "eps_byte", "p_static"})
        devs.append(DeviceEnergy(
            eps_flop=r.num(dt, "eps_flop", dp, lo_incl=True),
            eps_byte=r.num(dt, "eps_byte", dp, lo_incl=True),
            p_static=r.num(dt, "p_static", dp, lo_incl=True),
        ))
    energy = EnergyCoefficients(cpu=devs[0], gpu=devs[1], board_idle_w=r.num(e_t, "board_idle_w", ep, lo_incl=True))
    return PowerMode(
        name=name, cpu_cores=cores, cpu_clock_hz=cpu_clk, gpu_tpcs=tpcs, gpu_clock_hz=gpu_clk, emc_bw=emc,
        energy=energy, nvpmodel_id=nv, aliases=tuple(aliases), description=r.text(t, "description", path, ""),
        cpu_bw_scale=cpu_bw_scale,
    )


# --- writing --------------------------------------------------------------------------
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else json.dumps(k, ensure_ascii=False)


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} to TOML")


def platform_to_toml(platform: Platform) -> str:
    """The platform as TOML text in the profile schema (every number with its origin)."""
    prov = {k: (o, n) for k, o, n in platform.provenance}
    lines = [f"# SparOA-sim hardware profile: {platform.name}"]
    _emit(lines, platform.raw_tree(), [], prov)
    return "\n".join(lines).strip("\n") + "\n"


def _emit(lines: list[str], node: dict[str, Any], parts: list[str], prov: dict[str, tuple[str, str]]) -> None:
    """Append ``node``'s key/values, then its sub-tables under ``[a.b.c]`` headers."""
    subs = [(k, v) for k, v in node.items() if isinstance(v, dict)]
    scalars = [(k, v) for k, v in node.items() if not isinstance(v, dict)]
    if scalars and parts:
        lines.append("")
        lines.append("[" + ".".join(_key(p) for p in parts) + "]")
    elif not parts:
        lines.append("")
    for k, v in scalars:
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in UNTAGGED_KEYS:
            origin, note = prov.get(".".join(parts + [k]), ("assumed", "no origin recorded"))
            tag = f"{{ value = {_scalar(v)}, origin = {_scalar(origin)}"
            tag += f", note = {_scalar(note)} }}" if note else " }"
            lines.append(f"{_key(k)} = {tag}")
        else:
            lines.append(f"{_key(k)} = {_scalar(v)}")
    for k, v in subs:
        _emit(lines, v, parts + [k], prov)


def save_platform(platform: Platform, path: str | os.PathLike[str]) -> Path:
    """Write the platform as a TOML profile atomically (temp file + rename); returns the path."""
    path = Path(path).expanduser()
    text = platform_to_toml(platform)
    parse_platform(text, str(path))  # never write a profile that would not load back
    atomic_write_text(path, text)
    return path
