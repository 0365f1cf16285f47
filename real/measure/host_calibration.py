"""This machine as a platform: the calibrated ``host`` profile, calibrating first when there is none.

Shared by ``sparoa validate --platform host`` and ``sparoa demo``; ``benchmarks/calibration.py``
is the full run (every shipped workload, the per-kind fit table, the end-to-end check). The
quick calibration here measures as the full one does — the CPU time of the one timing thread
(``thread_cpu`` clock), so the time other tenants take the core away is left out — and records
how busy the machine was meanwhile (``real.measure.quiet``), flagging a disturbed calibration
with the reason and the way to redo it (docs/architecture.md §7). The fitted profile is anchored
end to end (``hwmodels.e2e_anchor``: the per-kernel CPU overhead and one roofline factor fitted to
the eager passes profiled), as the full calibration's is.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sparoa_sim.real.measure import profiler
from sparoa_sim.real.measure.quiet import LoadMonitor, read_counters
from sparoa_sim.real.measure.sparse_sweep import DEFAULT_SPARSE_SHAPES

__all__ = ["QUICK_BUDGET_S", "QUICK_CALIBRATION", "QUICK_CLOCK", "QuickCalibration", "calibrate_host",
           "ensure_host_profile", "redo_hint", "workload_graphs"]

#: Workloads profiled when the host has to be calibrated first (small, every kind of conv net;
#: the two ``sparoa demo`` validates among them).
QUICK_CALIBRATION: tuple[str, ...] = ("resnet18", "mobilenetv2", "mobilenetv3_small")
#: Profiling seconds per workload (the full calibration's default is 40): three workloads, one
#: fit, about a minute on a 2-core host.
QUICK_BUDGET_S = 15.0
#: The full calibration's clock (``benchmarks/calibration.py --clock``): on a shared host the
#: wall clock counts other tenants' time slices, at different moments for the graph passes and
#: the eager passes, so the fitted rows and the eager figure they should add up to disagree.
QUICK_CLOCK = "thread_cpu"


@dataclass(frozen=True)
class QuickCalibration:
    """Outcome of :func:`calibrate_host`: the fitted platform, where it was stored (None: not
    stored), the tables, per workload ``(eager s, twin s, error)`` in sample (the engine's
    CPU-only reference latency vs the eager time profiled), the conditions, the seconds taken, and
    the end-to-end anchor's report (``hwmodels.e2e_anchor.AnchorResult.report``; None: no anchor)."""

    platform: Any
    path: Any
    tables: tuple[Any, ...]
    in_sample: dict[str, tuple[float, float, float]]
    conditions: Any
    elapsed_s: float
    anchor: dict[str, Any] | None = None


def workload_graphs(names: tuple[str, ...]) -> dict[str, Any]:
    """Each shipped workload's operators as the engine sees them (kernels counted), for the anchor."""
    from sparoa_sim.workloads import load_workload

    return {w: load_workload(w).hw_ops for w in names}


def redo_hint() -> str:
    """How to calibrate again, on a quieter machine."""
    from sparoa_sim.hwmodels.profile_io import host_profile_path

    return (f"when the machine is quiet, delete {host_profile_path()} (the next `sparoa demo` or `sparoa validate "
            "--platform host` calibrates again) or run `python benchmarks/calibration.py` for the full calibration")


def calibrate_host(progress: bool = True, *, store: bool = True, names: tuple[str, ...] = QUICK_CALIBRATION,
                   budget_s: float = QUICK_BUDGET_S, clock: str = QUICK_CLOCK,
                   profile: Callable[..., Any] | None = None, monitor: LoadMonitor | None = None,
                   anchor: bool = True) -> QuickCalibration:
    """Profile ``names`` at batch 1 on one thread, fit the host profile, judge the conditions.

    STREAM bandwidth and the dense-vs-CSR sweep run with the first workload. The host base
    profile is built from this CPU and fitted (roofline + residual, then with ``anchor`` the
    end-to-end anchor: ``t_launch`` and one roofline factor fitted to the eager passes profiled,
    ``hwmodels.e2e_anchor``); with ``store`` it is
    written to the user data dir with the eager anchors and the conditions beside it.
    ``profile`` (default :func:`profiler.profile_workload`) and ``monitor`` are swappable for
    tests.
    """
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.hwmodels.calibrate import fit
    from sparoa_sim.hwmodels.host import (
        achieved_flops_per_core,
        assess_conditions,
        detect_host_cpu,
        host_platform,
        store_host_anchors,
        store_host_profile,
        table_spreads,
    )
    from sparoa_sim.sim.simulator import simulate

    started = time.perf_counter()
    say = (lambda m: print(m, file=sys.stderr)) if progress else (lambda m: None)
    run = profile or profiler.profile_workload
    mon = monitor or LoadMonitor(read_counters)
    tables = []
    for i, name in enumerate(names):
        say(f"  [{i + 1}/{len(names)}] profiling {name}")
        tables.append(run(name, batches=(1,), threads=1, time_budget_s=budget_s, bandwidth=i == 0, clock=clock,
                          sparse_shapes=DEFAULT_SPARSE_SHAPES if i == 0 else None,
                          progress=progress and sys.stderr.isatty()))
        phase = mon.mark(name)
        if phase.others_share is not None:
            say(f"      other processes used {phase.others_share:.0%} of the CPU meanwhile")
    bw = tables[0].bandwidth
    base = host_platform(detect_host_cpu(), load_platform("jetson-orin-nano-8gb"), bw.sustained_bytes_per_s,
                         threads=1, mem_bw_note=f"STREAM copy, {bw.nbytes / 2**20:.0f} MiB arrays, {bw.threads} "
                                                f"thread(s)", achieved_per_core=achieved_flops_per_core(tables))
    say("  fitting the host profile")
    fitted = fit(base, tables, anchor=workload_graphs(names) if anchor else False)
    eager = {e.workload: e.time_s for t in tables for e in t.end_to_end if e.batch == 1}
    in_sample = {}
    for w, m in eager.items():
        twin = simulate(w, fitted.platform, policy="cpu", reference=True).latency_mean_s
        in_sample[w] = (m, twin, (twin - m) / m)
    e2e_spread, row_spread = table_spreads(tables)
    cond = assess_conditions(mon.overall(), mon.peak(), mon.source, e2e_spread, row_spread, redo_hint())
    path = None
    if store:
        path = store_host_profile(fitted.platform)
        store_host_anchors(eager, clock=str(tables[0].meta.get("clock", clock)), threads=1, conditions=cond)
    return QuickCalibration(platform=fitted.platform, path=path, tables=tuple(tables), in_sample=in_sample,
                            conditions=cond, elapsed_s=time.perf_counter() - started,
                            anchor=fitted.report.get("e2e_anchor"))


def _warn(cond: Any, when: str) -> None:
    print(f"warning: the host profile was calibrated on a disturbed machine ({when}): {cond.reason}. "
          f"To redo it: {cond.redo}", file=sys.stderr)


def ensure_host_profile(progress: bool = True, *, recalibrate: bool = False) -> Any:
    """The calibrated ``host`` platform; when none is stored (or ``recalibrate``), calibrate first.

    Quick calibration (:func:`calibrate_host`): :data:`QUICK_CALIBRATION` profiled at batch 1
    on one thread, the host base profile built from this CPU, fitted and stored in the user data
    dir. ``benchmarks/calibration.py`` is the full run. A calibration taken on a disturbed
    machine (``hwmodels.host.assess_conditions``) is said so on stderr, now and each time the
    stored profile is loaded; ``hwmodels.host.load_host_conditions`` returns the record.
    """
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.hwmodels.host import load_host_conditions
    from sparoa_sim.hwmodels.profile_io import host_profile_path

    if host_profile_path().is_file() and not recalibrate:
        cond = load_host_conditions()
        if cond is not None and cond.disturbed:
            _warn(cond, "stored earlier")
        return load_platform("host")
    if progress:
        print(f"no calibrated host profile at {host_profile_path()}: calibrating this CPU first "
              f"({', '.join(QUICK_CALIBRATION)}, ~{QUICK_BUDGET_S:.0f} s each)", file=sys.stderr)
    res = calibrate_host(progress)
    if progress:
        errs = ", ".join(f"{w} {e:+.1%}" for w, (_, _, e) in res.in_sample.items())
        print(f"  host profile stored at {res.path} in {res.elapsed_s:.0f} s (twin vs eager, in sample: {errs})",
              file=sys.stderr)
    if res.conditions.disturbed:
        _warn(res.conditions, "just now")
    elif res.conditions.noisy and progress:
        print(f"  note: {res.conditions.note}", file=sys.stderr)
    return load_platform("host")
