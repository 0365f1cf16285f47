"""End-to-end effect of the activation-sparse kernel on placement and latency, per workload and
sparsity source (issue 19 items 4-5; a section of ``benchmarks/sparsity.py``).

Platform: the shipped host example (``hwmodels/profiles/examples/host-example.toml``: this 2-core
CPU, calibrated; the Orin Nano's GPU, no GPU here) — "kernels off" as shipped (no activation-sparse
kernel), "kernels on" with it fitted to the committed sweeps of this host (``fit_act_sparse``,
offered for linear and matmul). Sources per workload:

* ``init``: the shipped graph (random initialisation, N(0, 1) inputs);
* ``published``: ``load_workload(name, sparsity="published")`` (cited figures; CNNs only);
* ``measured``: DOCUMENTED SUBSTITUTE — no trained weights of the shipped networks are available
  offline, so the one measured graph is VGG-16 whose classifier inputs were made really sparse
  (``real.run.act_sparse_check.sparsify_inputs``: biases lowered; 90 / 97 / 95 % zeros into
  fc1 / fc2 / fc3) and extracted with ``extract(..., inputs=...)``, which measures per-operator
  sparsity and spread on those inputs (the ``--inputs`` path of ``sparoa extract``).

Per (workload, source, kernels): the quadrant view (operators and FLOP share the twin prefers on the
CPU, ``plots.device_preference``), and the latency (reference setting, batch 1) of the threshold
rule at its best grid cell (what the threshold predictor is trained to predict: its regret-0 target),
HEFT, the oracle (CP-SAT, 10 s) and the learned scheduler (ILS, 400 evaluations, seed 0), with the
operators each puts on the CPU.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sparoa_sim.agents.exact.oracle import solve_oracle
from sparoa_sim.agents.exact.refsched import RefProblem
from sparoa_sim.agents.learn.placement_search import TrainingState, train_placement
from sparoa_sim.agents.learn.placement_train import teachers_at
from sparoa_sim.agents.learn.threshold_data import HardwareContext, surface
from sparoa_sim.errors import GraphError
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.hwmodels.act_sparse import fit_act_sparse, load_act_sweep, median_points
from sparoa_sim.hwmodels.calibrate import ACT_OFFERED_KINDS
from sparoa_sim.ir.graph import load_graph
from sparoa_sim.plots import device_preference
from sparoa_sim.sim.simulator import simulate
from sparoa_sim.workloads import load_workload

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
HOST_EXAMPLE = ROOT / "hwmodels" / "profiles" / "examples" / "host-example.toml"
#: The measured-source substitute: VGG-16 with really sparse classifier inputs (graph JSON).
MEASURED_GRAPH = RESULTS / "sparsity_vgg16_measured_graph.json"
WORKLOADS = ("resnet18", "mobilenetv2", "squeezenet1_1", "googlenet", "vgg16", "vit_b_16")
SWEEP_GLOBS = ("sparsity_sweep_cold.*.json", "sparsity_sweep_vgg.json")


def sweep_points() -> list:
    """Median point per (shape, sparsity) over the committed cache-cold sweeps, offered kinds only."""
    files = [f for g in SWEEP_GLOBS for f in sorted(RESULTS.glob(g))]
    return [p for p in median_points([load_act_sweep(f) for f in files]) if p.kind in ACT_OFFERED_KINDS]


def platforms() -> tuple[Any, Any, dict[str, Any]]:
    """(kernels off, kernels on, the fit's report)."""
    off = load_platform(HOST_EXAMPLE)
    on, rep = fit_act_sparse(off, sweep_points(), kinds=ACT_OFFERED_KINDS)
    return off, on, rep


def graphs() -> list[tuple[str, str, Any]]:
    """(workload, source, graph) for every shipped workload and source that exists."""
    out = []
    for w in WORKLOADS:
        out.append((w, "init", load_workload(w)))
        try:
            out.append((w, "published", load_workload(w, sparsity="published")))
        except GraphError:
            pass  # no published figure for this network
    if MEASURED_GRAPH.is_file():
        out.append(("vgg16", "measured (substitute)", load_graph(MEASURED_GRAPH)))
    return out


def _cpu(placement) -> list[int]:
    return [i for i, x in enumerate(placement) if x < 1.0]


def evaluate_case(graph: Any, platform: Any, *, oracle_s: float = 10.0, ils_evals: int = 400) -> dict[str, Any]:
    """Latency and CPU operators of each scheduler on one graph and platform."""
    row: dict[str, Any] = {}
    ctx = HardwareContext(platform.name, platform.mode(None).name)
    thr = surface(graph, ctx, platform=platform)
    row["threshold_best_ms"] = float(thr.latency.min()) * 1e3
    heft = simulate(graph, platform, policy="heft", reference=True)
    row["heft_ms"], row["heft_cpu_ops"] = heft.latency_mean_s * 1e3, _cpu(heft.placement)
    o = solve_oracle(graph, platform, time_limit_s=oracle_s)
    row["oracle_ms"], row["oracle_cpu_ops"], row["oracle_status"] = o.latency_s * 1e3, _cpu(o.schedule.placement), o.status
    p = RefProblem.build(graph, platform)
    heur = teachers_at(p, graph.name)
    name = min(heur, key=lambda h: (heur[h][0], h))
    r = train_placement([TrainingState(p, heur[name][1], name, heur[name][0])], graph.name, time_budget_s=None,
                        max_evaluations=ils_evals, seed=0)
    row["ils_ms"], row["ils_cpu_ops"] = r.latency_s[0] * 1e3, _cpu(r.policy.schedule(p).placement)
    row["gpu_only_ms"] = simulate(graph, platform, policy="gpu", reference=True).latency_mean_s * 1e3
    return row


def placement_section(progress: Any = print) -> dict[str, Any]:
    """The section's document: per (workload, source) the quadrant shares and schedulers off vs on."""
    t0 = time.time()
    off, on, rep = platforms()
    rows = []
    for w, source, g in graphs():
        pref = device_preference(g, on)
        entry: dict[str, Any] = {"workload": w, "source": source, "graph": g.name, "ops": len(g),
                                 "quadrant": pref.to_dict(), "kernels_off": evaluate_case(g, off),
                                 "kernels_on": evaluate_case(g, on)}
        a, b = entry["kernels_off"], entry["kernels_on"]
        entry["oracle_gain"] = 1.0 - b["oracle_ms"] / a["oracle_ms"]
        rows.append(entry)
        progress(f"{w:14s} {source:22s} CPU share {pref.share(False):6.1%} -> {pref.share(True):6.1%} "
                 f"({pref.count(False)} -> {pref.count(True)} ops); oracle {a['oracle_ms']:.3f} -> "
                 f"{b['oracle_ms']:.3f} ms; ILS {a['ils_ms']:.3f} -> {b['ils_ms']:.3f} ms; threshold best "
                 f"{a['threshold_best_ms']:.3f} -> {b['threshold_best_ms']:.3f} ms; CPU ops oracle "
                 f"{a['oracle_cpu_ops']} -> {b['oracle_cpu_ops']}")
    return {"platform": {"off": str(HOST_EXAMPLE.relative_to(ROOT)), "on": "the same + fit_act_sparse on "
                         + ", ".join(SWEEP_GLOBS)},
            "fit": {k: rep[k] for k in ("act_eta", "act_gather", "act_launch", "median_speedup_error", "n")},
            "rows": rows, "elapsed_s": time.time() - t0,
            "measured_source": "substitute: VGG-16 with lowered classifier biases (see module doc)"}
