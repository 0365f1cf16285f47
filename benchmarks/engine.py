"""Engine cost per simulated operator against one bare SimPy timeout event, measured in one run.

A long closed-loop request stream of ResNet-50 (batch 1, no trace recording) is simulated under
several policies, both in the reference setting and with noise, background load, contention
and dispatch interference on. Cost per operator = wall time / (requests × operators). The
yardstick is a process doing nothing but ``yield env.timeout(1)``, timed in the same process.
docs/architecture.md §8 target: engine cost per operator ≤ 8 × the bare timeout. The headline is the worst
of the single-device and threshold policies with everything on; the random policy, which moves
about half the edges across devices (about 1.5 copies per operator), is reported beside it.

    python benchmarks/engine.py [--requests 300] [--repeat 5] [--platform NAME] [-o PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform as pyplatform
import sys
import time
from pathlib import Path

import simpy

from sparoa_sim.sim.arrivals import ClosedLoop
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.ir.graph import atomic_write_text
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.workloads import load_workload

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "engine.json"
TARGET_RATIO = 8.0
HEADLINE_POLICIES = ("cpu", "gpu", "threshold")
POLICIES = ("cpu", "gpu", "threshold", "random")


def bare_timeout_s(n: int = 100_000) -> float:
    """Seconds per bare SimPy timeout event: a process doing nothing but ``yield env.timeout(1)``."""
    env = simpy.Environment()

    def proc():
        for _ in range(n):
            yield env.timeout(1.0)

    env.process(proc())
    t = time.perf_counter()
    env.run()
    return (time.perf_counter() - t) / n


def measure(graph, platform, policy: str, reference: bool, n_requests: int, repeat: int,
            cache: PredictionCache) -> dict:
    """Best-of-``repeat`` seconds per simulated operator and per bare timeout, interleaved, so
    that both figures see the same machine load."""
    cfg = SimConfig(reference=reference, record_trace=False)
    sim = Simulator(graph, platform, policy, arrivals=ClosedLoop(n_requests), config=cfg, seed=0, cache=cache)
    sim.run()  # warm the prediction tables
    best = bare = float("inf")
    res = None
    for _ in range(repeat):
        bare = min(bare, bare_timeout_s())
        t = time.perf_counter()
        res = sim.run()
        best = min(best, time.perf_counter() - t)
    assert res is not None
    n_ops = n_requests * len(graph)
    return {"policy": policy, "reference": reference, "per_op_s": best / n_ops, "bare_timeout_s": bare,
            "ratio": best / n_ops / bare, "wall_s": best, "simulated_ops": n_ops,
            "transfers_per_op": res.transfers / n_ops, "latency_mean_s": res.latency_mean_s}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300, help="requests in the stream (default 300)")
    ap.add_argument("--repeat", type=int, default=5, help="repetitions, best taken (default 5)")
    ap.add_argument("--platform", default="jetson-agx-orin-64gb")
    ap.add_argument("-o", "--output", default=str(RESULTS))
    args = ap.parse_args(argv)

    graph = load_workload("resnet50")
    plat = load_platform(args.platform)
    cache = PredictionCache()
    rows = [measure(graph, plat, pol, reference, args.requests, args.repeat, cache)
            for reference in (True, False) for pol in POLICIES]
    bare = min(r["bare_timeout_s"] for r in rows)
    headline = max((r for r in rows if not r["reference"] and r["policy"] in HEADLINE_POLICIES),
                   key=lambda r: r["ratio"])

    print(f"bare SimPy timeout event: {bare * 1e6:.3f} µs   (ResNet-50, {len(graph)} ops, "
          f"{args.requests} requests, {args.platform})")
    print(f"{'policy':<10} {'setting':<10} {'µs/op':>8} {'µs/bare':>8} {'ratio':>7} {'copies/op':>10} {'wall s':>8}")
    for r in rows:
        print(f"{r['policy']:<10} {'reference' if r['reference'] else 'full':<10} {r['per_op_s'] * 1e6:8.3f} "
              f"{r['bare_timeout_s'] * 1e6:8.3f} {r['ratio']:7.2f} {r['transfers_per_op']:10.3f} {r['wall_s']:8.3f}")
    ok = headline["ratio"] <= TARGET_RATIO
    print(f"headline ({headline['policy']}, full setting): {headline['per_op_s'] * 1e6:.3f} µs/op, bare "
          f"{headline['bare_timeout_s'] * 1e6:.3f} µs: "
          f"{headline['ratio']:.2f} × bare timeout (target ≤ {TARGET_RATIO:g}×): {'met' if ok else 'MISSED'}")

    doc = {
        "benchmark": "engine",
        "workload": "resnet50",
        "n_ops": len(graph),
        "platform": args.platform,
        "requests": args.requests,
        "repeat": args.repeat,
        "bare_timeout_s": bare,
        "headline": {"policy": headline["policy"], "per_op_s": headline["per_op_s"],
                     "bare_timeout_s": headline["bare_timeout_s"], "ratio": headline["ratio"],
                     "target_ratio": TARGET_RATIO, "met": ok},
        "rows": rows,
        "python": sys.version.split()[0],
        "simpy": simpy.__version__,
        "machine": pyplatform.machine(),
        "cpus": os.cpu_count(),
    }
    path = atomic_write_text(args.output, json.dumps(doc, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
