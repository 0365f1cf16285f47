"""Oracle against the baselines on the shipped workloads, batch 1, reference setting.

For each workload × platform case: the CP-SAT oracle (one worker, fixed seed, a time limit)
— its latency, proven lower bound, optimality and solve time — beside the whole-operator
baselines it is warm-started from (CPU-only, GPU-only, threshold rule, greedy EFT, HEFT), the
best constant thresholds (fitted on all shipped workloads for the platform), CoDL-style
co-execution (which splits operators, so it may beat the whole-operator oracle: a negative gap)
and the TensorRT-like run (fused graph, fp16_tc: another precision, shown for reference). The
oracle's latency is its schedule replayed by the engine.

    python benchmarks/oracle.py [--time-limit 30] [--workloads a,b] [--cases nano,agx] [-o PATH]
"""

from __future__ import annotations

import argparse
import json
import platform as pyplatform
import sys
from pathlib import Path

from sparoa_sim.agents.heuristics.baselines import ThresholdBest, tensorrt_results
from sparoa_sim.agents.exact.oracle import solve_oracle, stderr_log
from sparoa_sim.sim.simulator import simulate
from sparoa_sim.ir.graph import atomic_write_text
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.workloads import list_workloads, load_workload

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "oracle.json"
CASES = {"nano": ("jetson-orin-nano-8gb", None), "agx": ("jetson-agx-orin-64gb", "MAXN")}


def run_case(name: str, platform, mode: str | None, time_limit: float, tb: ThresholdBest) -> dict:
    """One workload on one platform: oracle and every baseline."""
    g = load_workload(name)
    cache = PredictionCache()
    r = solve_oracle(g, platform, mode=mode, time_limit_s=time_limit, num_workers=1, random_seed=0, cache=cache,
                     log=stderr_log)
    replay = simulate(g, platform, r.schedule, reference=True, mode=mode, cache=cache).latency_mean_s
    base = dict(r.heuristics_s)
    base["threshold-best"] = simulate(g, platform, tb, reference=True, mode=mode, cache=cache).latency_mean_s
    coexec = simulate(g, platform, "coexec", reference=True, mode=mode, cache=cache)
    base["coexec"] = coexec.latency_mean_s
    best_name = min(base, key=lambda k: (base[k], k))
    single = min(base["cpu"], base["gpu"])
    return {
        "workload": name, "n_ops": r.n_ops, "platform": platform.name, "mode": r.mode,
        "oracle_s": r.latency_s, "replay_s": replay, "bound_s": r.bound_s, "optimal": r.optimal, "status": r.status,
        "bound_gap": r.gap, "solve_time_s": r.solve_time_s, "hint_policy": r.hint_policy,
        "gpu_ops": int(sum(r.schedule.placement)), "baselines_s": base, "coexec_split_ops": coexec.split_ops,
        "best_baseline": best_name, "best_baseline_s": base[best_name],
        "gap_vs_best_baseline": r.latency_s / base[best_name] - 1.0,
        "speedup_vs_best_single": single / r.latency_s,
        "tensorrt_fp16_tc_s": tensorrt_results(g, platform, mode=mode).latency_mean_s,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--time-limit", type=float, default=30.0, help="CP-SAT seconds per case (default 30)")
    ap.add_argument("--workloads", default=None, help="comma-separated (default: every shipped workload)")
    ap.add_argument("--cases", default="nano,agx", help="comma-separated of: " + ", ".join(CASES))
    ap.add_argument("-o", "--output", default=str(RESULTS), help="JSON to write")
    args = ap.parse_args(argv)
    names = args.workloads.split(",") if args.workloads else list_workloads()
    rows = []
    for case in args.cases.split(","):
        pname, mode = CASES[case]
        plat = load_platform(pname)
        tb = ThresholdBest()  # fitted once per platform (at its first reset), on every shipped workload
        for name in names:
            rows.append(run_case(name, plat, mode, args.time_limit, tb))
        if tb.fit is not None:
            print(f"threshold-best on {pname}: tau_s={tb.fit.tau_s:.4g} tau_i={tb.fit.tau_i:.4g} "
                  f"score {tb.fit.score:.4f}", file=sys.stderr)
    _print(rows)
    doc = {"benchmark": "oracle", "time_limit_s": args.time_limit, "num_workers": 1, "random_seed": 0, "batch": 1,
           "setting": "reference", "python": pyplatform.python_version(), "machine": pyplatform.machine(),
           "cases": rows,
           "summary": {"cases": len(rows), "optimal": sum(r["optimal"] for r in rows),
                       "max_bound_gap": max(r["bound_gap"] for r in rows),
                       "max_solve_time_s": max(r["solve_time_s"] for r in rows),
                       "worst_gap_vs_whole_op_baseline": max(
                           r["oracle_s"] / min(v for k, v in r["baselines_s"].items() if k != "coexec") - 1
                           for r in rows)}}
    path = atomic_write_text(args.output, json.dumps(doc, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


def _print(rows: list[dict]) -> None:
    cols = ("workload", "ops", "platform", "oracle ms", "bound ms", "opt", "solve s", "gpu", "best baseline",
            "gap", "cpu ms", "gpu ms", "heft ms", "greedy ms", "thr-best ms", "coexec ms", "x single", "trt16 ms")
    print(" | ".join(cols))
    for r in rows:
        b = r["baselines_s"]
        print(" | ".join([
            r["workload"], str(r["n_ops"]), f"{r['platform'].replace('jetson-', '')} {r['mode']}",
            f"{r['oracle_s'] * 1e3:.4f}", f"{r['bound_s'] * 1e3:.4f}", "yes" if r["optimal"] else "no",
            f"{r['solve_time_s']:.2f}", f"{r['gpu_ops']}/{r['n_ops']}", r["best_baseline"],
            f"{r['gap_vs_best_baseline']:+.2%}", f"{b['cpu'] * 1e3:.3f}", f"{b['gpu'] * 1e3:.3f}",
            f"{b['heft'] * 1e3:.3f}", f"{b['greedy'] * 1e3:.3f}", f"{b['threshold-best'] * 1e3:.3f}",
            f"{b['coexec'] * 1e3:.3f}", f"{r['speedup_vs_best_single']:.3f}", f"{r['tensorrt_fp16_tc_s'] * 1e3:.3f}",
        ]))


if __name__ == "__main__":
    sys.exit(main())
