"""The scenario benchmark (issue 25): per scenario × workload × platform/mode, what hybrid placement buys.

One *group* is a workload on a platform in a mode; it runs every scenario asked for, so the learned policy
and the oracle computed for one background load serve every scenario at that load. Per scenario and policy
the primary stream's latency (mean, p50, p95), throughput, energy per inference and each stream's deadline
satisfaction are measured in one setting:

- a scenario whose randomness is only the seed's noise (fixed load or load trace, deterministic arrivals)
  runs in the *reference setting* at its load: deterministic, one run, exact;
- a stochastic scenario (Markov load, Poisson arrivals) runs with noise, contention and dispatch
  interference off — only the scenario's own randomness — over ``seeds`` common random numbers, reported as
  a mean with a 95 % confidence interval.

Policies: CPU-only and GPU-only (the *best single device*), the heuristics (threshold, greedy, HEFT,
co-execution; at a fixed load also HEFT planned at that load, ``heft@load``), the TensorRT-like baseline
(fused graph, FP16 on tensor cores — a precision change, listed apart), the CP-SAT oracle's schedule at a
fixed load, and the learned load-aware policy (``algo="ils"``, ``learn_seeds`` seeds, trained ≤
``learn_budget_s`` each at the scenario's load, or on the levels of a changing load) — its *own* schedules:
the argmax schedule at a fixed load, re-planned from the live load by
:class:`~sparoa_sim.agents.learn.placement_policy.LoadAwarePlanner` under a changing one; never the teacher.

Per cell: best single device, best baseline, the reference (oracle where it solves the scenario, else the
best known of every schedule), the achievable gain (best single / reference − 1), the learned policy's worst
seed and the share of the gain it realises — printed only where the gain is at least 5 %. Each learned seed's
row records which engine rule its policy runs as (``rule``: ``"schedule"``, its static argmax schedule, or
``"planner"``, the load- and backlog-aware :class:`~sparoa_sim.agents.learn.placement_policy.LoadAwarePlanner`);
the cell's summary lists them (``rules``). A scenario that switches power mode is refused (one mode per cell).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from sparoa_sim.agents.experiments.evaluate import MIN_GAIN
from sparoa_sim.agents.learn.budget_clock import CLOCKS, budget_clock
from sparoa_sim.errors import SparOAError

__all__ = ["BASELINES", "MIN_GAIN", "PerLoadPlacement", "ScenarioGroup", "done_groups", "groups", "markdown",
           "readme_table", "run_group", "run_groups", "summarise_cell", "to_dict"]

#: Heuristics compared (engine policy names); the best single device is the better of cpu and gpu.
BASELINES = ("cpu", "gpu", "threshold", "greedy", "heft", "coexec")


@dataclass(frozen=True)
class ScenarioGroup:
    """Scenarios of one workload on one platform/mode, and the benchmark's budgets."""

    workload: str
    platform: str
    mode: str | None
    scenarios: tuple[str, ...]
    seeds: int = 5
    learn_seeds: int = 3
    learn_budget_s: float = 60.0
    oracle_time_limit_s: float = 60.0
    requests: int | None = None  # overrides the scenarios' request counts (quick runs)
    budget_clock: str = "wall"  # "cpu": each seed's learn_budget_s is CPU seconds of its process (busy hosts)

    def __post_init__(self) -> None:
        for name in ("seeds", "learn_seeds"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 100:
                raise SparOAError(f"scenario benchmark: {name} must be an integer in [1, 100], got {v!r}")
        for name in ("learn_budget_s", "oracle_time_limit_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 < v <= 3600):
                raise SparOAError(f"scenario benchmark: {name} must be in (0, 3600] seconds, got {v!r}")
        if self.budget_clock not in CLOCKS:
            raise SparOAError(f"scenario benchmark: budget_clock must be one of {sorted(CLOCKS)}, "
                              f"got {self.budget_clock!r}")
        if self.requests is not None and not (isinstance(self.requests, int) and 1 <= self.requests <= 100_000):
            raise SparOAError(f"scenario benchmark: requests must be an integer in [1, 100000], got {self.requests!r}")


def _ci95(values: Sequence[float]) -> float:
    """Half-width of the 95 % confidence interval of the mean (Student t; 0 for one value)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return 0.0
    return float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))


def _measure(results: Sequence[Any]) -> dict[str, Any]:
    """Means over seeds of one policy's runs (and the CI of the mean latency)."""
    lat = [r.latency_mean_s for r in results]
    out: dict[str, Any] = {
        "latency_s": float(np.mean(lat)), "latency_ci95_s": _ci95(lat),
        "latency_p50_s": float(np.mean([r.latency_p50_s for r in results])),
        "latency_p95_s": float(np.mean([r.latency_p95_s for r in results])),
        "throughput_rps": float(np.mean([r.throughput_rps for r in results])),
        "energy_per_inference_j": float(np.mean([r.energy_per_inference_j for r in results])),
        "runs": len(results)}
    streams = []
    for k, s in enumerate(results[0].streams):
        met = [r.streams[k].slo_met for r in results]
        streams.append({"name": s.name, "workload": s.workload, "deadline_s": s.deadline_s,
                        "slo_met": None if met[0] is None else float(np.mean(met)),
                        "latency_p95_s": float(np.mean([r.streams[k].latency_p95_s for r in results]))})
    out["streams"] = streams
    return out


class _Runner:
    """Runs policies in one scenario of a group (shared prediction caches)."""

    def __init__(self, g: ScenarioGroup, name: str, graph: Any, platform: Any, mode: str, cache: Any) -> None:
        from sparoa_sim.scenarios import StreamSpec, load_scenario
        from sparoa_sim.scenarios.engine import engine_inputs
        from sparoa_sim.sim.config import SimConfig

        self.scenario = sc = load_scenario(name)
        own_stream = sc.primary != StreamSpec()
        self.inputs = inp = engine_inputs(sc, g.requests if own_stream else None)
        self.stochastic = sc.stochastic
        self.seeds = list(range(g.seeds)) if self.stochastic else [0]
        if self.stochastic:
            base = SimConfig(mode=mode, noise=False, contention=False, dispatch_interference=False,
                             record_trace=False)
        else:
            base = SimConfig(mode=mode, reference=True, record_trace=False)
        self.config = inp.config(base)
        self.graph, self.platform, self.cache = graph, platform, cache
        self.kwargs = inp.simulator_kwargs()

    def run(self, policy: Any, graph: Any = None, precision: str = "fp32") -> dict[str, Any]:
        from sparoa_sim.sim.simulator import Simulator

        sim = Simulator(graph or self.graph, self.platform, policy, config=self.config.replace(precision=precision),
                        cache=self.cache, **self.kwargs)
        return _measure([sim.run(seed=s) for s in self.seeds])


class PerLoadPlacement:
    """An engine policy that places each operator as a given placement for the live background load says
    (the nearest load it has one for): the oracle's fixed-load schedules switched as a changing load moves."""

    name = "oracle-per-level"
    order = None

    def __init__(self, placements: dict[tuple[float, float], list[float]]) -> None:
        self.placements = placements
        self._keys = list(placements)

    def decide(self, view: Any) -> float:
        load = view.load
        p = self.placements.get(load)
        if p is None:
            key = min(self._keys, key=lambda k: abs(k[0] - load[0]) + abs(k[1] - load[1]))
            p = self.placements[key]
        return p[view.op]

    def __repr__(self) -> str:
        return f"PerLoadPlacement({len(self.placements)} loads)"


def run_group(g: ScenarioGroup, progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Every scenario of group ``g``: one row per scenario with each policy's figures and the cell summary."""
    from sparoa_sim.agents.exact.oracle import solve_oracle, whole_op_heuristics
    from sparoa_sim.agents.heuristics.baselines import TENSORRT_PRECISION, tensorrt_graph
    from sparoa_sim.agents.learn.stream_search import needs_stream
    from sparoa_sim.agents.learn.scheduler import train_scheduler
    from sparoa_sim.agents.learn.train_spec import TrainConfig
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.sim.policies import StaticSchedule
    from sparoa_sim.sim.predtables import PredictionCache
    from sparoa_sim.workloads import load_workload

    say = progress or (lambda _s: None)
    graph, platform = load_workload(g.workload), load_platform(g.platform)
    mode = platform.mode(g.mode).name
    cache = PredictionCache()
    trt_graph = tensorrt_graph(graph)
    oracles: dict[tuple[float, float], Any] = {}
    learned: dict[tuple[tuple[float, float], ...], list[tuple[Any, float, float]]] = {}
    rows = []
    for name in g.scenarios:
        t0 = time.perf_counter()
        r = _Runner(g, name, graph, platform, mode, cache)
        sc = r.scenario
        pol: dict[str, dict[str, Any]] = {b: r.run(b) for b in BASELINES}
        load = sc.fixed_load
        if load is not None:
            heur = whole_op_heuristics(graph, platform, mode=mode, cache=cache, load=load)
            pol["heft@load"] = r.run(heur["heft"][1])
        pol["tensorrt"] = r.run("gpu", graph=trt_graph, precision=TENSORRT_PRECISION)
        oracle_info = None
        if load is None:  # a changing load: the oracle's schedule at each level it visits, switched as it moves
            levels = sc.load_levels
            for lv in levels:
                if lv not in oracles:
                    say(f"{g.workload}/{mode}: oracle at load {lv}")
                    oracles[lv] = solve_oracle(graph, platform, mode=mode, cache=cache, load=lv,
                                               time_limit_s=g.oracle_time_limit_s)
            pol["oracle-per-level"] = r.run(PerLoadPlacement({lv: list(oracles[lv].schedule.placement)
                                                              for lv in levels}))
        if load is not None:
            if load not in oracles:
                say(f"{g.workload}/{mode}: oracle at load {load}")
                oracles[load] = solve_oracle(graph, platform, mode=mode, cache=cache, load=load,
                                             time_limit_s=g.oracle_time_limit_s)
            o = oracles[load]
            pol["oracle"] = r.run(o.schedule)
            oracle_info = {"latency_s": o.latency_s, "bound_s": o.bound_s, "optimal": o.optimal,
                           "solve_time_s": o.solve_time_s}
        loads = sc.load_levels
        # one training serves every scenario that is one inference at a time at the same loads; a stream
        # (batches, jobs in flight, co-runs, a changing load) trains for its own scenario
        lkey: Any = name if needs_stream(sc) else loads
        if lkey not in learned:
            runs = []
            for seed in range(g.learn_seeds):
                say(f"{g.workload}/{mode}: learning for {name if lkey == name else list(loads)}, seed {seed}")
                cfg = TrainConfig(workloads=(g.workload,), platform=g.platform, mode=mode, algo="ils", scenario=name,
                                  time_budget_s=g.learn_budget_s, seed=seed)
                with budget_clock(g.budget_clock):
                    tr = train_scheduler(cfg, None, tensorboard=False)
                key = cfg.label(cfg.cases[0])
                final = tr.final[key]
                stream = next((h.get("stream") for h in tr.evaluations if h.get("case") == key), None)
                rule = "planner" if load is None else (stream or {}).get("rule", "schedule")
                # what training ships (schedule.json): the teacher's schedule, or the policy's whole-operator
                # schedule — which is not what the engine runs where the rule is the planner
                shipped = (StaticSchedule.from_dict(final["schedule"])
                           if final["source"] != "policy" or rule == "planner" else None)
                runs.append((tr.engine_policy[key], tr.own[key]["latency_s"], tr.teacher[key], tr.train_s,
                             final["source"], shipped, rule))
            learned[lkey] = runs
        seeds_rows = []
        for seed, (policy, own_s, teacher, train_s, source, shipped, rule) in enumerate(learned[lkey]):
            # the policy's own decision rule in this scenario: its argmax schedule (placement and order) at a
            # fixed load unless training chose the planner there, re-planned from the live load and backlogs
            # under a changing one
            m = r.run(policy)
            # what training ships: the policy's schedule, or its teacher's where that scored better (labelled)
            shipped_s = m["latency_s"] if shipped is None or load is None else r.run(shipped)["latency_s"]
            m.update(seed=seed, own_eval_latency_s=own_s, teacher=teacher[0], teacher_latency_s=teacher[1],
                     train_s=train_s, shipped_source=source if load is not None else "policy",
                     shipped_latency_s=shipped_s, rule=rule)
            seeds_rows.append(m)
        row = {"scenario": name, "workload": g.workload, "platform": g.platform, "mode": mode,
               "stochastic": r.stochastic, "seeds": len(r.seeds), "load": list(load) if load else None,
               "train_loads": [list(x) for x in loads], "learn_budget_s": g.learn_budget_s,
               **({} if g.budget_clock == "wall" else {"budget_clock": g.budget_clock}),
               "policies": pol, "learned": seeds_rows, "oracle": oracle_info,
               "wall_s": time.perf_counter() - t0}
        row["summary"] = summarise_cell(row)
        rows.append(row)
        say(f"{g.workload}/{mode}/{name}: done in {row['wall_s']:.1f} s")
    return rows


def summarise_cell(row: dict[str, Any]) -> dict[str, Any]:
    """Best single device, best baseline, reference, achievable gain and the learned policy's share of it."""
    pol = row["policies"]
    lat = {k: v["latency_s"] for k, v in pol.items()}
    single_name = min(("cpu", "gpu"), key=lambda k: lat[k])
    single = lat[single_name]
    base = {k: v for k, v in lat.items() if k not in ("tensorrt", "oracle", "oracle-per-level")}
    best_base_name = min(base, key=lambda k: (base[k], k))
    learned = [s["latency_s"] for s in row["learned"]]
    worst = max(learned)
    shipped_worst = max(s["shipped_latency_s"] for s in row["learned"])
    known = dict(base, learned=min(learned))
    for k in ("oracle", "oracle-per-level"):
        if k in lat:
            known[k] = lat[k]
    ref_name = min(known, key=lambda k: (known[k], k))
    ref = known[ref_name]
    gain = single / ref - 1.0
    realised = (single - worst) / (single - ref) if gain >= MIN_GAIN else None
    return {"best_single": single_name, "best_single_s": single, "best_baseline": best_base_name,
            "best_baseline_s": base[best_base_name], "reference": ref_name, "reference_s": ref,
            "achievable_gain": gain, "learned_worst_s": worst, "learned_best_s": min(learned),
            "learned_vs_best_baseline": worst / base[best_base_name] - 1.0, "gain_realised": realised,
            "shipped_worst_s": shipped_worst, "shipped_vs_best_baseline": shipped_worst / base[best_base_name] - 1.0,
            "shipped_sources": sorted({s["shipped_source"] for s in row["learned"]}),
            "rules": sorted({s["rule"] for s in row["learned"] if "rule" in s}),
            "tensorrt_s": lat["tensorrt"], "oracle_proven": None if row["oracle"] is None else row["oracle"]["optimal"]}


def groups(workloads: Sequence[str], platform_modes: Sequence[tuple[str, str | None]], scenarios: Sequence[str],
           **options: Any) -> list[ScenarioGroup]:
    """The grid as groups (one per workload × platform/mode), checked before anything runs."""
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.scenarios import load_scenario
    from sparoa_sim.workloads import load_workload

    for s in scenarios:
        if load_scenario(s).power:
            raise SparOAError(f"scenario benchmark: scenario {s!r} switches power mode during the run; the benchmark "
                              "compares policies within one mode (its oracle and training are per mode)")
    for w in workloads:
        load_workload(w)
    for p, m in platform_modes:
        load_platform(p).mode(m)
    return [ScenarioGroup(w, p, m, tuple(scenarios), **options) for p, m in platform_modes for w in workloads]


def to_dict(g: ScenarioGroup) -> dict[str, Any]:
    """JSON-able form of a group (its identity for resume; the default wall-clock budget is left out, so a
    resume file written before the field existed still matches)."""
    d = asdict(g)
    if d["budget_clock"] == "wall":
        del d["budget_clock"]
    return d


def _key(g: dict[str, Any]) -> str:
    return json.dumps(g, sort_keys=True)


def _run_one(g: ScenarioGroup) -> dict[str, Any]:
    return {"group": to_dict(g), "rows": run_group(g)}


def done_groups(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Groups already in ``groups.jsonl`` (a torn or foreign line is left out, so its group runs again)."""
    out: dict[str, list[dict[str, Any]]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                doc = json.loads(line)
                g = ScenarioGroup(**{**doc["group"], "scenarios": tuple(doc["group"]["scenarios"])})
                if not isinstance(doc["rows"], list) or len(doc["rows"]) != len(g.scenarios):
                    raise ValueError("incomplete group")
                out[_key(to_dict(g))] = doc["rows"]
            except (ValueError, KeyError, TypeError, SparOAError):
                continue
    return out


def run_groups(gs: Sequence[ScenarioGroup], out_dir: str | os.PathLike[str] | None = None, *, workers: int = 1,
               progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Run every group (skipping those already in ``out_dir/groups.jsonl``); all rows in grid order."""
    from sparoa_sim.agents.experiments.evaluate import append_row, map_jobs

    path = None if out_dir is None else Path(out_dir) / "groups.jsonl"
    done: dict[str, list[dict[str, Any]]] = {}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        done = done_groups(path)
    todo = [g for g in gs if _key(to_dict(g)) not in done]
    if progress is not None and len(todo) < len(gs):
        progress(len(gs) - len(todo))

    def finished(doc: dict[str, Any]) -> None:
        done[_key(doc["group"])] = doc["rows"]
        if path is not None:
            append_row(path, doc)
        if progress is not None:
            progress(1)

    map_jobs(todo, _run_one, finished, workers=workers, describe=lambda g: f"{g.workload} / {g.platform} ({g.mode})",
             noun="group")
    return [row for g in gs for row in done[_key(to_dict(g))]]


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x * 1e3:.3g}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The benchmark table: one line per cell; "gain realised" only where the achievable gain is ≥ 5 %.

    The learned columns are the worst seed's (its latency p95, throughput, energy and deadline share too)."""
    cols = ("scenario", "workload", "platform (mode)", "best single, ms", "best baseline, ms",
            "learned (worst seed), ms", "reference, ms", "achievable gain", "gain realised",
            "learned vs best baseline", "learned p95, ms", "req/s", "mJ/inference", "deadline met",
            "TensorRT-like, ms")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        s = r["summary"]
        worst = max(r["learned"], key=lambda m: m["latency_s"])
        met = "; ".join(f"{st['name']} {st['slo_met']:.0%}" for st in worst["streams"] if st["slo_met"] is not None)
        ci = f" ± {_ms(worst['latency_ci95_s'])}" if r["stochastic"] else ""
        unproven = s["reference"] == "oracle" and s["oracle_proven"] is False
        cells = (r["scenario"], r["workload"], f"{r['platform']} ({r['mode']})",
                 f"{_ms(s['best_single_s'])} ({s['best_single']})", f"{_ms(s['best_baseline_s'])} ({s['best_baseline']})",
                 f"{_ms(s['learned_worst_s'])}{ci}", f"{_ms(s['reference_s'])} ({s['reference']}"
                 f"{', not proven' if unproven else ''})", f"{s['achievable_gain']:+.1%}", _pct(s["gain_realised"]),
                 f"{s['learned_vs_best_baseline']:+.1%}", _ms(worst["latency_p95_s"]), f"{worst['throughput_rps']:.4g}",
                 f"{worst['energy_per_inference_j'] * 1e3:.3g}", met or "–", _ms(s["tensorrt_s"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def readme_table(rows: Sequence[dict[str, Any]]) -> str:
    """The README's compact table ("When does CPU-GPU hybrid pay?"), generated from the committed result rows:
    per cell the best single device, the best baseline, the learned policy's own worst seed, the reference, the
    achievable gain and the share of it realised (only where the gain is >= 5 %)."""
    cols = ("scenario", "workload", "board", "best single", "best baseline", "learned (own, worst seed)",
            "reference", "achievable gain", "realised")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        s = r["summary"]
        board = {"jetson-agx-orin-64gb": "AGX Orin", "jetson-orin-nano-8gb": "Orin Nano"}.get(r["platform"],
                                                                                               r["platform"])
        lines.append("| " + " | ".join((
            r["scenario"], r["workload"], f"{board} {r['mode']}", f"{_ms(s['best_single_s'])} ms {s['best_single']}",
            f"{_ms(s['best_baseline_s'])} ms {s['best_baseline']}", f"{_ms(s['learned_worst_s'])} ms",
            f"{_ms(s['reference_s'])} ms {s['reference']}", f"{s['achievable_gain']:+.1%}",
            _pct(s["gain_realised"]))) + " |")
    return "\n".join(lines) + "\n"
