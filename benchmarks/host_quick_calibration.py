"""The first-use (quick) host calibration of ``sparoa demo`` / ``validate``: in-sample accuracy and conditions.

Runs :func:`sparoa_sim.real.measure.host_calibration.calibrate_host` ``--runs`` times without
storing anything, and per run prints, for each profiled workload, the measured eager latency,
the twin's CPU-only reference latency with the profile fitted in that run, and the error
(target ≤ 5 %, docs/architecture.md §8) — beside the error of the rows' fit alone, before the
end-to-end anchor (``hwmodels.e2e_anchor``; both from the one run) — and how busy the machine
was (other processes' CPU share, the halves' repeatability), the disturbed verdict and any
noisy-measurement note.

    python benchmarks/host_quick_calibration.py [--runs 3] [--clock thread_cpu] [--budget 15] [--no-anchor]

Writes ``benchmarks/results/host_quick_calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sparoa_sim.agents.experiments.provenance import provenance
from sparoa_sim.hwmodels.fileio import atomic_write_text
from sparoa_sim.real.measure.host_calibration import QUICK_BUDGET_S, QUICK_CLOCK, calibrate_host

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clock", default=QUICK_CLOCK, choices=("thread_cpu", "wall"))
    ap.add_argument("--budget", type=float, default=QUICK_BUDGET_S, help="profiling seconds per workload")
    ap.add_argument("--no-anchor", action="store_true",
                    help="the rows' fit alone (no end-to-end anchor: hwmodels.e2e_anchor), as before")
    ap.add_argument("--json-out", type=Path, default=ROOT / "benchmarks" / "results" / "host_quick_calibration.json")
    args = ap.parse_args(argv)
    runs = []
    for i in range(args.runs):
        load = os.getloadavg()
        res = calibrate_host(progress=False, store=False, budget_s=args.budget, clock=args.clock,
                             anchor=not args.no_anchor)
        c = res.conditions
        passes = (res.anchor or {}).get("passes", {})
        runs.append({"run": i + 1, "elapsed_s": res.elapsed_s, "loadavg_before": list(load),
                     "in_sample": {w: {"eager_s": m, "twin_s": t, "error": e,
                                       "error_rows_fit_only": passes.get(w, {}).get("error_before")}
                                   for w, (m, t, e) in res.in_sample.items()},
                     "anchor": None if res.anchor is None else {k: res.anchor[k] for k in ("t_launch_before", "t_launch",
                                                                                          "scale", "fitted")},
                     "conditions": c.to_dict()})
        print(f"run {i + 1}: {res.elapsed_s:.0f} s, load before {load[0]:.1f}; others' CPU share "
              f"{c.others_cpu_share if c.others_cpu_share is None else f'{c.others_cpu_share:.0%}'}, "
              f"row spread median {c.row_spread_median:.1%}; {'DISTURBED: ' + c.reason if c.disturbed else 'quiet'}"
              + (f" ({c.note})" if c.noisy else ""))
        if res.anchor is not None:
            a = res.anchor
            print(f"  end-to-end anchor: t_launch {a['t_launch_before'] * 1e6:.2f} -> {a['t_launch'] * 1e6:.2f} us, "
                  f"roofline x{a['scale']:.3f}")
        for w, (m, t, e) in res.in_sample.items():
            before = passes.get(w, {}).get("error_before")
            print(f"  {w:20s} eager {m * 1e3:8.2f} ms (halves {c.e2e_spread.get(w, float('nan')):5.1%})  "
                  f"twin {t * 1e3:8.2f} ms  error {e:+6.1%}"
                  + ("" if before is None else f"  (rows' fit alone {before:+6.1%})"), flush=True)
    doc = {"benchmark": "host_quick_calibration", "clock": args.clock, "budget_s": args.budget,
           "anchor": not args.no_anchor, "runs": runs,
           "provenance": provenance("benchmarks/host_quick_calibration.py", sys.argv[1:] if argv is None else argv)}
    out = atomic_write_text(args.json_out, json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
