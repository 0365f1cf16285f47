"""Held out by family: an architecture and all its pruned variants (``resnet50``, ``resnet50_pruned50``, …).

A held-out figure holds out whole families (issue 24): a pruned variant has its base model's
operators and shapes, so scoring ``resnet50_pruned80`` with ``resnet50`` in the training set is an
in-sample figure. The family is read from the name alone (``NAME_prunedNN`` is the zoo's pruning
suffix, ``_reduced`` the profiler's small-input variant), so this needs no graph and no torch.
:func:`fit_without_families` fits a profile with every measurement of some families removed: the
profile a family's end-to-end figure is scored on when it is reported held out.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sparoa_sim.hwmodels.calibrate import FitResult, fit
from sparoa_sim.hwmodels.errors import CalibrationError, SparOAError
from sparoa_sim.hwmodels.measurements import MeasurementTable
from sparoa_sim.hwmodels.platform import Platform

__all__ = ["family_of", "fit_without_families", "group_by_family", "host_base", "same_family", "table_families",
           "without_families"]

_SUFFIX = re.compile(r"^(?P<base>.+?)(?:_pruned\d+)?(?:_reduced)?$")


def family_of(workload: str) -> str:
    """The family (base architecture) of a workload name: ``vit_b_16_pruned80`` → ``vit_b_16``."""
    if not isinstance(workload, str) or not workload.strip():
        raise SparOAError(f"family_of: workload must be a non-empty name, got {workload!r}")
    m = _SUFFIX.match(workload)
    return m.group("base") if m else workload


def same_family(a: str, b: str) -> bool:
    """Whether two workload names belong to one family."""
    return family_of(a) == family_of(b)


def group_by_family(workloads: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``{family: its workloads}`` in first-seen order of families and of names (duplicates once)."""
    out: dict[str, list[str]] = {}
    for w in workloads:
        names = out.setdefault(family_of(w), [])
        if w not in names:
            names.append(w)
    return {f: tuple(v) for f, v in out.items()}


def table_families(tables: Iterable[MeasurementTable]) -> set[str]:
    """Families with at least one operator row or end-to-end figure in ``tables``."""
    return {family_of(x.workload) for t in tables for x in (*t.rows, *t.end_to_end)}


def without_families(tables: Iterable[MeasurementTable], families: Iterable[str]) -> list[MeasurementTable]:
    """The tables with every operator row and end-to-end figure of a workload in ``families``
    removed; the STREAM bandwidth and the sparse sweeps stay (their shapes are the profiler's own,
    in no workload). A table left without operator rows hands them to the first table of its
    device that still has rows (a fit refuses a table without rows) and is dropped; with no such
    table it stays as it is left."""
    drop = set(families)
    out: list[MeasurementTable] = []
    for t in tables:
        rows = tuple(r for r in t.rows if family_of(r.workload) not in drop)
        e2e = tuple(e for e in t.end_to_end if family_of(e.workload) not in drop)
        if rows or e2e or t.bandwidth is not None or t.sparse_sweep or t.act_sweep:
            out.append(t if (len(rows), len(e2e)) == (len(t.rows), len(t.end_to_end))
                       else dataclasses.replace(t, rows=rows, end_to_end=e2e))
    for t in [t for t in out if not t.rows]:
        host = next((h for h in out if h.rows and h.device == t.device), None)
        if host is None:
            continue
        merged = dataclasses.replace(host, bandwidth=host.bandwidth or t.bandwidth,
                                     sparse_sweep=host.sparse_sweep + t.sparse_sweep,
                                     act_sweep=host.act_sweep + t.act_sweep)
        out = [merged if h is host else h for h in out if h is not t]
    return out


def fit_without_families(base: Platform | Callable[[list[MeasurementTable]], Platform],
                         tables: Sequence[MeasurementTable], families: Iterable[str], **fit_kwargs: Any) -> FitResult:
    """:func:`~sparoa_sim.hwmodels.calibrate.fit` on ``tables`` less every measurement of ``families``.

    ``base`` is the starting profile, or a function of the remaining tables that builds it (the
    host's base profile takes its clock from the fastest GEMM measured, which must not come from a
    held-out family either). Refused when no operator row is left to fit.
    """
    fams = sorted(set(families))
    keep = without_families(tables, fams)
    if not any(t.rows for t in keep):
        raise CalibrationError(f"fit_without_families: no operator rows left once {', '.join(fams) or '(none)'} "
                               f"are held out (tables hold {', '.join(sorted(table_families(tables))) or 'nothing'})")
    start = base(keep) if callable(base) else base
    return fit(start, keep, **fit_kwargs)


def host_base(tables: Sequence[MeasurementTable], gpu_side: Platform, threads: int | None = None) -> Platform:
    """This host's base profile built from ``tables`` alone: the CPU detected here, the first STREAM
    bandwidth they hold, the clock raised to their fastest GEMM (``hwmodels.host``); ``gpu_side``'s
    GPU. ``threads`` default: the tables' torch threads. What ``benchmarks/calibration.py`` fits."""
    from sparoa_sim.hwmodels.host import achieved_flops_per_core, detect_host_cpu, host_platform

    bw = next((t.bandwidth for t in tables if t.bandwidth is not None), None)
    if bw is None:
        raise CalibrationError("host_base: no STREAM bandwidth measurement in the tables")
    n = threads if threads is not None else int(tables[0].host.get("torch_threads") or 1)
    return host_platform(detect_host_cpu(), gpu_side, bw.sustained_bytes_per_s, threads=n,
                         mem_bw_note=f"STREAM copy, {bw.nbytes / 2**20:.0f} MiB arrays, {bw.threads} thread(s)",
                         achieved_per_core=achieved_flops_per_core(tables))
