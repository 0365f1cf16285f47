"""Baseline placement policies (docs/architecture.md §6): greedy EFT, HEFT, CoDL-style co-execution, the best
constant thresholds, and the TensorRT-like GPU-only run.

All are ordinary engine policies (``decide(view)``; HEFT and threshold-best also compute a plan
at ``reset``), registered in :mod:`sparoa_sim.sim.policies` by ``"module:attr"`` strings, so
``sparoa simulate --policy heft`` finds them without the core importing this layer.

- :class:`Greedy` — earliest finish time: each ready operator goes to the device where it would
  finish first given both devices' backlog, the host's launch queue and the copies it needs.
- :class:`Heft` — upward-rank list scheduling (Topcuoglu et al.): operators in decreasing
  upward rank (mean cost plus the longest mean-cost path to the exit), each on the device with
  the earliest finish; the result is a :class:`StaticSchedule` with the order on each device.
- :class:`CoExec` — CoDL-style co-execution: a heavy operator with a split axis is split
  across both devices in proportion to their predicted speeds (GPU share ``t_cpu/(t_cpu+t_gpu)``);
  the rest go where they finish first (as :class:`Greedy`).
- :class:`ThresholdBest` — the SparOA threshold rule with the single constant pair of
  thresholds that is best over a training set (grid over the cut points, :func:`fit_threshold_best`).
- :func:`tensorrt_results` — TensorRT-like GPU-only: the fused graph (conv/linear + norm +
  activation) at ``fp16_tc`` precision; fusion changes the graph, so it is a run, not a policy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sparoa_sim.errors import SimulationError
from sparoa_sim.ir.graph import OpGraph, fuse
from sparoa_sim.hwmodels import Platform
from sparoa_sim.sim.hwstate import as_load_pair
from sparoa_sim.sim.policies import PolicyContext, StaticSchedule, ThresholdPolicy
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.sim.results import Results
from sparoa_sim.sim.view import OpView

from sparoa_sim.agents.exact.refsched import RefProblem

__all__ = [
    "BASELINE_NAMES",
    "CoExec",
    "Greedy",
    "Heft",
    "TENSORRT_LABEL",
    "TENSORRT_PRECISION",
    "ThresholdBest",
    "ThresholdFit",
    "fit_threshold_best",
    "heft_schedule",
    "tensorrt_graph",
    "tensorrt_precision",
    "tensorrt_results",
]

#: Names under which these baselines are registered with the engine's policy registry.
BASELINE_NAMES: tuple[str, ...] = ("greedy", "heft", "coexec", "threshold-best")
#: Precision of the TensorRT-like baseline (FP16 on tensor cores).
TENSORRT_PRECISION = "fp16_tc"
#: How results of the TensorRT-like baseline are labelled: it changes the graph and the precision,
#: so it is never reported as the plain ``gpu`` policy at the precision the user asked for.
TENSORRT_LABEL = f"tensorrt (fused, {TENSORRT_PRECISION})"


def _finish_times(view: OpView) -> tuple[float, float]:
    """(cpu, gpu) predicted finish of ``view``'s operator, measured from now."""
    tc, tg = view.pred_latency
    bc, bg = view.backlog
    xc, xg = view.transfer_in
    td = view.t_dispatch
    f_cpu = max(bc + td[0], xc) + tc
    f_gpu = max(view.host_backlog + td[1], bg, xg) + tg
    return f_cpu, f_gpu


class Greedy:
    """Earliest finish time: the device where the operator would finish first (ties: GPU)."""

    name = "greedy"

    def decide(self, view: OpView) -> int:
        f_cpu, f_gpu = _finish_times(view)
        return 1 if f_gpu <= f_cpu else 0

    def __repr__(self) -> str:
        return "Greedy()"


def heft_schedule(p: RefProblem, workload: str | None = None) -> StaticSchedule:
    """HEFT on the reference problem: upward ranks with mean costs, then earliest finish per
    operator in rank order (append-only per device; the host launches GPU operators serially, each
    for its ``td_gpu[i]``)."""
    n = p.n
    lc, lg, x, td = p.lat_cpu, p.lat_gpu, p.xfer, p.td_gpu
    rank = [0.0] * n
    for i in range(n - 1, -1, -1):
        tail = max((x[i] / 2.0 + rank[c] for c in p.cons[i]), default=x[i] / 2.0 if p.host_io else 0.0)
        rank[i] = (lc[i] + lg[i]) / 2.0 + tail
    seq = sorted(range(n), key=lambda i: (-rank[i], i))
    dev = [-1] * n
    en = [0.0] * n
    iss = [0.0] * n
    free = [0.0, 0.0]
    host = 0.0
    order: tuple[list[int], list[int]] = ([], [])
    for i in seq:
        deps = p.deps[i]
        if any(dev[q] < 0 for q in deps):  # pragma: no cover - ranks decrease along every edge
            raise SimulationError("HEFT: rank order is not topological")
        data_c = max((en[q] + (x[q] if dev[q] else 0.0) for q in deps), default=0.0)
        s_c = max(free[0], data_c)
        f_c = s_c + lc[i]
        ready = max((iss[q] for q in deps), default=0.0)
        launch = max(ready, host)
        data_g = max((en[q] + (0.0 if dev[q] else x[q]) for q in deps), default=x[n] if p.host_io else 0.0)
        launched = launch + td[i]  # this operator's launch time: t_dispatch · max(1, kernels)
        s_g = max(launched, free[1], data_g)
        f_g = s_g + lg[i]
        sink_copy = x[i] if (p.host_io and not p.cons[i]) else 0.0
        if f_g + sink_copy <= f_c:
            dev[i], en[i], iss[i], free[1], host = 1, f_g, launched, f_g, launched
        else:
            dev[i], en[i], iss[i], free[0] = 0, f_c, f_c, f_c
        order[dev[i]].append(i)
    return StaticSchedule([float(d) for d in dev], order={"cpu": order[0], "gpu": order[1]}, workload=workload)


class Heft:
    """HEFT (upward rank list scheduling) as a static schedule, planned at ``reset``; ``load``: the
    fixed (cpu, gpu) background share it plans for (the run's ``LoadTrace.fixed``)."""

    name = "heft"

    def __init__(self, load: tuple[float, float] = (0.0, 0.0)) -> None:
        self.load = as_load_pair(load)
        self.order: dict[str, tuple[int, ...]] | None = None
        self.schedule: StaticSchedule | None = None
        self._key: tuple | None = None

    def reset(self, ctx: PolicyContext) -> None:
        key = (id(ctx.graph), id(ctx.platform), ctx.mode, ctx.precision, ctx.max_batch)
        if key != self._key:
            p = RefProblem.build(ctx.graph, ctx.platform, mode=ctx.mode, batch=ctx.max_batch, precision=ctx.precision,
                                 load=self.load)
            self.schedule = heft_schedule(p, workload=ctx.graph.name)
            self.order = self.schedule.order
            self._key = key
        self.schedule.reset(ctx)

    def decide(self, view: OpView) -> float:
        if self.schedule is None:
            raise SimulationError("heft: decide() before reset(); run it through the simulator")
        return self.schedule.decide(view)

    def __repr__(self) -> str:
        return "Heft()" if self.load == (0.0, 0.0) else f"Heft(load={self.load})"


class CoExec:
    """CoDL-style co-execution: heavy splittable operators split in proportion to device speeds.

    An operator is heavy when its faster device needs at least ``min_latency_s``; its GPU share
    is ``t_cpu / (t_cpu + t_gpu)`` (each device gets work in proportion to its speed), kept whole
    when that share falls within ``min_share`` of 0 or 1. Other operators: earliest finish.
    """

    name = "coexec"

    def __init__(self, min_latency_s: float = 2e-4, min_share: float = 0.05) -> None:
        if isinstance(min_latency_s, bool) or not isinstance(min_latency_s, (int, float)) or not min_latency_s >= 0:
            raise SimulationError(f"coexec: min_latency_s must be a non-negative number, got {min_latency_s!r}")
        if isinstance(min_share, bool) or not isinstance(min_share, (int, float)) or not 0.0 <= min_share < 0.5:
            raise SimulationError(f"coexec: min_share must lie in [0, 0.5), got {min_share!r}")
        self.min_latency_s = float(min_latency_s)
        self.min_share = float(min_share)

    def decide(self, view: OpView) -> float:
        tc, tg = view.pred_latency
        if view.splittable and min(tc, tg) >= self.min_latency_s:
            share = tc / (tc + tg)
            if self.min_share <= share <= 1.0 - self.min_share:
                return share
        f_cpu, f_gpu = _finish_times(view)
        return 1 if f_gpu <= f_cpu else 0

    def __repr__(self) -> str:
        return f"CoExec(min_latency_s={self.min_latency_s}, min_share={self.min_share})"


# ---------------------------------------------------------------------------------------------
# the best constant thresholds


@dataclass(frozen=True)
class ThresholdFit:
    """The best constant (τ_s, τ_I) over a training set and its score (mean latency / GPU-only)."""

    tau_s: float
    tau_i: float
    score: float
    sparsity: str
    intensity: str
    workloads: tuple[str, ...]
    pairs_evaluated: int
    placements_simulated: int


def _cuts(values: np.ndarray, max_cuts: int) -> np.ndarray:
    """At most ``max_cuts`` of the distinct values (evenly spaced in rank), ends included."""
    u = np.unique(values[np.isfinite(values)])
    if len(u) > max_cuts:
        u = u[np.unique(np.round(np.linspace(0, len(u) - 1, max_cuts)).astype(int))]
    return u


def fit_threshold_best(graphs: Sequence[OpGraph], platform: Platform, *, mode: str | None = None,
                       precision: str = "fp32", batch: int = 1, sparsity: str = "act",
                       intensity: str = "flop_per_byte", max_cuts: int = 16,
                       cache: PredictionCache | None = None) -> ThresholdFit:
    """Grid search over the cut points of the training graphs' features for the constant pair
    minimising mean reference-setting latency relative to GPU-only (each distinct placement of
    each graph simulated once). ``τ_s`` candidates: the distinct sparsities plus one above all
    (nothing to the CPU); ``τ_I``: the distinct intensities; at most ``max_cuts`` each."""
    from sparoa_sim.sim.simulator import simulate

    graphs = list(graphs)
    if not graphs:
        raise SimulationError("threshold-best: the training set is empty")
    if isinstance(max_cuts, bool) or not isinstance(max_cuts, int) or max_cuts < 2:
        raise SimulationError(f"threshold-best: max_cuts must be an integer >= 2, got {max_cuts!r}")
    cache = PredictionCache() if cache is None else cache
    feats = [ThresholdPolicy.features(g, sparsity, intensity) for g in graphs]
    s_all = np.concatenate([f[0] for f in feats])
    i_all = np.concatenate([f[1] for f in feats])
    tau_s = np.append(_cuts(s_all, max_cuts), np.max(s_all) + 1e-3)
    tau_i = _cuts(i_all, max_cuts)
    ref = []
    for g in graphs:
        ref.append(simulate(g, platform, "gpu", batch=batch, requests=batch, reference=True, mode=mode,
                            precision=precision, cache=cache).latency_mean_s)
    score = np.zeros((len(tau_s), len(tau_i)))
    simulated = 0
    for k, g in enumerate(graphs):
        s, inten = feats[k]
        cpu = (s[None, None, :] >= tau_s[:, None, None]) & (inten[None, None, :] <= tau_i[None, :, None])
        seen: dict[bytes, float] = {}
        for a in range(len(tau_s)):
            for b in range(len(tau_i)):
                place = np.where(cpu[a, b], 0.0, 1.0)
                key = place.tobytes()
                lat = seen.get(key)
                if lat is None:
                    lat = simulate(g, platform, place.tolist(), batch=batch, requests=batch, reference=True,
                                   mode=mode, precision=precision, cache=cache).latency_mean_s
                    seen[key] = lat
                    simulated += 1
                score[a, b] += lat / ref[k]
    score /= len(graphs)
    a, b = np.unravel_index(int(np.argmin(score)), score.shape)  # first minimum: deterministic
    return ThresholdFit(tau_s=float(tau_s[a]), tau_i=float(tau_i[b]), score=float(score[a, b]), sparsity=sparsity,
                        intensity=intensity, workloads=tuple(g.name for g in graphs),
                        pairs_evaluated=int(score.size), placements_simulated=simulated)


class ThresholdBest(ThresholdPolicy):
    """The threshold rule with the best constant thresholds over ``train`` (fitted at ``reset``
    for the run's platform, mode, precision and batch; given ``tau_s`` and ``tau_i`` skip it).

    ``train``: workload names or paths (default: every shipped workload).
    """

    name = "threshold-best"

    def __init__(self, tau_s: float | None = None, tau_i: float | None = None, train: Sequence[str] | None = None,
                 sparsity: str = "act", intensity: str = "flop_per_byte", max_cuts: int = 16) -> None:
        if (tau_s is None) != (tau_i is None):
            raise SimulationError("threshold-best: give both tau_s and tau_i, or neither (to fit them)")
        super().__init__(tau_s=0.0 if tau_s is None else tau_s, tau_i=tau_i, sparsity=sparsity, intensity=intensity)
        self._fixed = tau_s is not None
        self.train = None if train is None else tuple(str(t) for t in train)
        self.max_cuts = max_cuts
        self.fit: ThresholdFit | None = None
        self._fits: dict[tuple, ThresholdFit] = {}

    def reset(self, ctx: PolicyContext) -> None:
        if not self._fixed:
            key = (id(ctx.platform), ctx.mode, ctx.precision, ctx.max_batch)
            fit = self._fits.get(key)
            if fit is None:
                from sparoa_sim.workloads import list_workloads, load_workload

                names = self.train if self.train is not None else tuple(list_workloads())
                graphs = [load_workload(w) for w in names]
                fit = fit_threshold_best(graphs, ctx.platform, mode=ctx.mode, precision=ctx.precision,
                                         batch=ctx.max_batch, sparsity=self.sparsity, intensity=self.intensity,
                                         max_cuts=self.max_cuts)
                self._fits[key] = fit
            self.fit = fit
            if (self.tau_s, self.tau_i) != (fit.tau_s, fit.tau_i):
                self.tau_s, self.tau_i = fit.tau_s, fit.tau_i
                self._graph = None  # rebuild the table with the new thresholds
        super().reset(ctx)

    def __repr__(self) -> str:
        return f"ThresholdBest(tau_s={self.tau_s}, tau_i={self.tau_i}, train={self.train})"


# ---------------------------------------------------------------------------------------------
# TensorRT-like GPU-only


def tensorrt_graph(graph: OpGraph) -> OpGraph:
    """The graph TensorRT would run: conv/linear + norm + activation fused."""
    return fuse(graph)


def tensorrt_precision(requested: str | None) -> str:
    """The precision a TensorRT-like run uses, :data:`TENSORRT_PRECISION`; ``requested`` is the
    user's explicit precision (None: not given). Any other explicit precision is refused rather
    than silently replaced."""
    if requested is not None and requested != TENSORRT_PRECISION:
        raise SimulationError(f"--policy tensorrt runs the fused graph at {TENSORRT_PRECISION}; --precision "
                              f"{requested} contradicts it (leave --precision out, or use --policy gpu --precision "
                              f"{requested})")
    return TENSORRT_PRECISION


def tensorrt_results(workload: OpGraph | str | os.PathLike[str], platform: Platform | str | os.PathLike[str], *,
                     mode: str | None = None, batch: int = 1, requests: int | None = None,
                     arrival: str = "closed", reference: bool = True, seed: int | None = 0,
                     cache: PredictionCache | None = None, **kwargs: Any) -> Results:
    """Simulate the TensorRT-like baseline: the fused graph, every operator on the GPU, FP16 on
    tensor cores. Extra keyword arguments go to :func:`sparoa_sim.sim.simulator.simulate`."""
    from sparoa_sim.sim.simulator import simulate
    from sparoa_sim.workloads import as_graph

    g = tensorrt_graph(as_graph(workload))
    return simulate(g, platform, "gpu", batch=batch, requests=batch if requests is None else requests,
                    arrival=arrival, reference=reference, seed=seed, mode=mode, precision=TENSORRT_PRECISION,
                    cache=cache, **kwargs)
