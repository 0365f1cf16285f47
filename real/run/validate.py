"""Sim-to-real validation: the same placements through the twin and through the executor (docs/architecture.md §7).

For each candidate placement (a registered policy run in the twin, or a schedule JSON):

- **twin**: the engine simulates one request of the placement in the *deterministic* setting —
  latency noise and background load off (the measurement is a median on a machine the twin
  knows no tenants of; log-normal noise has median 1), DRAM contention and the dispatch
  thread's interference on (deterministic physics of a hybrid run). For a CPU-only placement
  this equals the reference setting. ``setting="reference"`` turns contention and interference
  off too. The per-operator prediction is each operator's slice in the twin's trace, per device;
- **hardware**: the :class:`~sparoa_sim.real.run.executor.HybridExecutor` runs the placement (same
  per-device order as the twin's run, same sparse-kernel choice) ``reps`` times, interleaved
  across candidates, in two halves taken at different moments, so each median carries its own
  repeatability (two independent medians ``a`` and ``b``).

Reported: per-operator errors (within ±10 %, median error, MAPE — beside the measurement's
repeatability), end-to-end error per placement, Kendall τ between the twin's and the measured
ranking of the placements, and the latency lost on hardware by trusting the twin's choice.

On a host without CUDA the executor's GPU role runs on the CPU while the twin's GPU is a
Jetson's: only placements with no GPU share are meaningful there. They are still validated end
to end (the CPU-only placement against the calibrated ``host`` profile: docs/architecture.md §8's ≤ 5 %
target); the others are listed with their prediction only (or measured with ``emulate_gpu``,
flagged not meaningful), and the ranking metrics are null with the reason.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.errors import SparOAError
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.hwmodels import Platform
from sparoa_sim.hwmodels.calibration_report import report_from
from sparoa_sim.hwmodels.host import load_host_anchors, load_host_conditions
from sparoa_sim.hwmodels.fileio import atomic_write_text
from sparoa_sim.sim.policies import StaticSchedule, make_policy, policy_names
from sparoa_sim.real.measure.device_state import device_state
from sparoa_sim.real.measure.timing import make_clock, quiet_runtime, settle
from sparoa_sim.real.models import zoo
from sparoa_sim.real.models.extract import extract, magnitude_prune
from sparoa_sim.real.models.measured import check_user_files, measured_graph
from sparoa_sim.real.models.user_inputs import DEFAULT_MAX_INPUTS, apply_state_dict, load_inputs, load_state_dict
from sparoa_sim.real.run.executor import HybridExecutor, twin_cpu_kernels
from sparoa_sim.real.run.policy_placer import LiveLoad
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.workloads import load_workload

__all__ = [
    "DEFAULT_POLICIES",
    "SETTINGS",
    "Candidate",
    "OpRow",
    "PlacementResult",
    "ValidationError",
    "ValidationReport",
    "candidate_schedules",
    "validate",
    "write_outputs",
]

DEFAULT_POLICIES: tuple[str, ...] = ("cpu", "gpu", "threshold", "heft", "greedy")
SETTINGS: tuple[str, ...] = ("deterministic", "reference")
NO_GPU_REASON = ("no CUDA GPU on this host: the executor's GPU role ran on the CPU while the twin's GPU is a "
                 "Jetson's, so only placements with no GPU share are meaningful here and there is no ranking "
                 "of placements to compare")


class ValidationError(SparOAError, ValueError):
    """Bad validation input: unknown policy, a schedule for another workload, bad repetitions."""


# ---------------------------------------------------------------------------------------------
# values


@dataclass(frozen=True)
class Candidate:
    """A placement to validate: its name (policy or file), the schedule, and its twin run."""

    name: str
    schedule: StaticSchedule
    predicted_s: float
    pred_ops: dict[tuple[int, str], float]  # (operator, device) → predicted seconds of its slice
    same_as: str | None = None  # an earlier candidate with the identical placement and order

    @property
    def gpu_ops(self) -> int:
        """Operators with a GPU share."""
        return sum(s > 0 for s in self.schedule.placement)


@dataclass(frozen=True)
class OpRow:
    """One operator (or split part) on one device: predicted vs measured median (two halves)."""

    placement: str
    op: int
    name: str
    kind: str
    device: str
    share: float
    predicted_s: float
    time_s: float
    time_s_a: float
    time_s_b: float

    @property
    def error(self) -> float:
        """Signed relative error of the prediction."""
        return (self.predicted_s - self.time_s) / self.time_s

    def to_dict(self) -> dict[str, Any]:
        return {"placement": self.placement, "op": self.op, "name": self.name, "kind": self.kind,
                "device": self.device, "share": self.share, "predicted_s": self.predicted_s,
                "measured_s": self.time_s, "measured_s_a": self.time_s_a, "measured_s_b": self.time_s_b,
                "error": self.error}


@dataclass(frozen=True)
class PlacementResult:
    """End to end, one placement: prediction, measured medians (None if not run), meaning."""

    name: str
    gpu_ops: int
    n_ops: int
    predicted_s: float
    meaningful: bool
    measured_s: float | None = None
    measured_s_a: float | None = None
    measured_s_b: float | None = None
    reps: int = 0
    same_as: str | None = None
    note: str = ""

    @property
    def error(self) -> float | None:
        """Signed relative error of the predicted end-to-end latency (None if not measured)."""
        if self.measured_s is None:
            return None
        return (self.predicted_s - self.measured_s) / self.measured_s

    @property
    def repeatability(self) -> float | None:
        """``|a − b| / median`` of the two independent medians."""
        if self.measured_s is None:
            return None
        return abs(self.measured_s_a - self.measured_s_b) / self.measured_s

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "gpu_ops": self.gpu_ops, "n_ops": self.n_ops, "predicted_s": self.predicted_s,
                "measured_s": self.measured_s, "measured_s_a": self.measured_s_a, "measured_s_b": self.measured_s_b,
                "repeatability": self.repeatability, "reps": self.reps, "error": self.error,
                "meaningful": self.meaningful, "same_as": self.same_as, "note": self.note}


@dataclass(frozen=True)
class ValidationReport:
    """Everything one validation run found; ``to_dict`` is the JSON (docs/architecture.md §9 keys)."""

    workload: str
    platform: str
    mode: str
    setting: str
    batch: int
    reps: int
    threads: int
    devices: dict[str, str]
    cuda: bool
    placements: tuple[PlacementResult, ...]
    ops: tuple[OpRow, ...]
    eager: dict[str, Any] | None
    meta: dict[str, Any] = field(default_factory=dict)

    # -- aggregates -------------------------------------------------------------------------
    def measured(self) -> list[PlacementResult]:
        """Meaningful placements that were measured, duplicates left out."""
        return [p for p in self.placements if p.meaningful and p.measured_s is not None and p.same_as is None]

    def per_op(self) -> dict[str, Any] | None:
        """Per-operator fit over the meaningful rows (keys of ``fit_report``), or None if none."""
        rows = [r for r in self.ops if self._meaningful(r.placement)]
        if not rows:
            return None
        rep = report_from(rows, np.array([r.predicted_s for r in rows]), np.array([r.time_s for r in rows]))
        rel = np.array([r.error for r in rows])
        rep["mean_signed_error"] = float(rel.mean())
        return rep

    def _meaningful(self, name: str) -> bool:
        return any(p.name == name and p.meaningful for p in self.placements)

    def ranking(self) -> dict[str, Any]:
        """Kendall τ of twin vs measured ranking and the latency lost by trusting the twin."""
        out: dict[str, Any] = {"kendall_tau": None, "kendall_p": None, "ranking_reason": None, "twin_choice": None,
                               "measured_best": None, "latency_lost_s": None, "latency_lost_frac": None}
        if not self.cuda:
            out["ranking_reason"] = NO_GPU_REASON
            return out
        ms = self.measured()
        if len(ms) < 2:
            out["ranking_reason"] = f"{len(ms)} distinct measured placement(s): a ranking needs two or more"
            return out
        from scipy.stats import kendalltau

        pred = [p.predicted_s for p in ms]
        meas = [p.measured_s for p in ms]
        res = kendalltau(pred, meas)
        if math.isfinite(res.statistic):
            out["kendall_tau"], out["kendall_p"] = float(res.statistic), float(res.pvalue)
        else:
            out["ranking_reason"] = "every placement has the same predicted or measured latency: τ is undefined"
        twin = min(ms, key=lambda p: p.predicted_s)
        best = min(ms, key=lambda p: p.measured_s)
        out["twin_choice"], out["measured_best"] = twin.name, best.name
        out["latency_lost_s"] = twin.measured_s - best.measured_s
        out["latency_lost_frac"] = out["latency_lost_s"] / best.measured_s
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: §9 keys (``e2e_error_mean``, ``e2e_error_max``, ``within_10pct``,
        ``kendall_tau``) plus the tables."""
        errs = [abs(p.error) for p in self.measured()]
        per_op = self.per_op()
        rank = self.ranking()
        cpu = next((p for p in self.placements if p.gpu_ops == 0 and p.measured_s is not None), None)
        return {
            "workload": self.workload, "platform": self.platform, "mode": self.mode, "setting": self.setting,
            "batch": self.batch, "reps": self.reps, "threads": self.threads, "devices": dict(self.devices),
            "cuda": self.cuda, "gpu_note": None if self.cuda else NO_GPU_REASON,
            "e2e_error_mean": float(np.mean(errs)) if errs else None,
            "e2e_error_max": float(np.max(errs)) if errs else None,
            "within_10pct": None if per_op is None else per_op["within_10pct"],
            **rank,
            "cpu_only": None if cpu is None else {
                "placement": cpu.name, "predicted_s": cpu.predicted_s, "executor_s": cpu.measured_s,
                "executor_error": cpu.error, "executor_repeatability": cpu.repeatability,
                **(self.eager or {})},
            "per_op": per_op,
            "placements": [p.to_dict() for p in self.placements],
            "ops": [r.to_dict() for r in self.ops],
            "meta": dict(self.meta),
        }


# ---------------------------------------------------------------------------------------------
# the twin's side


def _config(setting: str, mode: str | None) -> SimConfig:
    if setting not in SETTINGS:
        raise ValidationError(f"validate: 'setting' must be one of {', '.join(SETTINGS)}, got {setting!r}")
    if setting == "reference":
        return SimConfig.reference_setting(mode=mode, record_trace=True)
    return SimConfig(mode=mode, noise=False, background=None, record_trace=True)


def _twin(graph: OpGraph, platform: Platform, policy: Any, config: SimConfig, batch: int) -> Simulator:
    from sparoa_sim.sim.arrivals import Batching

    sim = Simulator(graph, platform, policy, batching=Batching.fixed(batch), config=config, seed=0)
    sim.run()
    return sim


def _slices(sim: Simulator) -> tuple[dict[tuple[int, str], float], dict[str, list[tuple[float, int]]]]:
    """(operator, device) → seconds of its slice, and each device's (start, operator) list."""
    pred: dict[tuple[int, str], float] = {}
    starts: dict[str, list[tuple[float, int]]] = {"cpu": [], "gpu": []}
    for s in sim.trace().ops():
        dev = "cpu" if s.track == "CPU" else "gpu"
        pred[(s.op, dev)] = pred.get((s.op, dev), 0.0) + (s.end - s.start)
        starts[dev].append((s.start, s.op))
    return pred, starts


def _load_schedule(spec: str, graph: OpGraph) -> StaticSchedule:
    try:
        sched = StaticSchedule.load(spec)
        sched.check(graph)
    except SparOAError as exc:
        raise ValidationError(f"--policies {spec}: {exc}") from None
    return sched


def candidate_schedules(graph: OpGraph, platform: Platform, policies: Sequence[str], *, mode: str | None = None,
                        setting: str = "deterministic", batch: int = 1) -> list[Candidate]:
    """Each policy (registered name or schedule JSON) as a fixed placement with the twin's order.

    A policy runs once in the twin; its placement and the order each device ran its operators
    in become a :class:`StaticSchedule`, which the twin runs again for the prediction (the
    executor will run exactly that). Unknown names and schedules that do not fit ``graph``
    raise :class:`ValidationError`.
    """
    if not policies:
        raise ValidationError("--policies: give at least one policy")
    config = _config(setting, mode)
    if len(set(policies)) != len(policies):
        raise ValidationError(f"--policies: a policy is listed twice ({', '.join(policies)})")
    known = policy_names()
    out: list[Candidate] = []
    seen: dict[tuple, str] = {}
    for spec in policies:
        if spec.endswith(".json") or os.sep in spec or "/" in spec:
            sched = _load_schedule(spec, graph)
        elif spec in known and spec != "external":
            first = _twin(graph, platform, make_policy(spec), config, batch)
            _, starts = _slices(first)
            order = {d: [op for _, op in sorted(starts[d])] for d in ("cpu", "gpu")}
            sched = StaticSchedule(first.results().placement, order=order, workload=graph.name, source=spec)
        else:
            raise ValidationError(f"--policies: unknown policy {spec!r} (known: "
                                  f"{', '.join(k for k in known if k != 'external')}; or a schedule .json)")
        if sched.order is None:  # a schedule without order: the twin's run of it decides the order
            _, starts = _slices(_twin(graph, platform, sched, config, batch))
            order = {d: [op for _, op in sorted(starts[d])] for d in ("cpu", "gpu")}
            sched = StaticSchedule(sched.placement, order=order, workload=graph.name, source=spec)
        sim = _twin(graph, platform, sched, config, batch)
        pred, _ = _slices(sim)
        key = (sched.placement, tuple(sched.order["cpu"]), tuple(sched.order["gpu"]))
        out.append(Candidate(spec, sched, sim.results().latency_mean_s, pred, same_as=seen.get(key)))
        seen.setdefault(key, spec)
    return out


# ---------------------------------------------------------------------------------------------
# the hardware's side


def _median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


class _Timings:
    """Per-run wall times and per-(operator, device) seconds of one placement, per half."""

    def __init__(self) -> None:
        self.wall: tuple[list[float], list[float]] = ([], [])
        self.ops: tuple[dict[tuple[int, str], list[float]], dict[tuple[int, str], list[float]]] = ({}, {})
        self.share: dict[tuple[int, str], float] = {}

    def add(self, half: int, res: Any) -> None:
        self.wall[half].append(res.wall_s)
        per: dict[tuple[int, str], float] = {}
        for t in res.ops:
            per[(t.op, t.device)] = per.get((t.op, t.device), 0.0) + (t.end - t.start)
            self.share[(t.op, t.device)] = t.share
        for k, v in per.items():
            self.ops[half].setdefault(k, []).append(v)


def _measure(ex: Any, model: Any, xs: Sequence[torch.Tensor], cands: Sequence[Candidate], reps: int, warmup: int,
             progress: Any, settle_s: float = 3.0) -> tuple[dict[str, _Timings], tuple[list[float], list[float]]]:
    """Run every candidate (and eager ``model(x)``) round-robin: warm-up, then two halves; timed run
    ``k`` of each takes input ``xs[k mod len(xs)]`` (one input: every run the same)."""
    timings = {c.name: _Timings() for c in cands}
    eager: tuple[list[float], list[float]] = ([], [])
    x = xs[0]
    for _ in range(warmup):
        model(x)
        for c in cands:
            ex.run(x, placement=c.schedule)
    # settle: time only once three calls in a row agree within 10 % (pages faulted in, caches warm)
    clock = make_clock(torch.device("cpu"), "wall")
    settle(lambda: model(x), clock, settle_s)
    for c in cands:
        settle(lambda c=c: ex.run(x, placement=c.schedule), clock, settle_s)
    per_half = max(1, math.ceil(reps / 2))
    k = 0
    for half in (0, 1):
        for _ in range(per_half):
            x, k = xs[k % len(xs)], k + 1
            t0 = time.perf_counter()
            model(x)
            eager[half].append(time.perf_counter() - t0)
            for c in cands:
                timings[c.name].add(half, ex.run(x, placement=c.schedule))
                if progress is not None:
                    progress(1)
    return timings, eager


def _op_rows(graph: OpGraph, cand: Candidate, tm: _Timings) -> list[OpRow]:
    rows = []
    for key in sorted(cand.pred_ops):
        a, b = tm.ops[0].get(key), tm.ops[1].get(key)
        if not a or not b:  # e.g. a split too small to cut at this batch: the executor ran it whole
            continue
        op, dev = key
        planned = cand.schedule.placement[op]
        if 0.0 < planned < 1.0 and tm.share.get(key) != planned:
            continue  # the split ran whole on its home device: not the part the twin predicted
        meas = _median(a + b)
        if meas <= 0:
            continue
        rows.append(OpRow(cand.name, op, graph.ops[op].name, graph.ops[op].kind.value, dev, tm.share.get(key, 0.0),
                          cand.pred_ops[key], meas, _median(a), _median(b)))
    return rows


# ---------------------------------------------------------------------------------------------
# entry point


def _threads(platform: Platform, mode: str | None, threads: int | None) -> int:
    if threads is not None:
        if threads < 1:
            raise ValidationError(f"validate: threads must be >= 1, got {threads}")
        return threads
    return max(1, min(platform.mode(mode).cpu_cores, os.cpu_count() or 1))


def validate(workload: str, platform: Platform, *, policies: Sequence[str] = DEFAULT_POLICIES, reps: int = 10,
             warmup: int = 2, reduced: bool = False, batch: int = 1, mode: str | None = None,
             setting: str = "deterministic", seed: int = 0, threads: int | None = None,
             gpu_device: str | None = "cuda", emulate_gpu: bool = False, progress: Any = None,
             tf32: str = "conv", weights: str | os.PathLike[str] | None = None,
             inputs: str | os.PathLike[str] | None = None, max_inputs: int = DEFAULT_MAX_INPUTS) -> ValidationReport:
    """Validate the twin on ``workload`` (a zoo model, ``NAME_prunedNN`` too) against this machine.

    ``reps``: executor runs per placement (two halves); ``threads``: torch threads (default the
    mode's active CPU cores, capped by this machine's); ``gpu_device``: the CUDA device, or None
    to run the GPU role on the CPU; ``emulate_gpu``: on a host without CUDA, still run the
    placements with a GPU share (flagged not meaningful) instead of listing their prediction only.
    ``progress(n)`` is called after each executor run. With ``weights`` (a trained ``state_dict``)
    and ``inputs`` (``.npy`` or a folder of images), the model runs with those weights on those
    inputs (run k on input k mod N: their real activation sparsity reaches the sparse kernels) and
    the twin reads the graph with the sparsity measured on them (``real.models.measured``).
    """
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 2:
        raise ValidationError(f"validate: reps must be an integer >= 2 (two halves), got {reps!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValidationError(f"validate: batch must be a positive integer, got {batch!r}")
    mode_name = platform.mode(mode).name
    n_threads = _threads(platform, mode, threads)
    if (weights is None) != (inputs is None):
        raise ValidationError("validate: measured sparsity needs both weights and inputs (trained weights and inputs "
                              "go together)")
    base, prune = zoo.resolve_workload(workload)
    model = zoo.build(base, seed=seed, reduced=reduced)
    x = zoo.example_input(base, batch=batch, reduced=reduced, seed=seed)
    user = None
    if weights is not None:  # the sparsity measured with the user's weights on their inputs, then the same model
        check_user_files(weights, inputs)
        state = load_state_dict(weights)  # each file read once, for the twin's graph and the executor
        user = load_inputs(inputs, x.shape[1:], limit=max_inputs)
        graph = measured_graph(model, state, weights, user, name=workload, prune=prune, seed=seed)
        apply_state_dict(model, state, weights)
    if prune:
        magnitude_prune(model, prune)
    if user is None:
        graph = extract(model, x[:1], name=workload) if reduced else load_workload(workload)
        xs = [x]
    else:
        pool = user.tensor.to(x.dtype)
        xs = [pool[(k + torch.arange(batch)) % len(pool)] for k in range(0, len(pool), batch)]
    cands = candidate_schedules(graph, platform, policies, mode=mode_name, setting=setting, batch=batch)
    cuda = gpu_device is not None and torch.cuda.is_available()
    kern = twin_cpu_kernels(graph, platform, batch=batch, mode=mode_name)  # the twin's rule, run as chosen
    with HybridExecutor(model, xs[0][:1], graph=graph, gpu_device=gpu_device if cuda else None,
                        cpu_sparse=[i for i, k in kern.items() if k == "csr"],
                        cpu_act_sparse=[i for i, k in kern.items() if k == "act_sparse"],
                        name=workload, tf32=tf32) as ex:
        run = [c for c in cands if c.same_as is None and (cuda or c.gpu_ops == 0 or emulate_gpu)]
        live = LiveLoad()  # other processes' CPU share while measuring: a shared host's noise, on record
        with quiet_runtime(n_threads):
            timings, eager = _measure(ex, model, xs, run, reps, warmup, progress)
        others = live.sample()
        devices = {"cpu": "cpu", "gpu": str(ex.devices[1]) if ex.cuda else "cpu (GPU role emulated)"}
        n_sparse = len(ex.cpu_kernels)
        numerics = ex.precision_record()
    results: list[PlacementResult] = []
    rows: list[OpRow] = []
    by_name = {c.name: c for c in cands}
    for c in cands:
        src = by_name[c.same_as] if c.same_as else c
        meaningful = cuda or c.gpu_ops == 0
        tm = timings.get(src.name)
        if tm is None:
            note = f"same placement as {c.same_as}" if c.same_as else (
                "not run: needs a GPU and this host has none (prediction only)")
            results.append(PlacementResult(c.name, c.gpu_ops, len(graph), c.predicted_s, meaningful,
                                           same_as=c.same_as, note=note))
            continue
        a, b = tm.wall
        note = "" if meaningful else "GPU role emulated on the CPU: not comparable with the twin's GPU"
        if c.same_as:
            note = f"same placement as {c.same_as}"
        results.append(PlacementResult(c.name, c.gpu_ops, len(graph), c.predicted_s, meaningful, _median(a + b),
                                       _median(a), _median(b), len(a) + len(b), c.same_as, note))
        if c.same_as is None:
            rows.extend(_op_rows(graph, c, tm))
    cpu = next((p for p in results if p.gpu_ops == 0 and p.measured_s is not None), None)
    eager_doc = None
    if cpu is not None:
        ea, eb = eager
        em = _median(ea + eb)
        eager_doc = {"eager_s": em, "eager_s_a": _median(ea), "eager_s_b": _median(eb),
                     "eager_repeatability": abs(_median(ea) - _median(eb)) / em,
                     "eager_error": (cpu.predicted_s - em) / em if n_sparse == 0 else None,
                     "eager_note": "" if n_sparse == 0 else
                     f"the twin runs {n_sparse} operator(s) with the sparse CPU kernel, eager PyTorch does not"}
        anchor = (load_host_anchors().get(workload) if platform.name == "host" and batch == 1 and not reduced
                  else None)
        if anchor is not None:  # the host's speed now vs when it was calibrated, from one eager model
            drift = em / anchor
            eager_doc.update({"calibration_eager_s": anchor, "host_drift": drift,
                              "drift_corrected_error": (cpu.predicted_s * drift - cpu.measured_s) / cpu.measured_s})
    meta = {"seed": seed, "reduced": reduced, "policies": list(policies), "cpu_sparse_ops": n_sparse,
            "torch": torch.__version__, "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "sparsity_source": graph.sparsity_source, "other_processes_cpu_share": others[0],
            "inputs": None if user is None else {"description": user.description, "samples": int(len(user.tensor)),
                                                 "sha256": user.file.sha256},
            "other_processes_cpu_source": live.cpu_source, "precision": numerics,
            "device_state": device_state(probe_tegrastats=True)}
    if platform.name == "host":  # was the host profile calibrated on a busy machine? (None: no record)
        cond = load_host_conditions()
        meta["host_calibration_conditions"] = None if cond is None else cond.to_dict()
    return ValidationReport(workload=workload, platform=platform.name, mode=mode_name, setting=setting, batch=batch,
                            reps=reps, threads=n_threads, devices=devices, cuda=cuda, placements=tuple(results),
                            ops=tuple(rows), eager=eager_doc, meta=meta)


# ---------------------------------------------------------------------------------------------
# outputs


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:+.1%}"


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v * 1e3:.3f}"


def to_markdown(report: ValidationReport) -> str:
    """The human report: setting, end-to-end table, per-operator summary, ranking (or why not)."""
    d = report.to_dict()
    lines = [f"# Sim-to-real validation: {report.workload} on {report.platform} ({report.mode})", "",
             f"- twin setting: **{report.setting}** "
             + ("(noise and background load off; contention and dispatch interference on)"
                if report.setting == "deterministic" else "(noise, background load, contention, interference off)"),
             f"- executor: CPU + {report.devices.get('gpu')}, {report.threads} torch thread(s), batch {report.batch}, "
             f"{report.reps} runs per placement in two halves (repeatability = |a − b| / median)",
             f"- sparsity source: {d['meta'].get('sparsity_source')}",
             f"- other processes' share of this machine's CPUs while measuring: "
             f"{d['meta'].get('other_processes_cpu_share', 0.0):.0%} ({d['meta'].get('other_processes_cpu_source')}); "
             f"load average {d['meta'].get('loadavg')}", ""]
    if not report.cuda:
        lines += [f"> **No GPU on this host.** {NO_GPU_REASON[0].upper()}{NO_GPU_REASON[1:]}. Kendall τ is not "
                  "reported; the CPU-only placement is validated end to end.", ""]
    lines += ["## End to end", "", "| placement | GPU ops | twin ms | measured ms | repeat. | error | note |",
              "|---|---:|---:|---:|---:|---:|---|"]
    for p in report.placements:
        rep = "–" if p.repeatability is None else f"{p.repeatability:.1%}"
        lines.append(f"| {p.name} | {p.gpu_ops}/{p.n_ops} | {_ms(p.predicted_s)} | {_ms(p.measured_s)} | {rep} | "
                     f"{_pct(p.error)} | {p.note} |")
    c = d["cpu_only"]
    if c is not None:
        lines += ["", f"CPU-only: twin {_ms(c['predicted_s'])} ms, executor {_ms(c['executor_s'])} ms "
                      f"(error {_pct(c['executor_error'])}), eager {_ms(c.get('eager_s'))} ms "
                      f"(error {_pct(c.get('eager_error'))}). {c.get('eager_note') or ''}".rstrip()]
        if c.get("host_drift") is not None:
            lines += ["", f"Host drift since calibration: the same eager pass took {_ms(c['calibration_eager_s'])} ms "
                          f"then and {_ms(c['eager_s'])} ms now (×{c['host_drift']:.3f}); the twin scaled by it is "
                          f"off the executor by {_pct(c['drift_corrected_error'])}."]
    lines += ["", f"e2e |error|: mean {_pct(d['e2e_error_mean'])}, max {_pct(d['e2e_error_max'])} "
                  "(meaningful measured placements)", "", "## Per operator", ""]
    po = d["per_op"]
    if po is None:
        lines.append("No meaningful operator rows.")
    else:
        lines += [f"{po['n']} rows: {po['within_10pct']:.1%} within ±10 %, {po['within_20pct']:.1%} within ±20 %, "
                  f"median |error| {po['median_error']:.1%}, MAPE {po['mape']:.1%}, mean signed error "
                  f"{po['mean_signed_error']:+.1%}; repeatability: {po['repeatability_within_10pct']:.1%} of rows' "
                  "two medians agree within 10 %.", "", "| kind | n | ≤10 % | median | repeat. ≤10 % |",
                  "|---|---:|---:|---:|---:|"]
        for k, r in sorted(po["per_kind"].items()):
            lines.append(f"| {k} | {r['n']} | {r['within_10pct']:.0%} | {r['median_error']:.1%} | "
                         f"{r['repeatability_within_10pct']:.0%} |")
    lines += ["", "## Ranking", ""]
    if d["kendall_tau"] is None:
        lines.append(f"Kendall τ: not reported — {d['ranking_reason']}.")
    else:
        lines.append(f"Kendall τ = {d['kendall_tau']:.3f} (p = {d['kendall_p']:.3g}); the twin picks "
                     f"{d['twin_choice']}, the hardware's best is {d['measured_best']}: "
                     f"{_ms(d['latency_lost_s'])} ms lost ({_pct(d['latency_lost_frac'])}).")
    return "\n".join(lines) + "\n"


def scatter(report: ValidationReport, path: str | os.PathLike[str]) -> Path:
    """Predicted vs measured: per-operator rows (by device) and end-to-end placements, log-log."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from sparoa_sim.plots import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, title in zip(axes, ("per operator", "end to end")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("measured (s)")
        ax.set_ylabel("twin (s)")
        ax.set_title(title)
    pts: list[float] = []
    for dev, color in (("cpu", "tab:blue"), ("gpu", "tab:green")):
        rows = [r for r in report.ops if r.device == dev]
        if rows:
            mean = [r.time_s for r in rows]
            pred = [r.predicted_s for r in rows]
            ok = [report._meaningful(r.placement) for r in rows]
            axes[0].scatter(mean, pred, s=10, alpha=0.6, color=color, label=f"{dev} ({len(rows)})",
                            marker="o" if all(ok) else "x")
            pts += mean + pred
    ms = [p for p in report.placements if p.measured_s is not None and p.same_as is None]
    for p in ms:
        axes[1].scatter([p.measured_s], [p.predicted_s], s=40, color="tab:red" if p.meaningful else "0.6")
        axes[1].annotate(p.name, (p.measured_s, p.predicted_s), fontsize=8, xytext=(4, 2), textcoords="offset points")
    for ax, vals in ((axes[0], pts), (axes[1], [v for p in ms for v in (p.measured_s, p.predicted_s)])):
        if vals:
            lo, hi = min(vals) / 1.5, max(vals) * 1.5
            ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
            ax.fill_between([lo, hi], [lo * 0.9, hi * 0.9], [lo * 1.1, hi * 1.1], color="0.85", alpha=0.6,
                            label="±10 %")
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
        ax.legend(fontsize=8, loc="upper left")
    note = "" if report.cuda else " — no GPU: grey/× = GPU role emulated on the CPU (not comparable)"
    fig.suptitle(f"{report.workload} on {report.platform} ({report.setting} twin){note}", fontsize=10)
    return save_figure(fig, path)


def write_outputs(report: ValidationReport, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """``validation.json``, ``report.md`` and ``scatter.png`` in ``out_dir``, each atomically."""
    import json

    out = Path(out_dir)
    doc = report.to_dict()
    files = {"json": atomic_write_text(out / "validation.json", json.dumps(doc, indent=1, allow_nan=False) + "\n"),
             "markdown": atomic_write_text(out / "report.md", to_markdown(report)),
             "scatter": scatter(report, out / "scatter.png")}
    return files
