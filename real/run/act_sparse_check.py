"""Placement follows sparsity, measured: a model whose layers really see >= 90 % zero inputs,
the twin's placement of it, and the executor's timing of its CPU side (issue 19, done-when).

:func:`sparsify_inputs` makes chosen layers of a real model see a given share of zero inputs by
lowering the bias of the layer that feeds their ReLU (one scalar per producer, found by bisection
on the inputs given) — the graph, the weights' shapes and the operators stay those of the shipped
model, only the values change, so the inputs are sparse because the model computes zeros, not
because a mask was inserted. :func:`measure_cpu_side` runs the CPU-only placement on the executor
(activation-sparse kernel where the twin's rule picks it, ``real.run.cpu_kernels``), one input of
a pool per run (distinct requests: the weight rows one call reads are not left in cache by the
last), and compares each operator's CPU time with the twin's.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from sparoa_sim.errors import SparOAError
from sparoa_sim.hwmodels.latency import KERNELS, predict
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.real.measure.timing import quiet_runtime
from sparoa_sim.real.run.cpu_kernels import twin_cpu_kernels
from sparoa_sim.real.run.executor import HybridExecutor
from sparoa_sim.sim.policies import StaticSchedule

__all__ = ["CpuSideCheck", "OpCheck", "input_sparsity", "kernel_cpu_times", "measure_cpu_side", "sparsify_inputs"]


def _module(model: nn.Module, name: str) -> nn.Module:
    mods = dict(model.named_modules())
    if name not in mods:
        raise SparOAError(f"sparsify_inputs: the model has no module {name!r}")
    return mods[name]


class _Reached(Exception):
    """Raised by the consumer's pre-hook once its input is seen: the rest of the pass is not needed."""


def input_sparsity(model: nn.Module, consumer: str, inputs: torch.Tensor) -> np.ndarray:
    """Share of zeros in the first input of module ``consumer``, per sample of ``inputs`` (run one at a
    time, each pass stopped at the consumer)."""
    seen: list[float] = []

    def hook(_m: nn.Module, args: tuple) -> None:
        seen.append(float((args[0] == 0).sum()) / args[0].numel())
        raise _Reached

    handle = _module(model, consumer).register_forward_pre_hook(hook)
    try:
        with torch.inference_mode():
            for x in inputs:
                try:
                    model(x.unsqueeze(0))
                except _Reached:
                    pass
    finally:
        handle.remove()
    if len(seen) != len(inputs):
        raise SparOAError(f"sparsify_inputs: module {consumer!r} is not called once per pass")
    return np.array(seen)


class _UpTo(torch.fx.Interpreter):
    """Runs a traced model until module ``stop`` is called; keeps every value computed before it."""

    def __init__(self, gm: torch.fx.GraphModule, stop: str, keep_until: torch.fx.Node | None = None) -> None:
        super().__init__(gm)
        self.extra_traceback = False  # stopping is not an error: no traceback decoration (slow, and noisy)
        self.stop = stop
        self.seen: torch.Tensor | None = None
        self.kept: dict[torch.fx.Node, Any] = {}  # every value up to ``keep_until`` (the interpreter frees them)
        self._keeping = keep_until is not None
        self._until = keep_until

    def run_node(self, n: torch.fx.Node) -> Any:
        out = super().run_node(n)
        if self._keeping:
            self.kept[n] = out
            self._keeping = n is not self._until
        return out

    def call_module(self, target: Any, args: tuple, kwargs: dict) -> Any:
        if target == self.stop:
            self.seen = args[0]
            raise _Reached
        return super().call_module(target, args, kwargs)

    def input_of_stop(self, x: torch.Tensor, env: dict | None = None) -> torch.Tensor:
        try:
            self.run(x, initial_env=env)
        except _Reached:
            pass
        if self.seen is None:
            raise SparOAError(f"sparsify_inputs: module {self.stop!r} is not called by the model")
        return self.seen


def sparsify_inputs(model: nn.Module, inputs: torch.Tensor, plan: Sequence[tuple[str, str, float]], *,
                    tol: float = 0.002, iters: int = 30) -> dict[str, float]:
    """Lower the bias of each ``producer`` until ``consumer``'s input has mean zero share ``target`` on ``inputs``.

    ``plan``: (producer module, consumer module, target) triples, upstream first (a producer's
    shift changes every layer below it). The model is changed in place; returns the mean
    sparsity reached per consumer (at least ``target``, within ``tol`` where the inputs allow).
    The producer must have a bias and feed the consumer through a ReLU (or pooling after one),
    so the share of zeros grows with the shift. A scalar shift of the bias is a shift of the
    producer's output, so the search re-runs only the operators between the two (``torch.fx``).
    """
    reached: dict[str, float] = {}
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many kinds of errors on untraceable code
        raise SparOAError(f"sparsify_inputs: torch.fx cannot trace the model: {type(exc).__name__}: {exc}") from None
    for producer, consumer, target in plan:
        if not 0.0 <= target < 1.0:
            raise SparOAError(f"sparsify_inputs: target for {consumer!r} must lie in [0, 1), got {target!r}")
        bias = getattr(_module(model, producer), "bias", None)
        _module(model, consumer)
        if not isinstance(bias, torch.Tensor):
            raise SparOAError(f"sparsify_inputs: module {producer!r} has no bias to shift")
        node = next((n for n in gm.graph.nodes if n.op == "call_module" and n.target == producer), None)
        if node is None:
            raise SparOAError(f"sparsify_inputs: module {producer!r} is not called by the model")
        # one full pass per input: every value up to the producer's output, kept
        envs = []
        with torch.inference_mode():
            for x in inputs:
                it = _UpTo(gm, consumer, keep_until=node)
                it.input_of_stop(x.unsqueeze(0))
                keep = it.kept
                if node not in keep:
                    raise SparOAError(f"sparsify_inputs: module {producer!r} does not run before {consumer!r}")
                envs.append(keep)

        def at(shift: float) -> float:
            shares = []
            with torch.inference_mode():
                for x, keep in zip(inputs, envs):
                    env = dict(keep)
                    env[node] = keep[node] - shift
                    seen = _UpTo(gm, consumer).input_of_stop(x.unsqueeze(0), env)
                    shares.append(float((seen == 0).sum()) / seen.numel())
            return float(np.mean(shares))

        lo, hi = 0.0, 0.25
        s_hi = at(hi)
        while s_hi < target:
            lo, hi = hi, hi * 4.0
            if hi > 1e8:
                raise SparOAError(f"sparsify_inputs: lowering the bias of {producer!r} does not make "
                                  f"{consumer!r}'s input {target:.0%} zeros (is there a ReLU between?)")
            s_hi = at(hi)
        for _ in range(iters):
            if s_hi - target <= tol:
                break
            mid = 0.5 * (lo + hi)
            s_mid = at(mid)
            if s_mid < target:
                lo = mid
            else:
                hi, s_hi = mid, s_mid
        with torch.no_grad():
            bias.sub_(hi)
        reached[consumer] = float(input_sparsity(model, consumer, inputs).mean())
    return reached


@dataclass(frozen=True)
class OpCheck:
    """One operator on the CPU: the kernel it ran, the twin's seconds and the measured median (two halves)."""

    op: int
    name: str
    kernel: str
    act_sparsity: float
    twin_s: float
    measured_s: float
    measured_a: float
    measured_b: float
    measured_min: float = 0.0

    @property
    def error(self) -> float:
        """Twin vs measured, relative to measured."""
        return (self.twin_s - self.measured_s) / self.measured_s

    @property
    def error_min(self) -> float:
        """Twin vs the fastest run (the least disturbed on a shared host), relative to it."""
        return (self.twin_s - self.measured_min) / self.measured_min

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {"op": self.op, "name": self.name, "kernel": self.kernel, "act_sparsity": self.act_sparsity,
                "twin_ms": self.twin_s * 1e3, "measured_ms": self.measured_s * 1e3,
                "halves_ms": [self.measured_a * 1e3, self.measured_b * 1e3], "error": self.error,
                "min_ms": self.measured_min * 1e3, "error_min": self.error_min}


@dataclass(frozen=True)
class CpuSideCheck:
    """The CPU side of a placement, twin vs executor: per operator, and the operators' sum."""

    ops: tuple[OpCheck, ...]
    runs: int
    threads: int

    @property
    def twin_s(self) -> float:
        """The twin's seconds of these operators."""
        return sum(o.twin_s for o in self.ops)

    @property
    def measured_s(self) -> float:
        """The measured seconds of these operators (sum of per-operator medians)."""
        return sum(o.measured_s for o in self.ops)

    @property
    def error(self) -> float:
        """Sum over the operators, twin vs measured."""
        return (self.twin_s - self.measured_s) / self.measured_s

    @property
    def error_min(self) -> float:
        """Sum over the operators, twin vs the per-operator fastest runs."""
        return self.twin_s / sum(o.measured_min for o in self.ops) - 1.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {"ops": [o.to_dict() for o in self.ops], "runs": self.runs, "threads": self.threads,
                "twin_ms": self.twin_s * 1e3, "measured_ms": self.measured_s * 1e3, "error": self.error,
                "measured_min_ms": sum(o.measured_min for o in self.ops) * 1e3, "error_min": self.error_min}


def _median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def measure_cpu_side(model: nn.Module, graph: OpGraph, platform: Any, inputs: torch.Tensor, ops: Iterable[int], *,
                     runs: int = 12, warmup: int = 2, threads: int = 1, mode: str | None = None) -> CpuSideCheck:
    """Time operators ``ops`` on the CPU inside the executor's CPU-only run of ``graph`` (its
    topological order), each run on the next sample of ``inputs``, with the CPU kernel the twin's
    rule picks (:func:`~sparoa_sim.real.run.cpu_kernels.twin_cpu_kernels`); compare with the twin's
    CPU latency of each (``hwmodels.latency.predict``, batch 1, no load)."""
    wanted = sorted({int(i) for i in ops})
    if runs < 2:
        raise SparOAError(f"measure_cpu_side: runs must be >= 2 (two halves), got {runs!r}")
    kern = twin_cpu_kernels(graph, platform, mode=mode)
    pred = predict(platform, graph.hw_ops, 1, mode=mode)
    sched = StaticSchedule(tuple(0.0 for _ in graph.ops), order={"cpu": list(range(len(graph))), "gpu": []},
                           workload=graph.name, source="cpu")
    times: dict[int, list[float]] = {i: [] for i in wanted}
    xs = [x.unsqueeze(0) for x in inputs]
    with HybridExecutor(model, xs[0], graph=graph, gpu_device=None,
                        cpu_sparse=[i for i, k in kern.items() if k == "csr"],
                        cpu_act_sparse=[i for i, k in kern.items() if k == "act_sparse"],
                        name=graph.name) as ex, quiet_runtime(threads):
        ran = {i: ex.cpu_kernels.get(i, "dense") for i in wanted}
        for r in range(warmup + runs):
            res = ex.run(xs[r % len(xs)], placement=sched)
            if r < warmup:
                continue
            per: dict[int, float] = {}
            for t in res.ops:
                if t.op in times:
                    per[t.op] = per.get(t.op, 0.0) + (t.end - t.start)
            for i, v in per.items():
                times[i].append(v)
    out = []
    for i in wanted:
        ts = times[i]
        if len(ts) < 2:
            raise SparOAError(f"measure_cpu_side: operator {i} ({graph.ops[i].name}) did not run on the CPU")
        h = len(ts) // 2
        twin_kernel = KERNELS[int(pred.kernels_chosen[i, 0])]
        if ran[i] != twin_kernel:
            raise SparOAError(f"measure_cpu_side: operator {i} ran the {ran[i]} kernel, the twin predicts "
                              f"{twin_kernel} (the executor cannot run it)")
        out.append(OpCheck(i, graph.ops[i].name, ran[i], graph.ops[i].act_sparsity, float(pred.latency[i, 0]),
                           _median(ts), _median(ts[:h]), _median(ts[h:]), min(ts)))
    return CpuSideCheck(tuple(out), runs, threads)


def kernel_cpu_times(model: nn.Module, graph: OpGraph, platform: Any, inputs: torch.Tensor, ops: Iterable[int], *,
                     calls: int = 24, mode: str | None = None) -> dict[int, tuple[str, float]]:
    """Per linear operator: (kernel, median thread-CPU seconds) of the kernel the twin's rule picks, run
    on the activations the model really feeds it (captured from ``inputs``, one per call, rotating).

    The executor's per-operator times are wall clock, which on a shared host counts other tenants'
    time slices; this is the same kernel function (``real.kernels.act_sparse``) on the same inputs,
    timed with the timing thread's CPU clock, one torch thread (as the sweeps the twin is fitted to).
    """
    import itertools

    import torch.nn.functional as F

    from sparoa_sim.real.kernels.act_sparse import act_sparse_linear, transpose_weight
    from sparoa_sim.real.measure.timing import make_clock, median_time, time_calls

    gm = torch.fx.symbolic_trace(model)
    target = {n.name: str(n.target) for n in gm.graph.nodes if n.op == "call_module"}
    kern = twin_cpu_kernels(graph, platform, mode=mode)
    out: dict[int, tuple[str, float]] = {}
    for i in sorted({int(i) for i in ops}):
        name = target.get(graph.ops[i].name)
        mod = None if name is None else _module(model, name)
        if not isinstance(mod, nn.Linear):
            raise SparOAError(f"kernel_cpu_times: operator {i} ({graph.ops[i].name}) is not a linear module")
        seen: list[torch.Tensor] = []
        handle = mod.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
        try:
            with torch.inference_mode():
                for x in inputs:
                    model(x.unsqueeze(0))
        finally:
            handle.remove()
        k = kern.get(i, "dense")
        w, b = mod.weight.detach(), None if mod.bias is None else mod.bias.detach()
        w_t = transpose_weight(w)
        nxt = itertools.cycle(seen).__next__
        fn = (lambda: act_sparse_linear(nxt(), w_t, b)) if k == "act_sparse" else (lambda: F.linear(nxt(), w, b))
        with quiet_runtime(1), torch.inference_mode():
            clk = make_clock(torch.device("cpu"), "thread_cpu")
            time_calls(fn, clk, 2)
            out[i] = (k, median_time(time_calls(fn, clk, calls)))
    return out
