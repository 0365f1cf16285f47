"""Calibrate the twin on this machine's CPU, end to end, and store the ``host`` profile.

1. Profile the shipped workloads on the CPU at batch 1 (operators isolated and in-graph, eager
   passes, STREAM bandwidth, dense-vs-CSR sweep with the first one); time the eager pass of every
   other shipped workload (the pruned variants) on its own.
2. Build the ``host`` base profile from this CPU (``hwmodels.host``) and fit it to the in-graph
   rows (roofline, then the shape-feature residual), then anchor it end to end (``t_launch`` and
   one roofline factor fitted to the profiled eager passes, ``hwmodels.e2e_anchor``; held out by
   family, to the other families' passes only; ``--no-anchor``: skip); report the fit on held-out workloads
   (leave one workload out, shapes shared with training removed) per operator kind, beside the
   measurements' own repeatability.
3. Store the fitted profile in the user data directory (``$SPAROA_SIM_DATA`` or XDG), where
   ``--platform host`` finds it — never in the repository.
4. Predict the CPU-only end-to-end latency of every shipped workload with the engine
   (``simulate(..., policy="cpu", reference=True)``) and compare it with the measured eager
   latency (docs/architecture.md §8 target: ≤ 5 % error), twice, both labelled: *in sample*
   (the profile fitted on every table) and *held out* (leave one family out: for each family —
   an architecture and its pruned variants — the profile fitted without any of its measurements,
   ``hwmodels.held_out``). A family never profiled is held out in both.

By default every figure is the CPU time of the one timing thread (``--clock thread_cpu``,
``--threads 1``): on a host shared with other work, wall times mostly measure the other
tenants; the twin models background load separately, so the profile describes the unloaded core.

Writes ``benchmarks/results/calibration.json`` and the measurement tables to
``benchmarks/results/calibration_tables/``. Timings on a shared machine are noisy: the load
average before and after is recorded, and each figure carries its two-median repeatability.

    python benchmarks/calibration.py [--quick] [--threads 1] [--budget 40] [--tables DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from sparoa_sim.hwmodels import load_platform
from sparoa_sim.hwmodels.calibrate import DEFAULT_ALPHA, DEFAULT_TIME_WEIGHT, context_ratios, cross_validate, fit
from sparoa_sim.hwmodels.errors import CalibrationError
from sparoa_sim.hwmodels.fileio import atomic_write_text
from sparoa_sim.hwmodels.held_out import (
    family_of,
    fit_without_families,
    group_by_family,
    host_base,
    table_families,
)
from sparoa_sim.hwmodels.host import store_host_anchors, store_host_profile
from sparoa_sim.hwmodels.measurements import EndToEnd, MeasurementTable, load_table
from sparoa_sim.agents.experiments.provenance import provenance
from sparoa_sim.real.measure.host_calibration import workload_graphs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: Workloads profiled operator by operator (every shipped base model); --quick keeps the small ones.
FULL = ("resnet18", "mobilenetv2", "mobilenetv3_small", "resnet50", "swin_t", "vit_b_16", "vgg16")
QUICK = ("resnet18", "mobilenetv2", "mobilenetv3_small")
E2E_TARGET = 0.05
_KEYS = ("n", "within_10pct", "within_20pct", "median_error", "mape", "repeatability_within_10pct")


def shipped_workloads() -> list[str]:
    """Names of the shipped workload graphs (``sparoa_sim/workloads/*.json``)."""
    return sorted(p.stem for p in (ROOT / "sparoa_sim" / "workloads").glob("*.json"))


def profile_tables(names: tuple[str, ...], threads: int, budget: float, out: Path, clock: str
                   ) -> list[MeasurementTable]:
    """Profile each workload (batch 1); bandwidth and the sparse sweep with the first one."""
    from sparoa_sim.real.measure.profiler import DEFAULT_SPARSE_SHAPES, profile_workload, save_table

    tables = []
    for i, name in enumerate(names):
        t0 = time.perf_counter()
        table = profile_workload(name, batches=(1,), threads=threads, time_budget_s=budget, bandwidth=i == 0,
                                 sparse_shapes=DEFAULT_SPARSE_SHAPES if i == 0 else None,
                                 progress=sys.stderr.isatty(), clock=clock)
        save_table(table, out / f"{name}.json")
        e = table.end_to_end[0]
        print(f"  profiled {name:18s} {len(table.rows) // 2:4d} ops in {time.perf_counter() - t0:5.1f} s: eager "
              f"{e.time_s * 1e3:8.2f} ms, in-graph sum {e.sum_graph_s * 1e3:8.2f} ms", file=sys.stderr)
        tables.append(table)
    return tables


def eager_figures(tables: list[MeasurementTable], names: list[str], threads: int, clock: str
                  ) -> tuple[dict[str, EndToEnd], dict[str, dict[str, float]]]:
    """Measured eager latency per shipped workload: from the tables, else timed afterwards.

    A workload not profiled (a pruned variant) is timed in alternation with its profiled base
    model; the host's speed drifts between the two moments (up to tens of per cent for the
    cache-bound models on a shared VM), so its figure is brought back to the profiling moment
    by the base's drift ``base now / base profiled`` (a ratio measured in one run). Returns the
    figures and, per such workload, ``{"raw_s", "drift"}``.
    """
    from sparoa_sim.real.measure.profiler import resolve_workload, time_eager_interleaved

    out = {e.workload: e for t in tables for e in t.end_to_end if e.batch == 1}
    groups: dict[str, list[str]] = {}
    for name in names:
        if name not in out:
            groups.setdefault(resolve_workload(name)[0], []).append(name)
    drift_info: dict[str, dict[str, float]] = {}
    for base, variants in groups.items():
        anchor = base in out
        now = time_eager_interleaved(([base] if anchor else []) + variants, threads=threads, clock=clock)
        drift = now[base].time_s / out[base].time_s if anchor else 1.0
        for name in variants:
            e = now[name]
            out[name] = dataclasses.replace(e, time_s=e.time_s / drift, time_s_a=e.time_s_a / drift,
                                            time_s_b=e.time_s_b / drift)
            drift_info[name] = {"raw_s": e.time_s, "drift": drift}
            print(f"  eager {name:18s} {e.time_s * 1e3:8.2f} ms now, base {base} drifted x{drift:.3f} since "
                  f"profiling: {out[name].time_s * 1e3:8.2f} ms at the profiling moment", file=sys.stderr)
    return out, drift_info


def dense_only(platform: Any) -> Any:
    """The platform with no sparse CPU kernel: what eager PyTorch runs for pruned weights."""
    lat = dataclasses.replace(platform.cpu.latency, sparse_kinds=())
    return dataclasses.replace(platform, cpu=dataclasses.replace(platform.cpu, latency=lat))


def end_to_end(platform: Any, eager: dict[str, EndToEnd], names: list[str],
               drift: dict[str, dict[str, float]] | None = None) -> list[dict[str, Any]]:
    """Engine CPU-only latency (reference setting) vs measured eager, per workload."""
    from sparoa_sim.sim.simulator import simulate

    dense = dense_only(platform)
    rows = []
    for name in names:
        e = eager[name]
        sim = simulate(name, dense, policy="cpu", reference=True).latency_mean_s
        sim_sparse = simulate(name, platform, policy="cpu", reference=True).latency_mean_s
        rows.append({"workload": name, "measured_s": e.time_s, "measured_rel_spread": e.rel_spread,
                     "predicted_s": sim, "error": (sim - e.time_s) / e.time_s,
                     "predicted_sparse_kernels_s": sim_sparse,
                     "sum_graph_over_eager": e.sum_graph_s / e.time_s if e.sum_graph_s else None,
                     **({"measured_raw_s": drift[name]["raw_s"], "base_drift": drift[name]["drift"]}
                        if drift and name in drift else {})})
    return rows


def end_to_end_held_out(make_base: Any, tables: list[MeasurementTable], eager: dict[str, EndToEnd],
                        names: list[str], in_sample: list[dict[str, Any]], **fit_kw: Any
                        ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Leave one family out: each profiled family's workloads scored on a profile fitted without
    any of its measurements; a family never profiled keeps its in-sample figure (already held out).
    Returns one row per workload (``error`` None where no profile could be fitted without the
    family) and, per family, what was held out and how many rows the fit kept."""
    trained = table_families(tables)
    by_name = {r["workload"]: r for r in in_sample}
    rows: list[dict[str, Any]] = []
    folds: dict[str, Any] = {}
    for fam, members in group_by_family(names).items():
        if fam not in trained:
            folds[fam] = {"workloads": list(members), "profiled": False}
            rows += [{"workload": w, "family": fam, "family_profiled": False, "predicted_s": by_name[w]["predicted_s"],
                      "error": by_name[w]["error"]} for w in members]
            continue
        try:
            res = fit_without_families(make_base, tables, [fam], **fit_kw)
        except CalibrationError as exc:  # the only family profiled: nothing left to fit on
            folds[fam] = {"workloads": list(members), "profiled": True, "skipped": str(exc)}
            rows += [{"workload": w, "family": fam, "family_profiled": True, "predicted_s": None, "error": None}
                     for w in members]
            continue
        folds[fam] = {"workloads": list(members), "profiled": True, "n_train_rows": int(res.report["n"])}
        anc = res.report.get("e2e_anchor")
        if anc is not None:  # fitted to the other families' eager passes only
            folds[fam]["anchor"] = {k: anc[k] for k in ("t_launch", "scale", "fitted")} | {"workloads": sorted(anc["passes"])}
        for r in end_to_end(res.platform, eager, list(members)):
            rows.append({"workload": r["workload"], "family": fam, "family_profiled": True,
                         "predicted_s": r["predicted_s"], "error": r["error"]})
    order = {w: i for i, w in enumerate(names)}
    return sorted(rows, key=lambda r: order[r["workload"]]), folds


def error_summary(errors: list[float | None], names: list[str], target: float = E2E_TARGET) -> dict[str, Any]:
    """|error| mean and max, the share within ``target``, and every workload that misses it."""
    pairs = [(w, abs(e)) for w, e in zip(names, errors, strict=True) if e is not None]
    if not pairs:
        return {"n": 0, "mean": None, "max": None, "worst": None, "within": None, "misses": []}
    errs = np.array([e for _, e in pairs])
    worst = max(pairs, key=lambda p: p[1])
    return {"n": len(pairs), "mean": float(errs.mean()), "max": float(errs.max()), "worst": worst[0],
            "within": float(np.mean(errs <= target)), "misses": [w for w, e in pairs if e > target]}


def headline(label: str, s: dict[str, Any], target: float = E2E_TARGET) -> str:
    """One summary line: worst row against the target and every miss."""
    if not s["n"]:
        return f"{label}: no workload scored"
    miss = ", ".join(s["misses"]) if s["misses"] else "none"
    return (f"{label}: |error| mean {s['mean']:.1%}, worst {s['worst']} {s['max']:.1%} (target ≤ {target:.0%}); "
            f"{round(s['within'] * s['n'])} of {s['n']} within; misses: {miss}")


def print_fit_table(title: str, report: dict[str, Any]) -> None:
    """One row per operator kind: n, within ±10/20 %, median error, MAPE, repeatability."""
    print(f"\n{title}")
    print(f"  {'kind':10s} {'n':>5s} {'≤10%':>7s} {'≤20%':>7s} {'median':>8s} {'MAPE':>8s} {'repeat ≤10%':>12s}")
    rows = [("all", report)] + sorted(report["per_kind"].items())
    for kind, r in rows:
        print(f"  {kind:10s} {r['n']:5d} {r['within_10pct']:7.1%} {r['within_20pct']:7.1%} {r['median_error']:8.1%} "
              f"{r['mape']:8.1%} {r['repeatability_within_10pct']:12.1%}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"profile only {', '.join(QUICK)} (about a minute)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a shared 2-core host two threads wait on each other)")
    ap.add_argument("--clock", default="thread_cpu", choices=("thread_cpu", "wall"),
                    help="thread_cpu (default): CPU time of the one timing thread, so other tenants' share of "
                         "the core is left out; wall: wall time")
    ap.add_argument("--budget", type=float, default=None, help="profiling seconds per workload (default 40; quick 15)")
    ap.add_argument("--tables", type=Path, default=None, help="reuse the measurement tables in this folder")
    ap.add_argument("--out-tables", type=Path, default=None,
                    help="where to write the new tables (default benchmarks/results/calibration_tables)")
    ap.add_argument("--base", default="jetson-orin-nano-8gb", help="profile whose GPU side the host profile keeps")
    ap.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="ridge strength of the residual")
    ap.add_argument("--time-weight", type=float, default=DEFAULT_TIME_WEIGHT,
                    help="exponent of the per-operator time weights of the fit (0 = all alike)")
    ap.add_argument("--no-residual", action="store_true", help="fit the roofline alone")
    ap.add_argument("--no-anchor", action="store_true",
                    help="no end-to-end anchor (hwmodels.e2e_anchor: t_launch and one roofline factor fitted to "
                         "the profiled eager passes; held out, to the other families' only)")
    ap.add_argument("--no-store", action="store_true", help="do not write the host profile to the user data dir")
    ap.add_argument("--json-out", type=Path, default=RESULTS / "calibration.json", help="where the JSON goes")
    args = ap.parse_args(argv)
    budget = args.budget if args.budget is not None else (15.0 if args.quick else 40.0)
    names = QUICK if args.quick else FULL
    prov = provenance("benchmarks/calibration.py", sys.argv[1:] if argv is None else argv)
    load_before = os.getloadavg()
    started = time.perf_counter()

    if args.tables is not None:
        tables = [load_table(p) for p in sorted(args.tables.glob("*.json"))]
        print(f"reusing {len(tables)} tables from {args.tables}", file=sys.stderr)
    else:
        print(f"profiling {', '.join(names)} at batch 1 on {args.threads} thread(s), {args.clock} clock, "
              f"~{budget:g} s each", file=sys.stderr)
        tables = profile_tables(names, args.threads, budget, args.out_tables or RESULTS / "calibration_tables", args.clock)
    shipped = shipped_workloads()
    profiled = sorted({e.workload for t in tables for e in t.end_to_end})
    e2e_names = [w for w in shipped if not args.quick or w in profiled]
    clock = str(tables[0].meta.get("clock", "wall"))
    eager, drift = eager_figures(tables, e2e_names, args.threads, clock)
    profile_s = time.perf_counter() - started

    bw = next((t.bandwidth for t in tables if t.bandwidth is not None), None)
    if bw is None:
        print("no bandwidth measurement in the tables", file=sys.stderr)
        return 2
    threads = int(tables[0].host.get("torch_threads") or args.threads)
    gpu_side = load_platform(args.base)

    def make_base(ts: list[MeasurementTable]) -> Any:  # the clock from the fastest GEMM of these tables only
        return host_base(ts, gpu_side, threads)

    base = make_base(tables)
    residual = not args.no_residual
    anchor = False if args.no_anchor else workload_graphs(tuple(profiled))
    t0 = time.perf_counter()
    fitted = fit(base, tables, residual=residual, alpha=args.alpha, time_weight=args.time_weight, anchor=anchor)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    held = cross_validate(base, tables, residual=residual, alpha=args.alpha, time_weight=args.time_weight)
    cv_s = time.perf_counter() - t0
    # nn-Meter's kernel-level figure: operators timed alone, fitted and held out the same way
    held_iso = context = None
    if any(r.context == "isolated" for t in tables for r in t.rows):
        held_iso = cross_validate(base, tables, context="isolated", residual=residual, alpha=args.alpha,
                                  time_weight=args.time_weight)
        context = context_ratios(tables)
    path = None if args.no_store else store_host_profile(fitted.platform)
    if path is not None:
        store_host_anchors({w: e.time_s for w, e in eager.items()}, clock=clock, threads=threads)
    e2e = end_to_end(fitted.platform, eager, e2e_names, drift)
    t0 = time.perf_counter()
    e2e_held, lofo = end_to_end_held_out(make_base, tables, eager, e2e_names, e2e, residual=residual,
                                         alpha=args.alpha, time_weight=args.time_weight, anchor=anchor)
    lofo_s = time.perf_counter() - t0
    held_by = {r["workload"]: r for r in e2e_held}
    for r in e2e:
        r.update(family=family_of(r["workload"]), held_out_predicted_s=held_by[r["workload"]]["predicted_s"],
                 held_out_error=held_by[r["workload"]]["error"],
                 family_profiled=held_by[r["workload"]]["family_profiled"])

    print_fit_table("held-out workloads (leave one out, shared shapes removed), in-graph rows", held["overall"])
    if held_iso is not None:
        print_fit_table("held-out workloads, kernels timed alone (isolated rows: the kernel-level figure)",
                        held_iso["overall"])
        print("\n  in-graph / isolated time per operator (the graph's context: evicted inputs, owned views and "
              "constants, cold start after large operators)")
        print(f"  {'kind':10s} {'n':>5s} {'median':>7s} {'q25':>6s} {'q75':>6s} {'within ±10%':>12s}")
        for kind, r in [("all", context)] + sorted(context["per_kind"].items()):
            print(f"  {kind:10s} {r['n']:5d} {r['median']:7.2f} {r['q25']:6.2f} {r['q75']:6.2f} {r['within_10pct']:12.1%}")
    print_fit_table("training fit (all rows)", dict(fitted.report))
    anc = fitted.report.get("e2e_anchor")
    if anc is not None:
        print(f"  end-to-end anchor: t_launch {anc['t_launch_before'] * 1e6:.2f} -> {anc['t_launch'] * 1e6:.2f} us, "
              f"roofline x{anc['scale']:.3f}; in sample, rows' fit alone -> anchored: "
              + ", ".join(f"{w} {p['error_before']:+.1%} -> {p['error_after']:+.1%}" for w, p in anc["passes"].items()))
        print(f"  per-operator training fit before the anchor: "
              f"{json.dumps({k: round(v, 3) for k, v in fitted.report['before_anchor'].items()})}")
    print(f"  roofline alone, training: {json.dumps({k: round(v, 3) for k, v in fitted.report['roofline_only'].items()})}")
    sp = fitted.report.get("sparse")
    if sp:
        print(f"  sparse kernel (dense-vs-CSR sweep, {sp['n']} points): sparse_eta {sp['sparse_eta']:.3f}, CSR index "
              f"overhead {sp['csr_index_overhead']:.2f}, median speed-up error {sp['median_speedup_error']:.1%}; "
              "break-even weight sparsity measured/predicted: "
              + ", ".join(f"{'x'.join(map(str, b['shape']))} {b['measured']}/{b['predicted']}" for b in sp["break_even"]))
    print("\n  held-out fold          n   ≤10%  median  unseen kinds")
    for f in held["folds"]:
        if "report" in f:
            r = f["report"]
            print(f"  {','.join(f['held_out']):18s} {r['n']:5d} {r['within_10pct']:6.1%} {r['median_error']:7.1%}  "
                  f"{', '.join(f['unseen_kinds']) or '-'}")
    print(f"\nCPU-only end to end at batch 1 (engine, reference setting, host profile; target ≤ {E2E_TARGET:.0%}); "
          "in sample: the profile fitted on every table; held out: fitted without the workload's family")
    print(f"  {'workload':20s} {'measured ms':>12s} {'spread':>7s} {'twin ms':>10s} {'in-sample':>10s} "
          f"{'held-out':>9s} {'graph/eager':>12s}")
    for r in e2e:
        ge = f"{r['sum_graph_over_eager']:.2f}" if r["sum_graph_over_eager"] else "-"
        ho = "–" if r["held_out_error"] is None else f"{r['held_out_error']:+.1%}"
        note = "" if r["family_profiled"] else "  (family not profiled: held out in both)"
        if "base_drift" in r:
            note += (f"  (timed after profiling: {r['measured_raw_s'] * 1e3:.2f} ms, base drifted "
                     f"x{r['base_drift']:.3f})")
        print(f"  {r['workload']:20s} {r['measured_s'] * 1e3:12.2f} {r['measured_rel_spread']:7.1%} "
              f"{r['predicted_s'] * 1e3:10.2f} {r['error']:+10.1%} {ho:>9s} {ge:>12s}{note}")
    names_e2e = [r["workload"] for r in e2e]
    ins = error_summary([r["error"] for r in e2e], names_e2e)
    ho_sum = error_summary([r["held_out_error"] for r in e2e], names_e2e)
    lines = [headline("in sample", ins), headline("held out (leave one family out)", ho_sum)]
    for line in lines:
        print("  " + line)
    errs = np.abs([r["error"] for r in e2e])
    within = float(np.mean(errs <= E2E_TARGET))
    load_after = os.getloadavg()
    print(f"\nload average before {load_before}, after {load_after}; profiling {profile_s:.0f} s, fit {fit_s:.1f} s, "
          f"cross-validation {cv_s:.1f} s, leave-one-family-out fits {lofo_s:.1f} s")
    print(f"host profile: {path or 'not stored (--no-store)'}")

    doc = {
        "benchmark": "calibration", "quick": args.quick, "threads": threads, "clock": clock, "budget_s": budget,
        "workloads_profiled": profiled,
        "host": dict(tables[0].host), "bandwidth_copy_Bps": bw.sustained_bytes_per_s,
        "cpu_peak_flops": fitted.platform.peak_flops("cpu"), "cpu_clock_hz": fitted.platform.cpu.max_clock_hz,
        "residual": residual, "alpha": args.alpha, "time_weight": args.time_weight,
        "e2e_anchor": fitted.report.get("e2e_anchor"), "train_before_anchor": fitted.report.get("before_anchor"),
        "held_out": {k: held["overall"][k] for k in _KEYS}, "held_out_per_kind": held["overall"]["per_kind"],
        "every_kind_trained": held["every_kind_trained"],
        "held_out_isolated": None if held_iso is None else {k: held_iso["overall"][k] for k in _KEYS},
        "held_out_isolated_per_kind": None if held_iso is None else held_iso["overall"]["per_kind"],
        "graph_over_isolated": context,
        "folds": [{k: v for k, v in f.items() if k != "report"} | (
            {"report": {k: f["report"][k] for k in _KEYS}} if "report" in f else {}) for f in held["folds"]],
        "train": {k: fitted.report[k] for k in _KEYS}, "train_roofline_only": dict(fitted.report["roofline_only"]),
        "sparse_fit": fitted.report.get("sparse"),
        "train_per_kind": fitted.report["per_kind"],
        "end_to_end": e2e, "e2e_error_mean": float(errs.mean()), "e2e_error_max": float(errs.max()),
        "e2e_within_5pct": within,
        "e2e_in_sample": ins, "e2e_held_out": ho_sum, "e2e_held_out_folds": lofo, "e2e_target": E2E_TARGET,
        "summary": lines, "provenance": prov, "leave_family_out_s": lofo_s,
        "profile_path": str(path) if path else None,
        "loadavg_before": list(load_before), "loadavg_after": list(load_after),
        "profile_s": profile_s, "fit_s": fit_s, "cross_validate_s": cv_s,
    }  # fmt: skip
    out = atomic_write_text(args.json_out, json.dumps(doc, indent=1, default=float) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
