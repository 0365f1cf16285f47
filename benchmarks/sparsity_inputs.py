"""The inputs behind the activation-sparsity evidence (issue 19), regenerated from the repository.

Three steps, each writing its file atomically (``make bench-sparsity-inputs`` runs them):

* ``sweeps``: the cache-cold dense-vs-activation-sparse sweeps of this host
  (``real.measure.act_sparse_sweep``, thread CPU clock, one torch thread, ``--target-s`` 0.08):
  the shipped shapes but 1x1 convolutions, 8 activation patterns per point (cache-cold), one file
  per seed (``--cold-out FILE`` → ``FILE.1.json`` … for seeds 0, 1, 2); the VGG-16 classifier shapes
  cold (``--vgg-out``, 8 patterns) and warm (``--vgg-warm-out``, 1 pattern), seed 7;
* ``measured-graph``: VGG-16 (zoo weights, seed 0) whose classifier inputs are made really sparse
  (``real.run.act_sparse_check.sparsify_inputs``: biases lowered until fc1 / fc2 / fc3 see
  90 / 97 / 95 % zeros on 4 seeded N(0, 1) images), extracted with those inputs so every operator
  carries its measured sparsity and pattern reuse ρ (``act_reuse``) — the "measured" source of
  ``benchmarks/sparsity_placement.py``;
* ``validate``: that model on the executor vs the twin (the ``--platform`` profile + the
  activation-sparse kernel fitted to the sweeps, reading each operator's ρ from that graph) on the
  CPU side of the oracle's placement:
  wall clock inside the executor's CPU-only run (``measure_cpu_side``) and thread CPU time of
  the kernels on the real activations (``kernel_cpu_times``); records load average and provenance;
* ``user-files``: that model's state_dict, its images (``.npy``) and the profile with the fitted kernel
  (TOML) in a folder, for ``sparoa validate --weights --inputs`` (the same check through the CLI);
* ``validate-cli``: that CLI run itself (CPU-only placement, one image per timed run), its
  ``validation.json`` with the provenance.

    python benchmarks/sparsity_inputs.py sweeps --cold-out F --vgg-out F --vgg-warm-out F
    python benchmarks/sparsity_inputs.py measured-graph --out F
    python benchmarks/sparsity_inputs.py validate --out F [--graph-out F] [--sweep F ...]
    python benchmarks/sparsity_inputs.py user-files --out DIR   # then: sparoa validate ... --weights --inputs
    python benchmarks/sparsity_inputs.py validate-cli --out F --batch 8   # both, through the CLI

``--reduced`` (the zoo's small VGG-16, 32×32) and the size flags give a run of seconds for tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sparoa_sim.agents.experiments.provenance import provenance
from sparoa_sim.hwmodels.act_sparse import save_act_sweep
from sparoa_sim.hwmodels.fileio import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SCRIPT = "benchmarks/sparsity_inputs.py"
#: (producer, consumer, target share of zeros in the consumer's input), upstream first.
VGG_PLAN: tuple[tuple[str, str, float], ...] = (("features.28", "classifier.0", 0.90),
                                                ("classifier.0", "classifier.3", 0.97),
                                                ("classifier.3", "classifier.6", 0.95))
VGG_CLASSIFIER = ("classifier.0", "classifier.3", "classifier.6")
#: VGG-16's classifier as sweep shapes (kind, groups, rows, inner, outer).
VGG_SHAPES: tuple[tuple[str, int, int, int, int], ...] = (("linear", 1, 1, 25088, 4096),
                                                          ("linear", 1, 1, 4096, 4096),
                                                          ("linear", 1, 1, 4096, 1000))
VGG_SPARSITIES = (0.0, 0.5, 0.8, 0.9, 0.95, 0.97, 0.99)
COLD_SEEDS = (0, 1, 2)
VGG_SEED = 7
DEFAULT_SWEEPS = tuple(RESULTS / f"sparsity_sweep_cold.{i + 1}.json" for i in COLD_SEEDS) + (
    RESULTS / "sparsity_sweep_vgg.json", RESULTS / "sparsity_sweep_vgg_warm.json")


def _save_sweep(points: Sequence[Any], path: Path, meta: dict[str, Any]) -> Path:
    """``save_act_sweep`` through a sibling temporary file, then an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        save_act_sweep(points, tmp, meta)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def cold_shapes() -> list[tuple[str, int, int, int, int]]:
    """The shipped sweep shapes but 1x1 convolutions (the kernel is not offered for them)."""
    from sparoa_sim.real.measure.act_sparse_sweep import ACT_SHAPES

    return [s for s in ACT_SHAPES if s[0] != "conv1x1"]


def run_sweeps(cold_out: Path | None, vgg_out: Path | None, vgg_warm_out: Path | None, *,
               cold_shapes_: Sequence[tuple[str, int, int, int, int]] | None = None,
               vgg_shapes: Sequence[tuple[str, int, int, int, int]] = VGG_SHAPES,
               sparsities: Sequence[float] | None = None, seeds: Sequence[int] = COLD_SEEDS,
               target_s: float = 0.08, patterns: int = 8, argv: Sequence[str] = (), log=print) -> list[Path]:
    """Measure and write the sweeps asked for (an output left ``None`` is skipped); returns the paths."""
    from sparoa_sim.real.measure.act_sparse_sweep import ACT_SPARSITIES, act_sparse_sweep

    written: list[Path] = []
    if cold_out is not None:
        shapes = list(cold_shapes_) if cold_shapes_ is not None else cold_shapes()
        for i, seed in enumerate(seeds):
            t0 = time.perf_counter()
            pts = act_sparse_sweep(shapes=shapes, sparsities=tuple(sparsities or ACT_SPARSITIES), target_s=target_s,
                                   seed=seed, patterns=patterns)
            meta = {"target_s": target_s, "patterns": patterns, "seed": seed, "loadavg": list(os.getloadavg()),
                    "provenance": provenance(SCRIPT, argv)}
            written.append(_save_sweep(pts, cold_out.with_suffix(f".{i + 1}.json"), meta))
            log(f"cold sweep seed {seed}: {len(pts)} points, {time.perf_counter() - t0:.0f} s -> {written[-1]}")
    for out, pats, label in ((vgg_out, patterns, "cold"), (vgg_warm_out, 1, "warm")):
        if out is None:
            continue
        t0 = time.perf_counter()
        pts = act_sparse_sweep(shapes=list(vgg_shapes), sparsities=tuple(sparsities or VGG_SPARSITIES),
                               target_s=target_s, seed=VGG_SEED, patterns=pats)
        meta = {"target_s": target_s, "purpose": "VGG-16 classifier shapes for the placement check",
                "patterns": pats, "seed": VGG_SEED, "loadavg": list(os.getloadavg()),
                "provenance": provenance(SCRIPT, argv)}
        written.append(_save_sweep(pts, Path(out), meta))
        log(f"VGG-16 sweep ({label}, {pats} patterns): {len(pts)} points, {time.perf_counter() - t0:.0f} s -> {out}")
    return written


def sparse_vgg16(*, reduced: bool = False, batch: int = 4, seed: int = 0,
                 plan: Sequence[tuple[str, str, float]] = VGG_PLAN) -> tuple[Any, Any, dict[str, float]]:
    """(model, inputs, reached sparsity per consumer): VGG-16 (zoo, ``seed``) with biases lowered per
    ``plan`` on ``batch`` seeded N(0, 1) images."""
    from sparoa_sim.real.models import zoo
    from sparoa_sim.real.run.act_sparse_check import sparsify_inputs

    model = zoo.build("vgg16", seed=seed, reduced=reduced)
    xs = zoo.example_input("vgg16", batch=batch, reduced=reduced, seed=seed)
    reached = sparsify_inputs(model, xs, list(plan))
    return model, xs, reached


def measured_graph(model: Any, xs: Any, name: str = "vgg16_sparse") -> Any:
    """The model's graph with per-operator sparsity measured on ``xs`` (``extract(..., inputs=xs)``)."""
    from sparoa_sim.real.models.extract import extract

    return extract(model, xs[:1], name=name, inputs=xs)


def act_platform(platform: str, sweeps: Sequence[Path]) -> tuple[Any, Any, dict[str, float]]:
    """(the ``platform`` profile, the same + the activation-sparse kernel fitted to ``sweeps``, the fit's
    figures): the kernel's own times (not speed-ups over a dense model fitted elsewhere), cache term on,
    cold and warm sweeps each at their pattern reuse."""
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.hwmodels.act_sparse import CACHE_TERM, fit_act_sparse, load_act_sweep, median_points, sweep_reuse
    from sparoa_sim.hwmodels.calibrate import ACT_OFFERED_KINDS

    by_reuse: dict[float, list[Path]] = {}
    for f in sweeps:
        by_reuse.setdefault(sweep_reuse(f), []).append(f)
    pts: list[Any] = []
    reuse: list[float] = []
    for r, files in sorted(by_reuse.items()):  # cold and warm sweeps are not medians of each other
        got = [p for p in median_points([load_act_sweep(f) for f in files]) if p.kind in ACT_OFFERED_KINDS]
        pts += got
        reuse += [r] * len(got)
    base = load_platform(platform)
    plat, rep = fit_act_sparse(base, pts, kinds=ACT_OFFERED_KINDS, cache=CACHE_TERM, reuse=reuse, target="time")
    fit = {k: rep[k] for k in ("act_eta", "act_gather", "act_launch", "median_speedup_error", "act_cache", "act_miss")
           if k in rep}
    return base, plat, fit


def user_files(model: Any, xs: Any, folder: Path, sweeps: Sequence[Path], platform: str = "host") -> dict[str, Path]:
    """What ``sparoa validate --weights --inputs`` takes, for the sparse VGG-16: its state_dict, the images
    (``.npy``) and the ``platform`` profile + the fitted activation-sparse kernel (TOML), in ``folder``."""
    import numpy as np
    import torch

    from sparoa_sim.hwmodels.profile_io import save_platform

    folder.mkdir(parents=True, exist_ok=True)
    out = {"weights": folder / "weights.pt", "inputs": folder / "inputs.npy", "platform": folder / "platform.toml"}
    tmp = out["weights"].with_name("weights.pt.tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(out["weights"])
    tmp = out["inputs"].with_name("inputs.tmp.npy")
    np.save(tmp, xs.detach().numpy().astype(np.float32))
    tmp.replace(out["inputs"])
    save_platform(act_platform(platform, sweeps)[1], out["platform"])
    return out


def validate_cli(model: Any, xs: Any, sweeps: Sequence[Path], platform: str = "host", *, runs: int = 10,
                 reduced: bool = False) -> dict[str, Any]:
    """``sparoa validate --weights --inputs --policies cpu`` on the sparse VGG-16 (files from :func:`user_files`
    in a temporary folder): its ``validation.json``."""
    import tempfile

    from sparoa_sim.cli import main as cli

    with tempfile.TemporaryDirectory() as td:
        files = user_files(model, xs, Path(td) / "in", sweeps, platform)
        out = Path(td) / "out"
        rc = cli(["validate", "--workload", "vgg16", *(["--reduced"] if reduced else []), "--platform",
                  str(files["platform"]), "--weights", str(files["weights"]), "--inputs", str(files["inputs"]),
                  "--policies", "cpu", "--reps", str(runs), "-o", str(out)])
        if rc != 0:
            raise SystemExit(rc)
        return json.loads((out / "validation.json").read_text(encoding="utf-8"))


def validate(model: Any, xs: Any, graph: Any, reached: dict[str, float], sweeps: Sequence[Path], *,
             platform: str = "host", oracle_time_limit_s: float = 20.0, runs: int = 20, calls: int = 24,
             log=print) -> dict[str, Any]:
    """Executor vs twin on the CPU side of the oracle's placement of ``graph`` (kernels on); the record
    (load average included; ``main`` adds the provenance)."""
    import torch

    from sparoa_sim.agents.exact.oracle import solve_oracle
    from sparoa_sim.hwmodels.act_sparse import sweep_reuse
    from sparoa_sim.hwmodels.latency import KERNELS, predict
    from sparoa_sim.real.run.act_sparse_check import kernel_cpu_times, measure_cpu_side

    base, plat, fit = act_platform(platform, sweeps)
    log(f"fit {fit}")
    lin = [i for i, op in enumerate(graph.ops) if op.kind.value == "linear"]
    pr = predict(plat, graph.hw_ops, act_reuse=0.0)  # the twin not told the pattern reuse: random patterns
    pr_rho = predict(plat, graph.hw_ops)  # the graph's own ρ per operator, measured at extraction
    rho = {i: graph.ops[i].act_reuse for i in lin}
    log(f"pattern reuse of the linear operators' inputs (from the graph): {rho}")
    off = solve_oracle(graph, base, time_limit_s=oracle_time_limit_s)
    on = solve_oracle(graph, plat, time_limit_s=oracle_time_limit_s)
    cpu_off = [i for i, x in enumerate(off.schedule.placement) if x < 1]
    cpu_on = [i for i, x in enumerate(on.schedule.placement) if x < 1]
    log(f"oracle CPU ops: kernels off {cpu_off}, on {cpu_on}")
    threads = torch.get_num_threads()
    try:
        chk = measure_cpu_side(model, graph, plat, xs, sorted(set(lin) | set(cpu_on)), runs=runs, threads=1)
    finally:
        torch.set_num_threads(threads)
    doc_chk = chk.to_dict()
    kt = kernel_cpu_times(model, graph, plat, xs, lin, calls=calls)
    thread_cpu = {str(i): {"kernel": k, "thread_cpu_ms": t * 1e3, "twin_ms": float(pr.latency[i, 0]) * 1e3,
                           "error": float(pr.latency[i, 0]) / t - 1} for i, (k, t) in kt.items()}
    doc_chk["thread_cpu"] = thread_cpu
    for i, (k, t) in kt.items():  # the twin told how stable each input's pattern is
        thread_cpu[str(i)].update({"reuse": rho.get(i, 0.0), "twin_ms_reuse": float(pr_rho.latency[i, 0]) * 1e3,
                                   "kernel_reuse": KERNELS[int(pr_rho.kernels_chosen[i, 0])],
                                   "error_reuse": float(pr_rho.latency[i, 0]) / t - 1})
    lin_on = [i for i in cpu_on if i in kt]
    summary = [f"oracle CPU ops: kernels off {cpu_off}, on {cpu_on}"]
    if lin_on:
        tw = sum(float(pr.latency[i, 0]) for i in lin_on)
        me = sum(kt[i][1] for i in lin_on)
        tr = sum(float(pr_rho.latency[i, 0]) for i in lin_on)
        doc_chk["oracle_cpu_side_thread_cpu"] = {"ops": lin_on, "twin_ms": tw * 1e3, "measured_ms": me * 1e3,
                                                 "error": tw / me - 1, "twin_ms_reuse": tr * 1e3,
                                                 "error_reuse": tr / me - 1}
        summary.append(f"CPU-side linear ops {lin_on}, thread CPU: twin {tw * 1e3:.3f} ms (told the pattern reuse: "
                       f"{tr * 1e3:.3f} ms), measured {me * 1e3:.3f} ms ({tw / me - 1:+.1%}; {tr / me - 1:+.1%})")
    for o in doc_chk["ops"]:
        summary.append(f"op {o['op']} {o['name']} ({o['kernel']}, sparsity {o['act_sparsity']:.3f}): twin "
                       f"{o['twin_ms']:.3f} ms, executor median {o['measured_ms']:.3f} ms, min {o['min_ms']:.3f} ms")
    for line in summary:
        log(line)
    return {
        "what": (f"VGG-16 (zoo weights) with classifier biases lowered (sparsify_inputs) so the classifier "
                 f"inputs see {reached} zeros on {len(xs)} N(0,1) images; graph extracted with those inputs "
                 f"(measured source, with each operator's pattern reuse, act_reuse); twin = the {platform!r} profile + "
                 f"fit_act_sparse on the sweeps (the kernel's own times, cache term on, warm sweeps at pattern "
                 f"reuse 1), told the graph's pattern reuse (oracle, check.ops); executor "
                 f"CPU-only run, one image per run, {runs} runs, wall clock per operator (check.ops); "
                 f"check.thread_cpu: the same kernels on the captured activations, thread CPU, {calls} calls; "
                 f"twin_ms: the twin not told the pattern reuse (random patterns); twin_ms_reuse: told the "
                 f"graph's (pattern_reuse at extraction)."),
        "platform": f"{platform} + fit_act_sparse on the sweeps listed",
        "load_avg": list(os.getloadavg()), "reached": reached, "fit": fit,
        "sweeps": [os.path.relpath(f, ROOT) if Path(f).is_absolute() else str(f) for f in sweeps],
        "sweep_reuse": [sweep_reuse(f) for f in sweeps], "pattern_reuse": {str(i): r for i, r in rho.items()},
        "oracle_cpu_ops_dense": cpu_off, "oracle_cpu_ops_sparse": cpu_on,
        "oracle_latency_ms": [off.latency_s * 1e3, on.latency_s * 1e3], "check": doc_chk,
        "graph_act": {graph.ops[i].name: [graph.ops[i].act_sparsity, graph.ops[i].act_sparsity_std] for i in lin},
        "summary": summary,
    }


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="step", required=True)
    sw = sub.add_parser("sweeps", help="the cache-cold and VGG-16 sweeps")
    sw.add_argument("--cold-out", type=Path, help="cold sweeps: FILE.1.json, FILE.2.json, ... (one per seed)")
    sw.add_argument("--vgg-out", type=Path, help="VGG-16 classifier shapes, cold (--patterns patterns)")
    sw.add_argument("--vgg-warm-out", type=Path, help="VGG-16 classifier shapes, warm (1 pattern)")
    sw.add_argument("--seeds", type=int, nargs="+", default=list(COLD_SEEDS))
    sw.add_argument("--patterns", type=int, default=8)
    sw.add_argument("--target-s", type=float, default=0.08)
    sw.add_argument("--sparsities", type=float, nargs="+", help="instead of the defaults (tiny runs)")
    sw.add_argument("--max-shapes", type=int, help="only the first N shapes of each sweep (tiny runs)")
    for name, hlp in (("measured-graph", "the VGG-16 measured graph"), ("validate", "executor vs twin"),
                      ("user-files", "weights, inputs and profile for sparoa validate --weights --inputs"),
                      ("validate-cli", "the same model through sparoa validate --weights --inputs (CPU-only)")):
        p = sub.add_parser(name, help=hlp)
        p.add_argument("--out", type=Path, required=True, help="a folder for user-files")
        p.add_argument("--reduced", action="store_true", help="the zoo's small VGG-16 (tests)")
        p.add_argument("--batch", type=int, default=4, help="images the sparsity is set and measured on")
        if name != "measured-graph":
            p.add_argument("--sweep", type=Path, nargs="+", default=list(DEFAULT_SWEEPS))
            p.add_argument("--platform", default="host")
        if name in ("validate", "validate-cli"):
            p.add_argument("--runs", type=int, default=20 if name == "validate" else 10)
        if name == "validate":
            p.add_argument("--graph-out", type=Path, help="also write the measured graph used here")
            p.add_argument("--oracle-time-limit", type=float, default=20.0)
            p.add_argument("--calls", type=int, default=24)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    t0 = time.perf_counter()
    if args.step == "sweeps":
        if args.cold_out is None and args.vgg_out is None and args.vgg_warm_out is None:
            print("sweeps: name at least one of --cold-out, --vgg-out, --vgg-warm-out", file=sys.stderr)
            return 2
        n = args.max_shapes
        run_sweeps(args.cold_out, args.vgg_out, args.vgg_warm_out,
                   cold_shapes_=cold_shapes()[:n] if n else None, vgg_shapes=VGG_SHAPES[:n] if n else VGG_SHAPES,
                   sparsities=args.sparsities, seeds=args.seeds, target_s=args.target_s, patterns=args.patterns,
                   argv=argv)
        return 0
    import torch

    torch.set_num_threads(2)
    model, xs, reached = sparse_vgg16(reduced=args.reduced, batch=args.batch)
    print(f"reached {reached} ({time.perf_counter() - t0:.0f} s)")
    if args.step == "user-files":
        files = user_files(model, xs, args.out, args.sweep, args.platform)
        print("wrote " + ", ".join(str(f) for f in files.values()))
        print(f"sparoa validate --workload vgg16{' --reduced' if args.reduced else ''} --platform {files['platform']} "
              f"--weights {files['weights']} --inputs {files['inputs']} --policies cpu -o DIR")
        return 0
    if args.step == "validate-cli":
        doc = validate_cli(model, xs, args.sweep, args.platform, runs=args.runs, reduced=args.reduced)
        doc["provenance"] = provenance(SCRIPT, argv)
        doc["elapsed_s"] = time.perf_counter() - t0
        print(f"wrote {atomic_write_text(args.out, json.dumps(doc, indent=1, default=float) + chr(10))}")
        return 0
    g = measured_graph(model, xs)
    from sparoa_sim.ir.graph import save_graph

    if args.step == "measured-graph":
        print(f"wrote {save_graph(g, args.out)}")
        return 0
    if args.graph_out is not None:
        print(f"wrote {save_graph(g, args.graph_out)}")
    doc = validate(model, xs, g, reached, args.sweep, platform=args.platform,
                   oracle_time_limit_s=args.oracle_time_limit, runs=args.runs, calls=args.calls)
    doc["provenance"] = provenance(SCRIPT, argv)
    doc["elapsed_s"] = time.perf_counter() - t0
    print(f"wrote {atomic_write_text(args.out, json.dumps(doc, indent=1, default=float) + chr(10))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
