"""This machine as a platform: the calibrated ``host`` profile, calibrating first when there is none.

Shared by ``sparoa validate --platform host`` and ``sparoa demo``; ``benchmarks/calibration.py``
is the full run (every shipped workload, the per-kind fit table, the end-to-end check).
"""

from __future__ import annotations

import sys
from typing import Any

from sparoa_sim.real.measure import profiler
from sparoa_sim.real.measure.sparse_sweep import DEFAULT_SPARSE_SHAPES

__all__ = ["QUICK_CALIBRATION", "ensure_host_profile"]

#: Workloads profiled when the host has to be calibrated first (small, every kind of conv net).
QUICK_CALIBRATION: tuple[str, ...] = ("resnet18", "mobilenetv2", "mobilenetv3_small")


def ensure_host_profile(progress: bool = True) -> Any:
    """The calibrated ``host`` platform; when none is stored, profile and calibrate this CPU first.

    Quick calibration: :data:`QUICK_CALIBRATION` profiled at batch 1 on one thread (STREAM
    bandwidth and the dense-vs-CSR sweep with the first), the host base profile built from this
    CPU, fitted (roofline + residual) and stored in the user data dir. ``benchmarks/calibration.py``
    is the full run.
    """
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.hwmodels.profile_io import host_profile_path

    if host_profile_path().is_file():
        return load_platform("host")
    from sparoa_sim.hwmodels.calibrate import fit
    from sparoa_sim.hwmodels.host import (
        achieved_flops_per_core,
        detect_host_cpu,
        host_platform,
        store_host_anchors,
        store_host_profile,
    )

    say = (lambda m: print(m, file=sys.stderr)) if progress else (lambda m: None)
    say(f"no calibrated host profile at {host_profile_path()}: calibrating this CPU first "
        f"({', '.join(QUICK_CALIBRATION)}, ~20 s each)")
    tables = []
    for i, name in enumerate(QUICK_CALIBRATION):
        say(f"  [{i + 1}/{len(QUICK_CALIBRATION)}] profiling {name}")
        tables.append(profiler.profile_workload(
            name, batches=(1,), threads=1, time_budget_s=15.0, bandwidth=i == 0,
            sparse_shapes=DEFAULT_SPARSE_SHAPES if i == 0 else None, progress=progress and sys.stderr.isatty()))
    bw = tables[0].bandwidth
    base = host_platform(detect_host_cpu(), load_platform("jetson-orin-nano-8gb"), bw.sustained_bytes_per_s,
                         threads=1, mem_bw_note=f"STREAM copy, {bw.nbytes / 2**20:.0f} MiB arrays, {bw.threads} "
                                                f"thread(s)", achieved_per_core=achieved_flops_per_core(tables))
    say("  fitting the host profile")
    fitted = fit(base, tables)
    path = store_host_profile(fitted.platform)
    store_host_anchors({e.workload: e.time_s for t in tables for e in t.end_to_end if e.batch == 1},
                       clock=str(tables[0].meta.get("clock", "wall")), threads=1)
    say(f"  host profile stored at {path} (in-graph fit: {fitted.report['within_10pct']:.0%} within ±10 %)")
    return load_platform("host")
