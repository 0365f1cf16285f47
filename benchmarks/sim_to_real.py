"""Sim-to-real on this machine: the twin's CPU-only prediction against the hybrid executor, every workload.

For each shipped workload (or ``--workloads``), ``real.validate`` runs the CPU-only placement
through the twin (this machine's calibrated ``host`` profile, calibrated first when there is
none) and through the executor, with eager PyTorch timed in the same rounds. Reported per
workload: twin, executor and eager latency, the executor's error and repeatability, the
executor's overhead over eager, and — where the host profile stored the eager latencies of its
calibration — the host's drift since then and the twin's error once scaled by it (a shared
host's speed moves between the two moments; the drift is a ratio of two timings of one model).
docs/architecture.md §8 target: |error| ≤ 5 % for every workload.

Which profile: by default the ``host`` profile stored in the user data dir (calibrated first
when there is none — then on three CNNs only, ``real.measure.host_calibration``), whose training
set this script cannot see. With ``--tables DIR`` (the measurement tables of
``benchmarks/calibration.py``) it fits the profile itself: *in sample* on every table, and
*held out* per family (an architecture and its pruned variants) without any of that family's
measurements; each row then carries both errors, labelled, against the same executor timing.

Prints a table and writes ``benchmarks/results/sim_to_real.json`` with its provenance.

    python benchmarks/sim_to_real.py [--workloads resnet18 vgg16] [--reps 12] [--tables DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from sparoa_sim.agents.experiments.provenance import provenance
from sparoa_sim.hwmodels import Platform, load_platform
from sparoa_sim.hwmodels.calibrate import fit
from sparoa_sim.hwmodels.errors import CalibrationError
from sparoa_sim.hwmodels.fileio import atomic_write_text
from sparoa_sim.hwmodels.held_out import family_of, fit_without_families, host_base, table_families
from sparoa_sim.hwmodels.measurements import load_table
from sparoa_sim.real.measure.host_calibration import ensure_host_profile
from sparoa_sim.real.run.validate import candidate_schedules, validate
from sparoa_sim.workloads import list_workloads, load_workload

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sim_to_real.json"
TARGET = 0.05
_KEYS = ("predicted_s", "executor_s", "executor_error", "executor_repeatability", "eager_s", "eager_error",
         "calibration_eager_s", "host_drift", "drift_corrected_error")


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:+.1%}"


def twin_cpu_only(platform: Platform, workload: str) -> float:
    """The twin's CPU-only latency as ``validate`` predicts it (deterministic setting, batch 1)."""
    graph = load_workload(workload)
    return candidate_schedules(graph, platform, ["cpu"], mode=platform.mode(None).name)[0].predicted_s


class HeldOutProfiles:
    """Profiles fitted from calibration tables: on every table, and per family without it."""

    def __init__(self, tables_dir: Path, gpu_side: str = "jetson-orin-nano-8gb") -> None:
        paths = sorted(tables_dir.glob("*.json"))
        if not paths:
            raise CalibrationError(f"--tables {tables_dir}: no measurement tables (*.json) there")
        self.tables = [load_table(p) for p in paths]
        self.source = str(tables_dir)
        gpu = load_platform(gpu_side)
        self.make_base = lambda ts: host_base(ts, gpu)
        self.trained = table_families(self.tables)
        self.in_sample = fit(self.make_base(self.tables), self.tables).platform
        self._held: dict[str, Platform | None] = {}

    def held_out(self, workload: str) -> Platform | None:
        """The profile fitted without ``workload``'s family (the in-sample one where it was never
        measured; None where nothing else is left to fit on)."""
        fam = family_of(workload)
        if fam not in self.trained:
            return self.in_sample
        if fam not in self._held:
            try:
                self._held[fam] = fit_without_families(self.make_base, self.tables, [fam]).platform
            except CalibrationError:
                self._held[fam] = None
        return self._held[fam]


def summary_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Headlines: for each figure, the worst row against the target and every workload that misses."""
    out = []
    for label, key in (("raw", "executor_error"), ("drift-scaled", "drift_corrected_error"),
                       ("held out (leave one family out)", "held_out_error")):
        pairs = [(r["workload"], abs(r[key])) for r in rows if r.get(key) is not None]
        if not pairs:
            continue
        worst = max(pairs, key=lambda p: p[1])
        misses = [w for w, e in pairs if e > TARGET]
        out.append(f"{label}: {len(pairs) - len(misses)} of {len(pairs)} within {TARGET:.0%}; worst {worst[0]} "
                   f"{worst[1]:.1%}; misses: {', '.join(misses) or 'none'}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=None, help="default: every shipped workload")
    ap.add_argument("--reps", type=int, default=12, help="executor runs per workload, in two halves")
    ap.add_argument("-o", "--output", type=Path, default=RESULTS)
    ap.add_argument("--tables", type=Path, default=None,
                    help="fit the host profile from these calibration tables (benchmarks/calibration.py's) and "
                         "report each workload held out by family beside in sample")
    args = ap.parse_args(argv)
    prov = provenance("benchmarks/sim_to_real.py", sys.argv[1:] if argv is None else argv)
    names = args.workloads or list_workloads()
    fits = HeldOutProfiles(args.tables) if args.tables is not None else None
    host = fits.in_sample if fits is not None else ensure_host_profile(progress=True)
    if fits is None:
        print(f"profile: the stored host profile {host.source}; its training workloads are not recorded, so every "
              "figure may be in sample (give --tables for held-out figures)", file=sys.stderr)
    else:
        print(f"profile: fitted from {fits.source} on {', '.join(sorted(fits.trained))}; held out: refitted "
              "without each scored family", file=sys.stderr)
    rows: list[dict[str, Any]] = []
    for w in names:
        rep = validate(w, host, policies=["cpu"], reps=args.reps, threads=1)
        d = rep.to_dict()
        c = d["cpu_only"] or {}
        row = {"workload": w, **{k: c.get(k) for k in _KEYS}, "per_op_within_10pct": d["within_10pct"],
               "other_processes_cpu_share": d["meta"].get("other_processes_cpu_share")}
        row["executor_over_eager"] = (row["executor_s"] / row["eager_s"]) if row["executor_s"] and row["eager_s"] else None
        row["family"] = family_of(w)
        row["family_in_training"] = None if fits is None else row["family"] in fits.trained
        held = fits.held_out(w) if fits is not None else None
        row["held_out_predicted_s"] = twin_cpu_only(held, w) if held is not None else None
        row["held_out_error"] = ((row["held_out_predicted_s"] - row["executor_s"]) / row["executor_s"]
                                 if row["held_out_predicted_s"] is not None and row["executor_s"] else None)
        # what holding the family out moves the twin's own figure by (no timing in it: a shared host's
        # noise does not reach it)
        row["held_out_shift"] = (row["held_out_predicted_s"] / row["predicted_s"] - 1.0
                                 if row["held_out_predicted_s"] is not None and row["predicted_s"] else None)
        rows.append(row)
        print(f"  {w:20s} twin {row['predicted_s'] * 1e3:9.2f} ms  executor {row['executor_s'] * 1e3:9.2f} ms "
              f"({_pct(row['executor_error'])})", file=sys.stderr)

    print(f"\n{'workload':20s} {'twin ms':>9s} {'exec ms':>9s} {'error':>7s} {'held-out':>8s} {'repeat':>7s} "
          f"{'eager ms':>9s} {'exec/eager':>10s} {'drift':>6s} {'scaled':>7s}")
    print("(error: in-sample profile vs executor; held-out: profile fitted without the workload's family)")
    for r in rows:
        drift = "–" if r["host_drift"] is None else f"×{r['host_drift']:.2f}"
        print(f"{r['workload']:20s} {r['predicted_s'] * 1e3:9.2f} {r['executor_s'] * 1e3:9.2f} "
              f"{_pct(r['executor_error']):>7s} {_pct(r['held_out_error']):>8s} {r['executor_repeatability']:7.1%} "
              f"{r['eager_s'] * 1e3:9.2f} {r['executor_over_eager']:10.3f} {drift:>6s} "
              f"{_pct(r['drift_corrected_error']):>7s}")
    raw = [abs(r["executor_error"]) for r in rows]
    scaled = [abs(r["drift_corrected_error"]) for r in rows if r["drift_corrected_error"] is not None]
    held = [abs(r["held_out_error"]) for r in rows if r["held_out_error"] is not None]
    shifts = [(r["workload"], abs(r["held_out_shift"])) for r in rows if r["held_out_shift"] is not None]
    summary = {"within_5pct_raw": sum(e <= TARGET for e in raw), "max_abs_error_raw": max(raw),
               "within_5pct_drift_scaled": sum(e <= TARGET for e in scaled) if scaled else None,
               "max_abs_error_drift_scaled": max(scaled) if scaled else None, "n": len(rows),
               "within_5pct_held_out": sum(e <= TARGET for e in held) if held else None,
               "max_abs_error_held_out": max(held) if held else None, "n_held_out": len(held),
               "max_abs_held_out_shift": max(shifts, key=lambda p: p[1]) if shifts else None,
               "lines": summary_lines(rows)}
    print()
    for line in summary["lines"]:
        print(line)
    doc = {"benchmark": "sim_to_real", "platform": host.name, "profile": str(host.source), "reps": args.reps,
           "tables": fits.source if fits else None, "trained_families": sorted(fits.trained) if fits else None,
           "target": TARGET, "rows": rows, "summary": summary, "provenance": prov,
           "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    out = atomic_write_text(args.output, json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
