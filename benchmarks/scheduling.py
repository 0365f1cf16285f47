"""Scheduling benchmark on the fixed set of issue 6: learned schedulers vs baselines vs the oracle.

Cases: the seven base workloads and ``resnet50_pruned80`` × {AGX Orin 64GB MAXN, AGX Orin 64GB
15W, Orin Nano 8GB 15W, Orin Nano 8GB 7W}, batch 1, reference setting. Policies: every baseline,
the CP-SAT oracle, a per-workload scheduler (``learned``, 3 seeds, ``--learn-budget`` seconds of
training each) and a generalist trained once without ``swin_t`` and ``mobilenetv2`` and rolled
out on every case. Prints the per-case table and the targets; writes JSON + markdown.

    python benchmarks/scheduling.py [--quick] [--workers 2] [--learn-budget 15] [--generalist-budget 240]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sparoa_sim.agents.experiments.evaluate import cells, run_sweep, summarise
from sparoa_sim.agents.learn.scheduler import TrainConfig, rollout, train_scheduler
from sparoa_sim.hwmodels.fileio import atomic_write_text

WORKLOADS = ("resnet18", "resnet50", "mobilenetv2", "mobilenetv3_small", "vgg16", "vit_b_16", "swin_t",
             "resnet50_pruned80")
PLATFORM_MODES = (("jetson-agx-orin-64gb", "MAXN"), ("jetson-agx-orin-64gb", "15W"),
                  ("jetson-orin-nano-8gb", "15W"), ("jetson-orin-nano-8gb", "7W"))
HELD_OUT = ("swin_t", "mobilenetv2")
BASELINES = ("cpu", "gpu", "threshold", "threshold-best", "greedy", "heft", "coexec")
OUT = Path(__file__).resolve().parent / "results"


def _sweep(workloads, args):
    sweep = []
    for plat, mode in PLATFORM_MODES:
        sweep += cells(workloads, [plat], [mode], [*BASELINES, "tensorrt", "oracle", "learned"], args.seeds,
                       oracle_time_limit_s=args.oracle_time_limit, learn_budget_s=args.learn_budget,
                       learn_algo=args.algo)
    return sweep


def _generalist(workloads, args, out_dir: Path) -> dict[tuple[str, str, str], float]:
    train_w = tuple(w for w in workloads if w not in HELD_OUT) + ("synthetic",)
    plats = tuple(dict.fromkeys(p for p, _ in PLATFORM_MODES))
    cases = tuple((w, p, m) for p, m in PLATFORM_MODES for w in train_w if w != "synthetic")
    cfg = TrainConfig(workloads=train_w, platform=plats, mode="random", time_budget_s=args.generalist_budget,
                      eval_cases=cases, eval_every=4096, n_steps=1024, seed=0, algo=args.generalist_algo)
    with tqdm(desc="generalist", unit="step", file=sys.stderr) as bar:
        res = train_scheduler(cfg, out_dir / "generalist", progress=bar.update, tensorboard=False)
    lat = {}
    for p, m in PLATFORM_MODES:
        for w in workloads:
            lat[(w, p, m)] = rollout(res.model, cfg.case_kwargs((w, p, m)), seed=0)[0]
    return lat, {"train_s": res.train_s, "timesteps": res.timesteps, "train_workloads": list(train_w)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two workloads, short budgets")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--algo", default="sac", choices=("sac", "maskable-ppo", "ppo"), help="per-workload learner")
    ap.add_argument("--learn-budget", type=float, default=15.0)
    ap.add_argument("--generalist-budget", type=float, default=300.0)
    ap.add_argument("--generalist-algo", default="maskable-ppo", choices=("sac", "maskable-ppo", "ppo"))
    ap.add_argument("--oracle-time-limit", type=float, default=10.0)
    ap.add_argument("-o", "--output", default=str(OUT / "scheduling"))
    args = ap.parse_args()
    workloads = ("resnet18", "mobilenetv2") if args.quick else WORKLOADS
    if args.quick:
        args.learn_budget, args.generalist_budget, args.seeds = min(args.learn_budget, 5.0), 30.0, 1
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sweep = _sweep(workloads, args)
    with tqdm(total=len(sweep), desc="cells", unit="cell", file=sys.stderr) as bar:
        rows = run_sweep(sweep, out, workers=args.workers, progress=bar.update)
    cached = out / "generalist.json"  # resume: the generalist is trained once per output folder
    if cached.is_file():
        doc = json.loads(cached.read_text())
        gen_lat, gen_info = {tuple(k.split("|")): v for k, v in doc["latency_s"].items()}, doc["info"]
    else:
        gen_lat, gen_info = _generalist(workloads, args, out)
        atomic_write_text(cached, json.dumps({"latency_s": {"|".join(k): v for k, v in gen_lat.items()},
                                              "info": gen_info}))
    for (w, p, m), lat in gen_lat.items():
        rows.append({"workload": w, "platform": p, "mode": m, "policy": "generalist", "seed": 0, "batch": 1,
                     "lam": 0.0, "latency_s": lat, "energy_per_inference_j": math.nan})
    table = summarise([r for r in rows if r["policy"] != "generalist"])
    lat = {(r["workload"], r["platform"], r["mode"], r["policy"]): r for r in table}
    cases = []
    for p, m in PLATFORM_MODES:
        for w in workloads:
            best_base = min(BASELINES, key=lambda b: lat[(w, p, m, b)]["latency_s"])
            t_base = lat[(w, p, m, best_base)]["latency_s"]
            t_or = lat[(w, p, m, "oracle")]["latency_s"]
            single = min(lat[(w, p, m, "cpu")]["latency_s"], lat[(w, p, m, "gpu")]["latency_s"])
            le = lat[(w, p, m, "learned")]
            t_le_worst = le["latency_worst_s"]
            srcs = sorted({r.get("source", "?") for r in rows if r["policy"] == "learned"
                           and (r["workload"], r["platform"], r["mode"]) == (w, p, m)})
            t_gen = gen_lat[(w, p, m)]
            cases.append({
                "workload": w, "platform": p, "mode": m, "best_baseline": best_base, "t_best_baseline_s": t_base,
                "t_best_single_s": single, "t_oracle_s": t_or, "oracle_optimal": None,
                "t_learned_median_s": le["latency_s"], "t_learned_worst_s": t_le_worst,
                "t_generalist_s": t_gen, "t_tensorrt_s": lat[(w, p, m, "tensorrt")]["latency_s"],
                "learned_behind_best_baseline": t_le_worst / t_base - 1.0,
                "learned_gap_to_oracle": t_le_worst / t_or - 1.0,
                "generalist_gap_to_oracle": t_gen / t_or - 1.0,
                "oracle_gain_over_single": 1.0 - t_or / single,
                "gain_realised": (single - le["latency_s"]) / (single - t_or) if single - t_or > 0 else None,
                "held_out": w in HELD_OUT, "learned_sources": srcs,
            })
    for r in rows:
        if r["policy"] == "oracle":
            for c in cases:
                if (c["workload"], c["platform"], c["mode"]) == (r["workload"], r["platform"], r["mode"]):
                    c["oracle_optimal"] = r.get("optimal")
    big = [c for c in cases if c["oracle_gain_over_single"] >= 0.05]
    learned_train = [r for r in rows if r["policy"] == "learned"]
    targets = {
        "learned_never_behind_best_baseline": all(c["learned_behind_best_baseline"] <= 1e-9 for c in cases),
        "max_learned_behind_best_baseline": max(c["learned_behind_best_baseline"] for c in cases),
        "cases_oracle_beats_single_by_5pct": len(big),
        "mean_gain_realised_on_those": float(np.mean([c["gain_realised"] for c in big])) if big else None,
        "worst_learned_gap_to_oracle": max(c["learned_gap_to_oracle"] for c in cases),
        "learned_train_s_max": max(r["train_s"] for r in learned_train),
        "learned_cells_shipping_the_policy": sum(1 for r in learned_train if str(r.get("source", "")).startswith("policy")),
        "learned_cells": len(learned_train),
        "worst_generalist_gap_held_out": max((c["generalist_gap_to_oracle"] for c in cases if c["held_out"]), default=None),
        "worst_generalist_gap_all": max(c["generalist_gap_to_oracle"] for c in cases),
        "oracle_proven_optimal": sum(bool(c["oracle_optimal"]) for c in cases),
        "cases": len(cases),
    }
    doc = {"cases": cases, "targets": targets, "generalist": gen_info, "rows": rows, "wall_s": time.perf_counter() - t0,
           "args": vars(args)}
    atomic_write_text(out / "scheduling.json", json.dumps(doc, indent=1, default=str).replace("NaN", "null"))
    lines = ["| workload | platform | mode | best baseline | ms | oracle ms | learned ms (worst of seeds) | "
             "generalist ms | gap learned | gap generalist | oracle gain vs single | learned source |", "|" + "---|" * 12]
    for c in cases:
        lines.append(f"| {c['workload']}{' (held out)' if c['held_out'] else ''} | {c['platform']} | {c['mode']} | "
                     f"{c['best_baseline']} | {1e3 * c['t_best_baseline_s']:.3f} | {1e3 * c['t_oracle_s']:.3f}"
                     f"{'' if c['oracle_optimal'] else '*'} | {1e3 * c['t_learned_worst_s']:.3f} | "
                     f"{1e3 * c['t_generalist_s']:.3f} | {100 * c['learned_gap_to_oracle']:+.2f} % | "
                     f"{100 * c['generalist_gap_to_oracle']:+.2f} % | {100 * c['oracle_gain_over_single']:.1f} % | "
                     f"{', '.join(c['learned_sources'])} |")
    md = "\n".join(lines) + "\n\n(* oracle not proven optimal within the time limit)\n\n" + \
        "\n".join(f"- {k}: {v}" for k, v in targets.items()) + "\n"
    atomic_write_text(out / "scheduling.md", md)
    print(md)
    print(f"wrote {out / 'scheduling.json'} and {out / 'scheduling.md'} in {doc['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
