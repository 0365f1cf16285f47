"""Does a re-run reproduce a committed result? Compare two result documents figure by figure.

``make bench`` rewrites the result files under ``benchmarks/results/``; :func:`diff_results` walks
the committed document and the new one side by side and lists every figure that moved beyond a
relative tolerance (and every key, list length or label that changed), skipping what records the
run rather than its result (provenance, dates, wall times, load averages). :data:`TOLERANCE` is the
noise each committed file is held to: computations that do not measure this machine (the
predictor's seeded training, the published-latency check, the fitted overheads) must reproduce
exactly; figures timed on this VM within the ±25 % run-to-run noise the README states (issue 24).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Difference", "TOLERANCE", "RUN_KEYS", "diff_results", "skip_for", "tolerance_for"]

#: Keys that describe the run, not its result: never compared.
RUN_KEYS = frozenset({
    "provenance", "date", "command", "json_path", "wall_s", "elapsed_s", "train_s", "sweep_s",
    "loadavg", "loadavg_before", "loadavg_after", "load_avg", "machine", "python", "host", "git_commit",
})

#: Raw repeated samples (each round's or repetition's own ratio): their median is the figure compared.
SAMPLE_KEYS = frozenset({"round_ratios", "rep_ratios"})

#: Files whose figures are ratios timed in one run (the machine's speed cancels): their absolute times move
#: with the host's speed from one run to the next and are not compared.
RATIO_FILES: dict[str, frozenset[str]] = {
    "env_speed.json": frozenset({"steps_per_s", "cartpole_steps_per_s"}),
    "engine.json": frozenset({"per_op_s", "bare_timeout_s"}),
}

#: Relative tolerance per committed result file (0 = must reproduce exactly; None = not comparable
#: figure by figure: a time-limited or wall-clock-budgeted search, compared by its own summary).
TOLERANCE: dict[str, float | None] = {
    "predictor.json": 0.0,
    "published.json": 0.0,
    "fit_published_overheads.json": 0.0,
    "env_speed.json": 0.25,
    "engine.json": 0.25,
    "hw_predict.json": 0.25,
    "replay_first_request.json": 0.25,
    "host_quick_calibration.json": 0.25,
    "sim_to_real.json": 0.25,
    "calibration.json": 0.25,
    "oracle.json": None,
    "scenarios.json": None,
}

#: Absolute floor under which two figures count as equal whatever their ratio (e.g. 1e-17 vs 0).
_ABS = 1e-12


@dataclass(frozen=True)
class Difference:
    """One figure or structure that differs: where (a dotted path), the committed and the new value,
    and their relative difference (None for structural or label changes)."""

    path: str
    old: Any
    new: Any
    rel: float | None

    def describe(self) -> str:
        if self.rel is None:
            return f"{self.path}: {self.old!r} -> {self.new!r}"
        return f"{self.path}: {self.old:.6g} -> {self.new:.6g} ({self.rel:+.1%})"


def tolerance_for(name: str) -> float | None:
    """The relative tolerance of a result file by its name: :data:`TOLERANCE`; the sparsity sweeps
    and checks (``sparsity*.json``) time kernels on this VM (±25 %); any other file: exact."""
    if name in TOLERANCE:
        return TOLERANCE[name]
    return 0.25 if name.startswith("sparsity") else 0.0


def skip_for(name: str) -> frozenset[str]:
    """Keys not compared in result file ``name``: the run's record, raw samples, and a ratio file's
    absolute times (:data:`RATIO_FILES`)."""
    return RUN_KEYS | SAMPLE_KEYS | RATIO_FILES.get(name, frozenset())


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _walk(old: Any, new: Any, path: str, rtol: float, skip: frozenset[str]) -> Iterator[Difference]:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in old.keys() | new.keys():
            if k in skip:
                continue
            p = f"{path}.{k}" if path else str(k)
            if k not in new or k not in old:
                yield Difference(p, old.get(k, "<absent>"), new.get(k, "<absent>"), None)
            else:
                yield from _walk(old[k], new[k], p, rtol, skip)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            yield Difference(f"{path}[len]", len(old), len(new), None)
            return
        for i, (a, b) in enumerate(zip(old, new)):
            yield from _walk(a, b, f"{path}[{i}]", rtol, skip)
    elif _number(old) and _number(new):
        a, b = float(old), float(new)
        if math.isnan(a) and math.isnan(b):
            return
        if abs(a - b) <= _ABS:
            return
        rel = (b - a) / abs(a) if a != 0 else math.inf
        if not abs(rel) <= rtol:  # NaN against a number fails too
            yield Difference(path, a, b, rel)
    elif old != new:
        yield Difference(path, old, new, None)


def diff_results(old: Any, new: Any, *, rtol: float = 0.0,
                 skip: frozenset[str] = RUN_KEYS) -> list[Difference]:
    """Every difference between two JSON-like documents: numbers beyond ``rtol`` (relative to the
    committed value), changed labels, missing keys and list lengths; keys in ``skip`` at any depth
    are ignored."""
    if not (rtol >= 0 and math.isfinite(rtol)):
        raise ValueError(f"rtol must be a finite number >= 0, got {rtol!r}")
    return sorted(_walk(old, new, "", rtol, skip), key=lambda d: d.path)
