"""Scenario files: the shipped set by name, a user's TOML by path, and writing one back (a round trip).

A file holds ``version``, ``name``, ``description``, an optional ``[background]`` table, an optional
``[primary]`` table (its ``[primary.arrival]``; the workload and policy are the command's) and any number
of ``[[corun]]`` tables (``workload``, ``policy``, ``deadline_s``, ``[corun.arrival]``...) and of ``[[power]]``
tables (``time_s``, ``mode``: the board switches power mode then). Unknown keys are
refused, so a typo never silently means a default. Errors name the file and the field.
"""

from __future__ import annotations

import math
import os
from importlib import resources
from pathlib import Path
from typing import Any

from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels.fileio import atomic_write_text, read_toml
from sparoa_sim.limits import MAX_SCENARIO_FILE_BYTES
from sparoa_sim.scenarios.spec import ArrivalSpec, LoadSpec, PowerSwitch, Scenario, StreamSpec

__all__ = ["SCENARIO_DIR", "list_scenarios", "load_scenario", "scenario_from_dict", "scenario_path", "scenario_to_dict",
           "scenario_to_toml", "write_scenario"]

#: Folder holding the shipped ``<name>.toml`` scenarios.
SCENARIO_DIR = Path(str(resources.files("sparoa_sim.scenarios"))) / "builtin"

_LOAD_KEYS = {"kind", "cpu", "gpu", "levels", "mean_hold_s", "devices", "points"}
_ARRIVAL_KEYS = {"kind", "requests", "concurrency", "rate", "fps", "burst", "every_s", "times"}
_STREAM_KEYS = {"workload", "policy", "arrival", "max_batch", "timeout_s", "max_inflight", "deadline_s", "name"}
_TOP_KEYS = {"version", "name", "description", "background", "primary", "corun", "power"}
_POWER_KEYS = {"time_s", "mode"}


def list_scenarios() -> list[str]:
    """Names of the shipped scenarios, sorted."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def scenario_path(name: str | os.PathLike[str]) -> Path:
    """The file behind a scenario name or path; an unknown name raises naming the known ones."""
    text = os.fspath(name)
    if text.endswith(".toml") or "/" in text or os.sep in text:
        return Path(text)
    path = SCENARIO_DIR / f"{text}.toml"
    if not path.is_file():
        raise SimulationError(f"unknown scenario {text!r} (known: {', '.join(list_scenarios())}; "
                              "or give a path to a scenario .toml)")
    return path


def _table(where: str, doc: Any, keys: set[str]) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise SimulationError(f"{where}: expected a table, got {doc!r}")
    unknown = sorted(set(doc) - keys)
    if unknown:
        raise SimulationError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(keys))})")
    return doc


def _arrival(where: str, doc: Any) -> ArrivalSpec:
    d = dict(_table(where, doc, _ARRIVAL_KEYS))
    for k in ("levels", "times"):
        if k in d and isinstance(d[k], list):
            d[k] = tuple(d[k])
    return ArrivalSpec(**d)


def _stream(where: str, doc: Any, primary: bool) -> StreamSpec:
    keys = _STREAM_KEYS - {"workload", "policy", "name"} if primary else _STREAM_KEYS
    d = dict(_table(where, doc, keys))
    if "arrival" in d:
        d["arrival"] = _arrival(f"{where}.arrival", d["arrival"])
    if not primary and "workload" not in d:
        raise SimulationError(f"{where}: missing key 'workload' (the co-running model)")
    try:
        return StreamSpec(**d)
    except TypeError as exc:  # pragma: no cover - keys are checked above
        raise SimulationError(f"{where}: {exc}") from None


def scenario_from_dict(doc: Any, source: str = "scenario") -> Scenario:
    """A :class:`Scenario` from the parsed TOML/JSON form; errors name ``source`` and the field."""
    try:
        d = _table(source, doc, _TOP_KEYS)
        if "name" not in d:
            raise SimulationError(f"{source}: missing key 'name'")
        bg = d.get("background")
        background = None
        if bg is not None:
            b = dict(_table(f"{source}: background", bg, _LOAD_KEYS))
            for k in ("levels", "devices"):
                if isinstance(b.get(k), list):
                    b[k] = tuple(b[k])
            if isinstance(b.get("points"), list):
                b["points"] = tuple(tuple(p) if isinstance(p, list) else p for p in b["points"])
            background = LoadSpec(**b)
        primary = _stream(f"{source}: primary", d.get("primary", {}), primary=True)
        coruns = d.get("corun", [])
        if not isinstance(coruns, list):
            raise SimulationError(f"{source}: corun must be an array of tables ([[corun]]), got {coruns!r}")
        power = d.get("power", [])
        if not isinstance(power, list):
            raise SimulationError(f"{source}: power must be an array of tables ([[power]]), got {power!r}")
        switches = []
        for i, sw in enumerate(power):
            t = _table(f"{source}: power[{i}]", sw, _POWER_KEYS)
            missing = sorted(_POWER_KEYS - set(t))
            if missing:
                raise SimulationError(f"{source}: power[{i}]: missing key {missing[0]!r}")
            try:
                switches.append(PowerSwitch(**t))
            except SimulationError as exc:
                raise SimulationError(f"{source}: power[{i}]: {exc}") from None
        return Scenario(name=d["name"], description=d.get("description", ""), background=background, primary=primary,
                        coruns=tuple(_stream(f"{source}: corun[{i}]", c, primary=False) for i, c in enumerate(coruns)),
                        version=d.get("version", 1), power=tuple(switches))
    except SimulationError as exc:
        msg = str(exc)
        raise SimulationError(msg if msg.startswith(source) else f"{source}: {msg}") from None


def load_scenario(name: str | os.PathLike[str] | Scenario) -> Scenario:
    """A shipped scenario by name, or a user's scenario TOML by path (a :class:`Scenario` passes through)."""
    if isinstance(name, Scenario):
        return name
    if not isinstance(name, (str, os.PathLike)):
        raise SimulationError(f"scenario must be a name or a path, got {name!r}")
    path = scenario_path(name)
    # the one bounded reader (size and nesting checked before parsing; README "Limits")
    doc = read_toml(path, "scenario file", SimulationError, MAX_SCENARIO_FILE_BYTES, where=f"scenario file {path}")
    return scenario_from_dict(doc, f"scenario file {path}")


def _stream_dict(s: StreamSpec, primary: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not primary:
        out["workload"] = s.workload
        out["policy"] = s.policy
        if s.name is not None:
            out["name"] = s.name
    for k, default in (("max_batch", 1), ("max_inflight", 1)):
        if getattr(s, k) != default:
            out[k] = getattr(s, k)
    if s.timeout_s != math.inf:
        out["timeout_s"] = s.timeout_s
    if s.deadline_s is not None:
        out["deadline_s"] = s.deadline_s
    a = s.arrival
    arr: dict[str, Any] = {"kind": a.kind}
    if a.kind != "trace":
        arr["requests"] = a.requests
    arr.update({"closed": {"concurrency": a.concurrency} if a.concurrency is not None else {},
                "poisson": {"rate": a.rate}, "periodic": {"fps": a.fps},
                "bursts": {"burst": a.burst, "every_s": a.every_s}, "trace": {"times": list(a.times)}}[a.kind])
    out["arrival"] = arr
    return out


def scenario_to_dict(s: Scenario) -> dict[str, Any]:
    """The TOML/JSON form of ``s`` (what :func:`scenario_from_dict` reads back to an equal value)."""
    out: dict[str, Any] = {"version": s.version, "name": s.name, "description": s.description}
    b = s.background
    if b is not None:
        out["background"] = {"fixed": {"kind": "fixed", "cpu": b.cpu, "gpu": b.gpu},
                             "markov": {"kind": "markov", "levels": list(b.levels), "mean_hold_s": b.mean_hold_s,
                                        "devices": list(b.devices)},
                             "trace": {"kind": "trace", "points": [list(p) for p in b.points]}}[b.kind]
    out["primary"] = _stream_dict(s.primary, primary=True)
    if s.coruns:
        out["corun"] = [_stream_dict(c, primary=False) for c in s.coruns]
    if s.power:
        out["power"] = [{"time_s": sw.time_s, "mode": sw.mode} for sw in s.power]
    return out


_CHAR = {"\"": "\\\"", "\\": "\\\\"}


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, int) or math.isfinite(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, str):
        return '"' + "".join(_CHAR.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c)
                             for c in v) + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} to TOML")  # pragma: no cover


def _emit(lines: list[str], header: str | None, table: dict[str, Any], array: bool = False) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and not (isinstance(v, list) and v
                                                                                   and isinstance(v[0], dict))}
    if header is not None:
        lines.append(f"\n[[{header}]]" if array else f"\n[{header}]")
    lines += [f"{k} = {_value(v)}" for k, v in scalars.items()]
    for k, v in table.items():
        if isinstance(v, dict):
            _emit(lines, f"{header}.{k}" if header else k, v)
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                _emit(lines, f"{header}.{k}" if header else k, item, array=True)


def scenario_to_toml(s: Scenario) -> str:
    """``s`` as a scenario file (TOML)."""
    lines: list[str] = []
    _emit(lines, None, scenario_to_dict(s))
    return "\n".join(lines).lstrip("\n") + "\n"


def write_scenario(s: Scenario, path: str | os.PathLike[str]) -> Path:
    """Write ``s`` to ``path`` atomically (temp file, then rename)."""
    return atomic_write_text(path, scenario_to_toml(s))
