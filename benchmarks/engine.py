"""Engine cost per simulated operator against one bare SimPy timeout event, measured in one run.

A long closed-loop request stream of ResNet-50 (batch 1, no trace recording) is simulated under
several policies, both in the reference setting and with noise, background load, contention
and dispatch interference on. Cost per operator = wall time / (requests × operators). The
yardstick is a process doing nothing but ``yield env.timeout(1)`` on a stock ``simpy.Environment``,
timed in the same process, interleaved with the runs. Each repetition runs a fresh seed, so nothing
kept from an earlier run (noise factors, substreams) is reused. Targets (issue 21, docs/architecture.md
§8), with everything on (the full setting): ≤ 5 × the bare timeout per operator for the
single-device and threshold policies, ≤ 8 × for the random policy, which moves about half the edges
across devices. The summary line is the worst row against its target and lists every miss. The
verdict reads, per row, the median over repetitions of each repetition's own ratio
(``median_rep_ratio``, also ``verdict_ratio``): the engine run and the bare timeout it is divided by
are timed back to back, so a loaded machine moves both, and the median drops the repetitions a burst
of load hit. The best repetition against the best bare timeout (``ratio``) is kept beside it; it pairs
two measurements taken at different moments (possibly under different load), so it is reported, not
judged.

    python benchmarks/engine.py [--requests 300] [--repeat 5] [--platform NAME] [-o PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform as pyplatform
import statistics
import sys
import time
from pathlib import Path

import simpy

from sparoa_sim.sim.arrivals import ClosedLoop
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.agents.experiments.provenance import provenance
from sparoa_sim.ir.graph import atomic_write_text
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.workloads import load_workload

ROOT = Path(__file__).resolve().parents[1]
#: The clock every timing reads: wall time (default) or, with ``--clock cpu``, this process's CPU time
#: (steadier on a shared, loaded machine; both sides of every ratio read the same clock).
CLOCK = [time.perf_counter]
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
RESULTS = ROOT / "benchmarks" / "results" / "engine.json"
#: Target ratio per policy in the full setting (issue 21).
TARGETS = {"cpu": 5.0, "gpu": 5.0, "threshold": 5.0, "random": 8.0}
POLICIES = ("cpu", "gpu", "threshold", "random")


def bare_timeout_s(n: int = 100_000) -> float:
    """Seconds per bare SimPy timeout event: a process doing nothing but ``yield env.timeout(1)``."""
    env = simpy.Environment()

    def proc():
        for _ in range(n):
            yield env.timeout(1.0)

    env.process(proc())
    t = CLOCK[0]()
    env.run()
    return (CLOCK[0]() - t) / n


def measure(graph, platform, policy: str, reference: bool, n_requests: int, repeat: int,
            cache: PredictionCache) -> dict:
    """Best-of-``repeat`` seconds per simulated operator and per bare timeout, interleaved, so
    that both figures see the same machine load."""
    cfg = SimConfig(reference=reference, record_trace=False)
    sim = Simulator(graph, platform, policy, arrivals=ClosedLoop(n_requests), config=cfg, seed=0, cache=cache)
    sim.run()  # warm the prediction tables
    best = bare = float("inf")
    res = None
    n_ops = n_requests * len(graph)
    rep_ratios = []  # each repetition against the bare timeout timed just before it (same machine load)
    for rep in range(repeat):
        bare_rep = bare_timeout_s()
        bare = min(bare, bare_rep)
        t = CLOCK[0]()
        res = sim.run(1 + rep)  # a fresh seed each time
        took = CLOCK[0]() - t
        best = min(best, took)
        rep_ratios.append(took / n_ops / bare_rep)
    assert res is not None
    return {"policy": policy, "reference": reference, "per_op_s": best / n_ops, "bare_timeout_s": bare,
            "ratio": best / n_ops / bare, "median_rep_ratio": statistics.median(rep_ratios),
            "rep_ratios": rep_ratios, "wall_s": best, "simulated_ops": n_ops,
            "transfers_per_op": res.transfers / n_ops, "latency_mean_s": res.latency_mean_s}


def judge(rows: list[dict]) -> tuple[dict, list[dict]]:
    """Set each row's target and verdict (``verdict_ratio``: the median of its paired repetitions, see the
    module doc; ``met``); return the worst full-setting row against its own target and every full-setting miss."""
    for r in rows:
        r["target_ratio"] = TARGETS[r["policy"]]
        r["verdict_ratio"] = r["median_rep_ratio"]
        r["met"] = r["verdict_ratio"] <= r["target_ratio"]
    full = [r for r in rows if not r["reference"]]
    headline = max(full, key=lambda r: r["verdict_ratio"] / r["target_ratio"])
    return headline, [r for r in full if not r["met"]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300, help="requests in the stream (default 300)")
    ap.add_argument("--repeat", type=int, default=5, help="repetitions, best taken (default 5)")
    ap.add_argument("--platform", default="jetson-agx-orin-64gb")
    ap.add_argument("-o", "--output", default=str(RESULTS))
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="wall time (default) or this process's CPU time (a shared machine)")
    args = ap.parse_args(argv)
    CLOCK[0] = CLOCKS[args.clock]

    graph = load_workload("resnet50")
    plat = load_platform(args.platform)
    cache = PredictionCache()
    rows = [measure(graph, plat, pol, reference, args.requests, args.repeat, cache)
            for reference in (True, False) for pol in POLICIES]
    bare = min(r["bare_timeout_s"] for r in rows)
    headline, misses = judge(rows)

    print(f"bare SimPy timeout event: {bare * 1e6:.3f} µs   (ResNet-50, {len(graph)} ops, "
          f"{args.requests} requests, {args.platform})")
    print(f"{'policy':<10} {'setting':<10} {'µs/op':>8} {'µs/bare':>8} {'best':>7} {'median':>7} {'copies/op':>10} "
          f"{'wall s':>8}   (verdict: median of paired repetitions)")
    for r in rows:
        print(f"{r['policy']:<10} {'reference' if r['reference'] else 'full':<10} {r['per_op_s'] * 1e6:8.3f} "
              f"{r['bare_timeout_s'] * 1e6:8.3f} {r['ratio']:7.2f} {r['median_rep_ratio']:7.2f} "
              f"{r['transfers_per_op']:10.3f} {r['wall_s']:8.3f}")
    ok = not misses
    verdict = "met by every policy" if ok else "MISSED by " + ", ".join(
        f"{r['policy']} {r['verdict_ratio']:.2f}× (target ≤ {r['target_ratio']:g}×)" for r in misses)
    print(f"summary (full setting, median of paired repetitions): worst {headline['policy']} "
          f"{headline['verdict_ratio']:.2f} × bare timeout (best-of {headline['ratio']:.2f} ×; target ≤ "
          f"{headline['target_ratio']:g}×); {verdict}")

    doc = {
        "benchmark": "engine",
        "workload": "resnet50",
        "n_ops": len(graph),
        "platform": args.platform,
        "requests": args.requests,
        "repeat": args.repeat,
        "clock": args.clock,
        "bare_timeout_s": bare,
        "headline": {"policy": headline["policy"], "per_op_s": headline["per_op_s"],
                     "bare_timeout_s": headline["bare_timeout_s"], "ratio": headline["ratio"],
                     "verdict_ratio": headline["verdict_ratio"], "statistic": "median of paired repetitions",
                     "target_ratio": headline["target_ratio"], "met": ok,
                     "misses": [{"policy": r["policy"], "verdict_ratio": r["verdict_ratio"], "ratio": r["ratio"],
                                 "target_ratio": r["target_ratio"]} for r in misses]},
        "targets": TARGETS,
        "rows": rows,
        "python": sys.version.split()[0],
        "simpy": simpy.__version__,
        "machine": pyplatform.machine(),
        "cpus": os.cpu_count(),
        "provenance": provenance("benchmarks/engine.py", sys.argv[1:] if argv is None else argv),
    }
    path = atomic_write_text(args.output, json.dumps(doc, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
