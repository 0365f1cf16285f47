"""Evaluation harness: workloads × platforms × power modes × policies × seeds → one table.

A sweep is a list of independent :class:`Cell` s; :func:`run_cell` is a pure function of its
cell (no shared state), so cells run in this process, in local worker processes, or as remote
tasks (the Ray fan-out of :mod:`sparoa_sim.agents.experiments.distributed`) and give identical numbers.
Each finished cell is appended atomically as one JSON line to ``DIR/cells.jsonl``; a sweep run
again with the same ``DIR`` skips the cells already there (resume after an interruption). A cell
cut short by Ctrl-C is never written (an interrupted oracle raises
:class:`~sparoa_sim.agents.exact.oracle.OracleInterrupted`, a KeyboardInterrupt), so it runs again.

Policies: any engine policy name (``cpu``, ``gpu``, ``threshold``, ``greedy``, ``heft``,
``coexec``, ``threshold-best``), plus ``tensorrt`` (fused graph, FP16 tensor cores, GPU-only),
``oracle`` (CP-SAT, whole operators) and ``learned`` (a per-workload scheduler trained for
``learn_budget_s`` seconds with the cell's seed). Every cell runs in the reference setting
(docs/architecture.md §6) at batch 1 unless told otherwise. The table adds, per (workload, platform, mode):
speed-ups over CPU-only, GPU-only and TensorRT-like, the gap to the oracle, and the share of the
achievable gain realised, ``(T_best_single − T_π) / (T_best_single − T_oracle)``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sparoa_sim.errors import SparOAError
from sparoa_sim.plots import save_figure

__all__ = ["Cell", "SPECIAL_POLICIES", "append_row", "cells", "map_jobs", "run_cell", "run_sweep", "summarise",
           "write_report"]

SPECIAL_POLICIES = ("tensorrt", "oracle", "learned")
#: Achievable gain (best single device / oracle − 1) below which "gain realised" is not reported: a
#: near-zero denominator turns noise into −30000 % or 4000 %.
MIN_GAIN = 0.05
DEFAULT_POLICIES = ("cpu", "gpu", "tensorrt", "threshold", "threshold-best", "greedy", "heft", "coexec", "oracle",
                    "learned")


@dataclass(frozen=True)
class Cell:
    """One measurement: a policy on a workload, platform and mode, with a seed and options."""

    workload: str
    platform: str
    mode: str | None
    policy: str
    seed: int = 0
    batch: int = 1
    lam: float = 0.0
    oracle_time_limit_s: float = 10.0
    learn_budget_s: float = 20.0
    learn_algo: str = "maskable-ppo"

    @property
    def key(self) -> str:
        """Stable identity for resume (every field)."""
        return json.dumps(asdict(self), sort_keys=True)


def cells(workloads: Sequence[str], platforms: Sequence[str], modes: Sequence[str | None] | None = None,
          policies: Sequence[str] = DEFAULT_POLICIES, seeds: int = 1, **options: Any) -> list[Cell]:
    """The full grid. ``modes=None`` takes each platform's default; a mode a platform lacks is skipped;
    deterministic policies get one seed, learned policies ``seeds``."""
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.sim.policies import policy_names

    from sparoa_sim.workloads import load_workload

    known = set(policy_names()) | set(SPECIAL_POLICIES)
    for p in policies:
        if p not in known:
            raise SparOAError(f"evaluate: unknown policy {p!r} (known: {', '.join(sorted(known))})")
    if "learned" in policies and options.get("batch", 1) != 1:
        raise SparOAError(f"evaluate: the learned scheduler trains at batch 1, so 'learned' cells run at batch 1 "
                          f"only (got batch {options['batch']}); leave it out of a batch sweep")
    for w in dict.fromkeys(workloads):
        load_workload(w)  # an unknown name fails now, not in a worker after other cells have run
    out: dict[str, Cell] = {}  # repeated names in the lists make one cell
    found: set[str] = set()
    for plat in dict.fromkeys(platforms):
        pl = load_platform(plat)
        for mode in dict.fromkeys(modes or [None]):
            try:
                m = pl.mode(mode).name  # aliases (MAXN, 15W, ...) resolve as simulate resolves them
            except SparOAError:
                continue  # a mode this platform lacks
            found.add(str(mode))
            for w in dict.fromkeys(workloads):
                for pol in dict.fromkeys(policies):
                    for s in range(seeds if pol in ("learned", "random") else 1):
                        c = Cell(w, plat, m, pol, s, **options)
                        out.setdefault(c.key, c)
    missing = [str(m) for m in (modes or []) if str(m) not in found]
    if not out:
        raise SparOAError(f"evaluate: no cell to run (modes {list(modes or [])} exist on none of {list(platforms)})")
    if missing:
        raise SparOAError(f"evaluate: mode(s) {missing} exist on none of {list(platforms)}")
    return list(out.values())


def run_cell(cell: Cell) -> dict[str, Any]:
    """Run one cell in the reference setting and return its row (plain JSON-able values)."""
    from sparoa_sim.sim.simulator import simulate

    t0 = time.perf_counter()
    extra: dict[str, Any] = {}
    if cell.policy == "tensorrt":
        from sparoa_sim.agents.heuristics.baselines import tensorrt_results

        res = tensorrt_results(cell.workload, cell.platform, mode=cell.mode, batch=cell.batch, seed=cell.seed)
    elif cell.policy == "oracle":
        from sparoa_sim.agents.exact.oracle import solve_oracle
        from sparoa_sim.hwmodels import load_platform
        from sparoa_sim.workloads import load_workload

        o = solve_oracle(load_workload(cell.workload), load_platform(cell.platform), mode=cell.mode, batch=cell.batch,
                         time_limit_s=cell.oracle_time_limit_s, num_workers=1, random_seed=cell.seed)
        res = simulate(cell.workload, cell.platform, o.schedule, reference=True, mode=cell.mode, batch=cell.batch,
                       requests=cell.batch, seed=cell.seed)
        extra = {"bound_s": o.bound_s, "optimal": o.optimal, "oracle_latency_s": o.latency_s}
    elif cell.policy == "learned":
        from sparoa_sim.agents.learn.scheduler import TrainConfig, train_scheduler
        tr = train_scheduler(TrainConfig(workloads=(cell.workload,), platform=cell.platform, mode=cell.mode,
                                         algo=cell.learn_algo, time_budget_s=cell.learn_budget_s, seed=cell.seed,
                                         lam=cell.lam), None, tensorboard=False)
        res = simulate(cell.workload, cell.platform, tr.schedule(cell.workload), reference=True,
                       mode=cell.mode, batch=cell.batch, requests=cell.batch, seed=cell.seed)
        extra = {"train_s": tr.train_s, "timesteps": tr.timesteps, "teacher": tr.teacher[cell.workload][0],
                 "source": tr.final[cell.workload]["source"], "policy_latency_s": tr.best_latency_s[cell.workload]}
    else:
        res = simulate(cell.workload, cell.platform, cell.policy, reference=True, mode=cell.mode, batch=cell.batch,
                       requests=cell.batch, seed=cell.seed)
    row = dict(asdict(cell), latency_s=res.latency_mean_s, energy_per_inference_j=res.energy_per_inference_j,
               gpu_ops=res.gpu_ops, split_ops=res.split_ops, wall_s=time.perf_counter() - t0, **extra)
    return row


def _reject_constant(token: str) -> float:
    raise ValueError(f"non-finite number {token}")


def done_keys(path: Path) -> dict[str, dict[str, Any]]:
    """Rows already in ``cells.jsonl``; a line that is not a whole, finite row (a torn write, an
    edit) or a row marked ``interrupted`` (a cut-short oracle) is left out, so its cell runs again."""
    rows: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line, parse_constant=_reject_constant)
                if not isinstance(row, dict) or not isinstance(row.get("latency_s"), (int, float)):
                    raise ValueError("not a result row")
                if row.get("interrupted"):
                    raise ValueError("a cut-short cell is not a result")
                rows[Cell(**{k: row[k] for k in Cell.__dataclass_fields__}).key] = row
            except (ValueError, KeyError, TypeError, SparOAError):
                continue
    return rows


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one JSON line with a single write (atomic for lines under the pipe buffer size)."""
    data = (json.dumps(row, allow_nan=False) + "\n").encode()
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":  # a torn line from an interrupted write: start a fresh line
                data = b"\n" + data
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def run_sweep(sweep: Sequence[Cell], out_dir: str | os.PathLike[str] | None = None, *, workers: int = 1,
              backend: str = "local", address: str | None = None,
              progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Run every cell (skipping those already in ``out_dir/cells.jsonl``) and return all rows in
    sweep order. ``backend``: ``local`` (this process, or ``workers`` processes) or ``ray``."""
    path = None
    done: dict[str, dict[str, Any]] = {}
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        path = Path(out_dir) / "cells.jsonl"
        done = done_keys(path)
    todo = [c for c in sweep if c.key not in done]
    if progress is not None and len(todo) < len(sweep):
        progress(len(sweep) - len(todo))

    def finished(row: dict[str, Any]) -> None:
        done[Cell(**{k: row[k] for k in Cell.__dataclass_fields__}).key] = row
        if path is not None:
            append_row(path, row)
        if progress is not None:
            progress(1)

    map_jobs(todo, run_cell, finished, workers=workers, backend=backend, address=address,
             describe=lambda c: f"{c.policy} on {c.workload} / {c.platform}")
    return [done[c.key] for c in sweep]


def map_jobs(todo: Sequence[Any], fn: Callable[[Any], Any], finished: Callable[[Any], None], *, workers: int = 1,
             backend: str = "local", address: str | None = None, describe: Callable[[Any], str] = str,
             noun: str = "cell") -> None:
    """Run ``fn`` on every job of ``todo`` and hand each result to ``finished`` as it arrives: in this
    process, in ``workers`` processes, or on Ray. A failed job does not lose the others' results; the
    first failure is raised afterwards, naming the job (``describe``)."""
    if backend == "ray":
        from sparoa_sim.agents.experiments.distributed import ray_map

        ray_map(todo, finished, address=address, fn=fn)
    elif backend != "local":
        raise SparOAError(f"evaluate: unknown backend {backend!r} (known: local, ray)")
    elif workers > 1 and len(todo) > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        failures: list[tuple[Any, BaseException]] = []
        pool = ProcessPoolExecutor(max_workers=workers)
        try:
            futs = {pool.submit(fn, c): c for c in todo}
            for f in as_completed(futs):
                try:
                    row = f.result()
                except Exception as exc:  # noqa: BLE001 - keep every other finished job, then report
                    failures.append((futs[f], exc))
                    continue
                finished(row)
        except BaseException:  # Ctrl-C (or a failing `finished`): stop the workers, do not wait for their jobs
            _stop_workers(pool)
            raise
        pool.shutdown(wait=True)
        if failures:
            job, exc = failures[0]
            raise SparOAError(f"evaluate: {len(failures)} {noun}(s) failed (the others are saved); first: "
                              f"{describe(job)}: {type(exc).__name__}: {exc}")
    else:
        for c in todo:
            finished(fn(c))


def _stop_workers(pool: Any) -> None:
    """Cancel a process pool's pending jobs and end its running workers now (a job cut short is
    never reported, so nothing of it is saved); without this, Ctrl-C waits for every running job
    and a SIGINT sent to the parent alone leaves its workers running."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # the stdlib keeps no public handle
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(5)


def _case(row: dict[str, Any]) -> tuple[str, str, str, int, float]:
    return row["workload"], row["platform"], row["mode"], row["batch"], row["lam"]


def summarise(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (case, policy): medians over seeds plus speed-ups, oracle gap and gain share."""
    import numpy as np

    by_case: dict[tuple, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by_case[_case(r)][r["policy"]].append(r)
    table = []
    for case, pols in by_case.items():
        lat = {p: float(np.median([r["latency_s"] for r in rs])) for p, rs in pols.items()}
        single = min((lat[p] for p in ("cpu", "gpu") if p in lat), default=math.nan)
        oracle = lat.get("oracle", math.nan)
        achievable = single - oracle
        for p, rs in pols.items():
            t = lat[p]
            row = {"workload": case[0], "platform": case[1], "mode": case[2], "batch": case[3], "lam": case[4],
                   "policy": p, "seeds": len(rs), "latency_s": t,
                   "latency_worst_s": max(r["latency_s"] for r in rs),
                   "energy_per_inference_j": float(np.median([r["energy_per_inference_j"] for r in rs])),
                   "speedup_vs_cpu": lat["cpu"] / t if "cpu" in lat else None,
                   "speedup_vs_gpu": lat["gpu"] / t if "gpu" in lat else None,
                   "speedup_vs_tensorrt": lat["tensorrt"] / t if "tensorrt" in lat else None,
                   "gap_to_oracle": t / oracle - 1.0 if math.isfinite(oracle) else None,
                   "oracle_gain_over_single": 1.0 - oracle / single if math.isfinite(oracle + single) else None,
                   "gain_realised": (single - t) / achievable if math.isfinite(achievable)
                   and single >= (1.0 + MIN_GAIN) * oracle else None}
            table.append(row)
    return table


def _fmt(x: Any, pct: bool = False) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{100 * x:+.1f} %" if pct else f"{x:.3f}"
    return str(x)


def markdown(table: Sequence[dict[str, Any]]) -> str:
    """The summary as a markdown table (latency in ms, energy in mJ)."""
    head = ("workload", "platform", "mode", "policy", "latency ms", "energy mJ", "× CPU", "× GPU", "× TRT",
            "gap to oracle", "gain realised")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table:
        lines.append("| " + " | ".join([
            r["workload"], r["platform"], r["mode"], r["policy"], f"{1e3 * r['latency_s']:.3f}",
            f"{1e3 * r['energy_per_inference_j']:.2f}", _fmt(r["speedup_vs_cpu"]), _fmt(r["speedup_vs_gpu"]),
            _fmt(r["speedup_vs_tensorrt"]), _fmt(r["gap_to_oracle"], True),
            "–" if r["gain_realised"] is None else f"{100 * r['gain_realised']:.0f} %"]) + " |")
    return "\n".join(lines) + "\n"


def bar_chart(table: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Speed-up over GPU-only per case and policy (grouped bars), PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cases = sorted({(r["workload"], r["platform"], r["mode"]) for r in table})
    pols = sorted({r["policy"] for r in table if r["speedup_vs_gpu"] is not None})
    val = {(r["workload"], r["platform"], r["mode"], r["policy"]): r["speedup_vs_gpu"] for r in table}
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(cases) * max(1, len(pols)) / 4), 4.5))
    w = 0.8 / max(1, len(pols))
    for k, p in enumerate(pols):
        ys = [val.get((*c, p)) or 0.0 for c in cases]
        ax.bar(np.arange(len(cases)) + k * w, ys, w, label=p)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(cases)) + 0.4 - w / 2)
    ax.set_xticklabels([f"{c[0]}\n{c[1].replace('jetson-', '')} {c[2]}" for c in cases], fontsize=7, rotation=30,
                       ha="right")
    ax.set_ylabel("speed-up over GPU-only (reference setting)")
    if pols:  # no policy has a speed-up over GPU-only when gpu was not among them
        ax.legend(fontsize=7, ncol=min(5, len(pols)))
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def pareto_plot(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str], title: str = "") -> Path:
    """Latency–energy points of every policy, the λ-sweep front drawn as a line, PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    front = sorted((r for r in rows if r["policy"] == "learned"), key=lambda r: r["latency_s"])
    for r in rows:
        if r["policy"] != "learned":
            ax.scatter(1e3 * r["latency_s"], 1e3 * r["energy_per_inference_j"], label=r["policy"])
    if front:
        ax.plot([1e3 * r["latency_s"] for r in front], [1e3 * r["energy_per_inference_j"] for r in front], "k.-",
                label="learned (λ sweep)")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("energy per inference (mJ)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def write_report(rows: Sequence[dict[str, Any]], out_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Write the summary table to ``out_dir`` atomically: ``summary.json``, the same table as
    Markdown (summary.md) and the speed-up chart ``speedup.png``."""
    from sparoa_sim.hwmodels.fileio import atomic_write_text

    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    table = summarise(rows)
    atomic_write_text(d / "summary.json", json.dumps({"rows": list(rows), "summary": table}, indent=1,
                                                     allow_nan=False))
    atomic_write_text(d / "summary.md", markdown(table))
    bar_chart(table, d / ".speedup.tmp.png")
    os.replace(d / ".speedup.tmp.png", d / "speedup.png")
    return {"json": str(d / "summary.json"), "markdown": str(d / "summary.md"), "chart": str(d / "speedup.png")}
