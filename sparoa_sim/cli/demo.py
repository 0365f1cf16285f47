"""``sparoa demo``: the project end to end in a few minutes on a laptop (what ``make demo`` runs).

On MobileNetV3-Small and ResNet-18 for the ``jetson-orin-nano-8gb`` twin: the operator quadrant
plots; baselines and the CP-SAT oracle; a short training of the threshold predictor and of the
scheduler (SAC, the paper's algorithm, warm-started from the best heuristic); one comparison
table; a Gantt chart and a Chrome trace of the learned schedule; and a short sim-to-real check of
the CPU-only placement on this machine's CPU. Everything lands in ``runs/demo-<timestamp>/``
with an ``index.md`` naming each file. ``quick=True`` shrinks every budget and uses the example
host profile shipped in ``hwmodels/profiles/examples`` instead of calibrating this CPU.

An application of every layer below (docs/architecture.md §1, §9), so it lives with the command
line: :func:`run_demo` is its Python entry point, :func:`cmd_demo` the ``sparoa demo`` handler.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sparoa_sim.cli.output import emit
from sparoa_sim.cli.outputs_check import check_output_dir, interrupted

__all__ = ["EXAMPLE_HOST_PROFILE", "add_demo_parser", "cmd_demo", "run_demo"]

WORKLOADS = ("mobilenetv3_small", "resnet18")
PLATFORM = "jetson-orin-nano-8gb"
BASELINES = ("cpu", "gpu", "tensorrt", "threshold", "greedy", "heft", "coexec", "oracle")
#: The example host profile in the source tree (``hwmodels/`` beside ``sparoa_sim/``).
EXAMPLE_HOST_PROFILE = Path(__file__).resolve().parents[2] / "hwmodels" / "profiles" / "examples" / "host-example.toml"


def add_demo_parser(sub: Any) -> None:
    """Attach ``demo`` to the top-level sub-parsers."""
    p = sub.add_parser("demo", help="the project end to end in minutes: plots, baselines, oracle, training, "
                                    "comparison, Gantt, sim-to-real -> runs/demo-<timestamp>/")
    p.add_argument("--quick", action="store_true", help="tiny budgets and the example host profile (about a minute)")
    p.add_argument("-o", "--output", default="runs", help="parent folder of the run directory (default runs/)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo; print the run's index (or, with ``--json``, where it is)."""
    check_output_dir(args.output, "-o", run_files=())  # the parent of a new run folder: writable, not a file
    started = time.time()
    try:
        root = run_demo(args.output, quick=args.quick, progress=not args.json)
    except KeyboardInterrupt:
        runs = [p for p in Path(args.output).glob("demo-*") if p.is_dir() and p.stat().st_mtime >= started - 1]
        where = f"the parts finished so far are in {max(runs, key=lambda p: p.stat().st_mtime)}" if runs else \
            "nothing written"
        return interrupted(f"demo stopped; {where} (no index.md: it is written at the end)")
    return emit({"run_dir": str(root), "index": str(root / "index.md")}, args.json, lambda: [
        (root / "index.md").read_text(), f"\nEverything is in {root} (start with {root / 'index.md'})."])


def _example_host_profile() -> Path:
    """The shipped example host profile (installed package or source tree)."""
    from importlib.resources import files

    p = Path(str(files("sparoa_sim.hwmodels") / "profiles" / "examples" / "host-example.toml"))
    return p if p.is_file() else EXAMPLE_HOST_PROFILE


class _Index:
    """The run's index: files with one line each, and sections of markdown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[tuple[str, str]] = []
        self.sections: list[str] = []

    def add(self, path: Path | str, what: str) -> None:
        self.files.append((str(Path(path).relative_to(self.root)), what))

    def write(self, title: str) -> Path:
        from sparoa_sim.hwmodels.fileio import atomic_write_text

        lines = [f"# {title}", "", "| file | what it is |", "|---|---|"]
        lines += [f"| [{f}]({f}) | {w} |" for f, w in self.files]
        text = "\n".join(lines) + "\n\n" + "\n\n".join(self.sections) + "\n"
        return atomic_write_text(self.root / "index.md", text)


def run_demo(out_root: str | Path = "runs", *, quick: bool = False, platform: str = PLATFORM,
             say: Callable[[str], None] | None = None, progress: bool = True) -> Path:
    """Run the demo; return the run directory (``out_root/demo-<timestamp>``)."""
    from tqdm import tqdm

    from sparoa_sim.agents.experiments.evaluate import cells, markdown, run_sweep, summarise, write_report
    from sparoa_sim.agents.learn.predictor import train_default
    from sparoa_sim.agents.learn.scheduler import TrainConfig, train_scheduler
    from sparoa_sim.agents.learn.threshold_data import HardwareContext
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.plots import quadrant_plot
    from sparoa_sim.sim.config import SimConfig
    from sparoa_sim.sim.policies import StaticSchedule
    from sparoa_sim.sim.simulator import Simulator
    from sparoa_sim.workloads import load_workload

    say = say or (lambda m: print(m, file=sys.stderr))
    bar = dict(file=sys.stderr, disable=not progress)
    t_start = time.perf_counter()
    root = Path(out_root) / time.strftime("demo-%Y%m%d-%H%M%S")
    suffix = 1
    while root.exists():
        root = Path(f"{root}-{suffix}")
        suffix += 1
    root.mkdir(parents=True)
    idx = _Index(root)
    plat = load_platform(platform)
    mode = plat.mode(None).name
    graphs = {w: load_workload(w) for w in WORKLOADS}

    say(f"[1/6] operator quadrant plots → {root}")
    for w, g in graphs.items():
        idx.add(quadrant_plot(g, root / f"quadrants-{w}.png"),
                f"{w}: every operator by activation sparsity vs arithmetic intensity (size = FLOPs)")

    say("[2/6] threshold predictor: regret surfaces and training")
    # the Transformer-LSTM vs MLP comparison is `sparoa train predictor` (minutes); the demo trains the MLP
    n_syn, contexts, epochs, models = (12, 3, 30, ("mlp",)) if quick else (30, 5, 60, ("mlp",))
    pred, prep = train_default(n_syn, contexts, epochs, models, show_progress=progress)
    pred.save(root / "predictor")
    idx.add(root / "predictor" / "metadata.json", "threshold predictor: weights (predictor.pt) and its held-out report")
    thresholds = {w: pred.predict(g, HardwareContext(plat.name, mode)) for w, g in graphs.items()}
    idx.sections.append(
        "## Threshold predictor\n\n"
        f"Kept `{prep.model}` (held-out mean regret per model: "
        + ", ".join(f"{m} {100 * r:.2f} %" for m, r in prep.per_model.items())
        + f"). Held-out mean regret {100 * prep.regret_mean:.2f} % vs {100 * prep.constant_regret_mean:.2f} % for the "
        f"best constant thresholds (skill {prep.skill:.2f}); {prep.n_train} training and {prep.n_test} held-out "
        "surfaces. Predicted thresholds on the demo twin: "
        + ", ".join(f"{w} τ_s = {t[0]:.2f}, τ_I = {t[1]:.3g} FLOP/B" for w, t in thresholds.items()) + ".")

    say("[3/6] RL scheduler (SAC, warm-started from the best heuristic)")
    budget = 6.0 if quick else 30.0
    learned: dict[str, StaticSchedule] = {}
    sources: dict[str, str] = {}
    for w in WORKLOADS:
        cfg = TrainConfig(workloads=(w,), platform=platform, mode=mode, algo="sac", time_budget_s=budget,
                          thresholds=thresholds[w], eval_every=512 if quick else 1024, bc_episodes=1 if quick else 3)
        with tqdm(desc=f"training {w}", unit="step", **bar) as b:
            res = train_scheduler(cfg, root / f"scheduler-{w}", progress=b.update, tensorboard=not quick)
        learned[w] = res.schedule(w)
        sources[w] = res.final[w]["source"]
        idx.add(root / f"scheduler-{w}" / "schedule.json",
                f"learned schedule for {w} (`sparoa simulate --policy` it); policy.zip + metadata.json beside it")

    say("[4/6] baselines, oracle and the learned schedules: comparison table")
    sweep = cells(list(WORKLOADS), [platform], [mode], list(BASELINES), oracle_time_limit_s=3.0 if quick else 15.0)
    with tqdm(total=len(sweep), desc="baselines + oracle", unit="cell", **bar) as b:
        rows = run_sweep(sweep, root / "comparison", progress=b.update)
    for w in WORKLOADS:
        r = Simulator(w, plat, learned[w], config=SimConfig(mode=mode, reference=True)).run()
        rows.append({"workload": w, "platform": platform, "mode": mode, "policy": "learned (SAC)", "seed": 0,
                     "batch": 1, "lam": 0.0, "latency_s": r.latency_mean_s,
                     "energy_per_inference_j": r.energy_per_inference_j, "gpu_ops": r.gpu_ops, "split_ops": r.split_ops})
    files = write_report(rows, root / "comparison")
    idx.add(files["markdown"], "comparison table (markdown); summary.json holds every row")
    idx.add(files["chart"], "speed-up over GPU-only per workload and policy")
    idx.sections.append("## Comparison (reference setting, batch 1)\n\n" + markdown(summarise(rows)) +
                        "\nWhere each learned schedule comes from (`policy`: the trained network's best rollout; "
                        "`teacher:NAME`: its warm-start heuristic was still faster): "
                        + ", ".join(f"{w}: `{src}`" for w, src in sources.items()) + ".")

    say("[5/6] Gantt chart and Chrome trace of the learned schedules")
    for w in WORKLOADS:
        sim = Simulator(w, plat, learned[w], config=SimConfig(mode=mode, reference=True, record_trace=True))
        sim.run()
        tr = sim.trace()
        idx.add(tr.gantt(root / f"gantt-{w}.png", title=f"{w} on {platform} ({mode}): learned schedule"),
                f"Gantt chart of the learned schedule of {w}")
        idx.add(tr.save(root / f"trace-{w}.json"), "Chrome/Perfetto trace of the same run (open in ui.perfetto.dev)")

    say("[6/6] sim-to-real: the CPU-only placement on this machine's CPU")
    from sparoa_sim.real.run.validate import validate, write_outputs

    if quick:
        host = load_platform(_example_host_profile())
        note = "the example host profile shipped with the package (quick mode: not calibrated on this CPU)"
    else:
        from sparoa_sim.real.measure.host_calibration import ensure_host_profile

        host = ensure_host_profile(progress=progress)
        note = f"this machine's calibrated host profile ({host.source})"
    val_lines = []
    for w in WORKLOADS:
        rep = validate(w, host, policies=["cpu"], reps=4 if quick else 10, threads=1)
        out = write_outputs(rep, root / f"validation-{w}")
        idx.add(out["markdown"], f"sim-to-real report for {w} (scatter.png and validation.json beside it)")
        doc = rep.to_dict()
        cpu = doc.get("cpu_only") or {}
        val_lines.append(
            f"- {w}: twin {_ms(cpu.get('predicted_s'))} vs eager PyTorch {_ms(cpu.get('eager_s'))} "
            f"(error {_pct(cpu.get('eager_error'))}) and the hybrid executor {_ms(cpu.get('executor_s'))} "
            f"(error {_pct(cpu.get('executor_error'))}); per-operator within ±10 %: {_share(doc.get('within_10pct'))}; "
            f"other processes used {_share(doc['meta'].get('other_processes_cpu_share'))} of the CPU while measuring"
            + (f"; this CPU ran the eager pass ×{cpu['host_drift']:.2f} as long as at calibration (twin scaled by "
               f"that: {_pct(cpu['drift_corrected_error'])} vs the executor)" if cpu.get("host_drift") else ""))
    idx.sections.append(f"## Sim-to-real (host CPU)\n\nTwin: {note}.\n\n" + "\n".join(val_lines) +
                        "\n\nOn a host without CUDA only CPU placements can be measured; the GPU side of the twin "
                        "is a Jetson's, so no ranking (Kendall τ) is reported here.")
    idx.sections.append(f"_Finished in {time.perf_counter() - t_start:.0f} s; "
                        f"shipped-workload sparsity comes from random initialisation, not trained weights._")
    idx.write(f"SparOA-sim demo — {', '.join(WORKLOADS)} on {platform} ({mode})")
    (root / "demo.json").write_text(json.dumps({"elapsed_s": time.perf_counter() - t_start, "quick": quick,
                                                "files": [f for f, _ in idx.files]}, indent=1))
    return root


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * float(v):+.1f} %"


def _ms(v: Any) -> str:
    return "–" if v is None else f"{1e3 * float(v):.2f} ms"


def _share(v: Any) -> str:
    return "–" if v is None else f"{100 * float(v):.0f} %"
