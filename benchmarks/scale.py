"""Scale-out: wall time of one fixed evaluation sweep in one process, in N local processes and on a
local Ray cluster, side by side with the speed-ups; then the two ways of spreading training
(Ray actors stepping the environments for one learner, or independent λ runs as Ray tasks).

Sweep: 7 shipped workloads × 2 platforms × cpu, gpu, greedy, heft, threshold, coexec, plus the
CP-SAT oracle with a short time limit (the oracle cells dominate: they are the long tasks a
sweep spreads). The deterministic cells must agree bit for bit across backends; time-limited
oracle cells may stop at a different incumbent, so they are counted, not compared.

    python benchmarks/scale.py [--workers 2] [--oracle-limit 2] [--no-train] [-o PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform as pyplatform
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from sparoa_sim.agents.experiments.distributed import ensure_ray, ray_map
from sparoa_sim.agents.experiments.evaluate import Cell, cells, run_sweep
from sparoa_sim.hwmodels.fileio import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"
WORKLOADS = ["resnet18", "resnet50", "mobilenetv2", "mobilenetv3_small", "vgg16", "vit_b_16", "swin_t"]
PLATFORMS = ["jetson-orin-nano-8gb", "jetson-agx-orin-64gb"]
POLICIES = ["cpu", "gpu", "greedy", "heft", "threshold", "coexec", "oracle"]
LAMS = [0.0, 0.25, 0.5, 1.0]


def _timed(func, /, *args, **kwargs) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - t0


def _comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows if r["policy"] != "oracle"]


def sweep_section(workers: int, oracle_limit: float) -> dict[str, Any]:
    """The sweep in 1 process, ``workers`` processes and on Ray (``num_cpus=workers``)."""
    sweep = cells(WORKLOADS, PLATFORMS, None, POLICIES, oracle_time_limit_s=oracle_limit)
    serial, t1 = _timed(run_sweep, sweep)
    procs, tp = _timed(run_sweep, sweep, workers=workers)
    _, t_init = _timed(ensure_ray, None, workers)
    on_ray, tr = _timed(run_sweep, sweep, backend="ray")
    same = _comparable(serial) == _comparable(procs) == _comparable(on_ray)
    cpu_s = sum(r["wall_s"] for r in serial)
    return {"cells": len(sweep), "oracle_cells": sum(c.policy == "oracle" for c in sweep), "oracle_limit_s": oracle_limit,
            "cell_seconds_serial": cpu_s, "identical_deterministic_cells": same,
            "runs": [{"backend": "local", "workers": 1, "wall_s": t1, "speedup": 1.0},
                     {"backend": "local processes", "workers": workers, "wall_s": tp, "speedup": t1 / tp},
                     {"backend": "ray (local cluster)", "workers": workers, "wall_s": tr, "speedup": t1 / tr,
                      "ray_init_s": t_init, "speedup_incl_init": t1 / (tr + t_init)}]}


def _train_cell(cell: Cell, steps: int) -> dict[str, Any]:
    """A fixed-length λ run (a Ray task in the λ sweep; defined here, shipped by value)."""
    from sparoa_sim.agents.learn.scheduler import TrainConfig, train_scheduler

    t0 = time.perf_counter()
    res = train_scheduler(TrainConfig(workloads=(cell.workload,), platform=cell.platform, lam=cell.lam,
                                      timesteps=steps, seed=cell.seed, bc_episodes=1,
                                      eval_every=10**9), None, tensorboard=False)
    return {"lam": cell.lam, "timesteps": res.timesteps, "latency_s": res.best_latency_s[cell.workload],
            "wall_s": time.perf_counter() - t0}


def train_section(workers: int, workload: str, steps: int) -> dict[str, Any]:
    """(a) one learner, env steps in ``workers`` Ray actors / local processes; (b) λ runs as Ray tasks."""
    from sparoa_sim.agents.learn.ray_vecenv import RayVecEnv, training_vec_env
    from sparoa_sim.agents.learn.scheduler import TrainConfig, train_scheduler

    env_runs = []
    for label, n_envs, make in [
            ("1 local env", 1, lambda c: None),
            (f"{workers} local processes", workers, lambda c: training_vec_env(c, workers, None)),
            (f"{workers} Ray actors × 1 env", workers, lambda c: RayVecEnv(c.env_kwargs(), workers, 1)),
            (f"{workers} Ray actors × 8 envs", 8 * workers, lambda c: RayVecEnv(c.env_kwargs(), workers, 8))]:
        # the same algorithm in every setup: 1024 samples per rollout, so the same number of updates
        cfg = TrainConfig(workloads=(workload,), timesteps=steps, bc_episodes=1, eval_every=10**9,
                          n_steps=1024 // n_envs)
        venv, t_make = _timed(make, cfg)
        res, t = _timed(train_scheduler, cfg, None, tensorboard=False, vec_env=venv)
        learn_s = res.evaluations[-1]["elapsed_s"] - res.evaluations[0]["elapsed_s"]  # model.learn only
        env_runs.append({"setup": label, "envs": n_envs, "timesteps": res.timesteps, "wall_s": t,
                         "startup_s": t_make, "learn_s": learn_s, "steps_per_s": res.timesteps / learn_s})
    base = env_runs[0]["steps_per_s"]
    for r in env_runs:
        r["speedup"] = r["steps_per_s"] / base
    lam_cells = [Cell(workload, PLATFORMS[0], None, "learned", lam=lam) for lam in LAMS]
    seq, t_seq = _timed(lambda: [_train_cell(c, steps) for c in lam_cells])
    rows: list[dict[str, Any]] = []
    _, t_ray = _timed(ray_map, lam_cells, rows.append, fn=partial(_train_cell, steps=steps))
    return {"workload": workload, "timesteps": steps, "env_workers": env_runs,
            "lambda_sweep": {"lams": LAMS, "sequential_s": t_seq, "ray_s": t_ray, "speedup": t_seq / t_ray,
                             "rows": sorted(rows, key=lambda r: r["lam"]),
                             "identical_latencies": [r["latency_s"] for r in seq]
                             == [r["latency_s"] for r in sorted(rows, key=lambda r: r["lam"])]}}


def _table(doc: dict[str, Any]) -> str:
    sw = doc["sweep"]
    lines = [f"evaluation sweep: {sw['cells']} cells ({sw['oracle_cells']} oracle, limit {sw['oracle_limit_s']} s), "
             f"deterministic cells identical across backends: {sw['identical_deterministic_cells']}",
             f"{'backend':<22}{'workers':>8}{'wall s':>10}{'speed-up':>10}"]
    for r in sw["runs"]:
        extra = f"   (+ {r['ray_init_s']:.1f} s ray.init → ×{r['speedup_incl_init']:.2f})" if "ray_init_s" in r else ""
        lines.append(f"{r['backend']:<22}{r['workers']:>8}{r['wall_s']:>10.2f}{r['speedup']:>10.2f}{extra}")
    if "train" in doc:
        tr = doc["train"]
        lines += ["", f"training {tr['workload']}, {tr['timesteps']} timesteps (MaskablePPO):",
                  f"{'env workers':<26}{'start s':>9}{'learn s':>9}{'steps/s':>9}{'speed-up':>10}"]
        for r in tr["env_workers"]:
            lines.append(f"{r['setup']:<26}{r['startup_s']:>9.2f}{r['learn_s']:>9.2f}{r['steps_per_s']:>9.0f}"
                         f"{r['speedup']:>10.2f}")
        ls = tr["lambda_sweep"]
        lines.append(f"λ sweep ({len(ls['lams'])} runs): sequential {ls['sequential_s']:.1f} s, Ray tasks "
                     f"{ls['ray_s']:.1f} s → ×{ls['speedup']:.2f} (same policies: {ls['identical_latencies']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2, help="local processes = Ray CPUs")
    ap.add_argument("--oracle-limit", type=float, default=2.0, help="CP-SAT time limit per oracle cell (s)")
    ap.add_argument("--no-train", action="store_true", help="skip the training section")
    ap.add_argument("--train-workload", default="resnet18")
    ap.add_argument("--train-steps", type=int, default=8192)
    ap.add_argument("-o", "--output", default=str(RESULTS))
    args = ap.parse_args(argv)
    # Ray starts its workers at nice 15 so they never starve the driver; on a shared machine that
    # handicaps them against the local runs (each at nice 0), so compare at equal priority.
    os.environ.setdefault("RAY_worker_niceness", "0")
    doc: dict[str, Any] = {"host": {"machine": pyplatform.machine(), "cpus": os.cpu_count(),
                                    "load_avg_start": os.getloadavg()}, "workers": args.workers,
                           "ray_worker_niceness": os.environ["RAY_worker_niceness"]}
    doc["sweep"] = sweep_section(args.workers, args.oracle_limit)
    if not args.no_train:
        doc["train"] = train_section(args.workers, args.train_workload, args.train_steps)
    doc["host"]["load_avg_end"] = os.getloadavg()
    print(_table(doc))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(doc, indent=1, allow_nan=False))
    print(f"→ {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
