"""Eager ``model(x)`` latency of shipped workloads, without per-operator timing.

For end-to-end figures wanted without profiling every operator (the pruned variants: weights
magnitude-pruned, dense kernels), alone (:func:`time_eager`) or several workloads in
alternation so their ratios come from the same moments of a drifting host
(:func:`time_eager_interleaved`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from sparoa_sim.errors import CalibrationError
from sparoa_sim.hwmodels.measurements import EndToEnd
from sparoa_sim.real.measure.hostinfo import resolve_device
from sparoa_sim.real.measure.timing import (
    check_batches,
    figure,
    make_clock,
    quiet_runtime,
    settle,
    time_adaptive,
    time_calls,
)
from sparoa_sim.real.models import zoo
from sparoa_sim.real.models.extract import magnitude_prune

__all__ = ["time_eager", "time_eager_interleaved"]


def time_eager(name: str, *, batch: int = 1, device: str = "cpu", reduced: bool = False, threads: int | None = None,
               reps: int = 30, min_reps: int = 6, warmup: int = 2, target_s: float = 1.0, settle_s: float = 5.0,
               seed: int = 0, clock: str = "wall") -> EndToEnd:
    """Eager ``model(x)`` latency of a shipped workload alone (no per-operator timing), two halves.

    For workloads whose end-to-end figure is wanted without profiling every operator (e.g. the
    pruned variants: magnitude-pruned weights, dense kernels). ``sum_isolated_s`` and
    ``sum_graph_s`` are 0 (not measured).
    """
    base, prune = zoo.resolve_workload(name)
    dev = resolve_device(device)
    clock_name = clock
    (b,) = check_batches([batch])
    if reps < 2 or min_reps < 1 or warmup < 0:
        raise CalibrationError(f"reps must be >= 2, min_reps >= 1, warmup >= 0; got {reps}, {min_reps}, {warmup}")
    model = zoo.build(base, seed=seed, reduced=reduced)
    if prune:
        magnitude_prune(model, prune)
    model = model.to(dev).eval()
    x = zoo.example_input(base, batch=b, reduced=reduced, seed=seed).to(dev)
    lo, hi = max(1, math.ceil(min_reps / 2)), max(1, math.ceil(reps / 2))
    with quiet_runtime(threads):
        clock = make_clock(dev, clock_name)
        settle(lambda: model(x), clock, settle_s)
        halves = [time_adaptive(lambda: model(x), clock, warmup, target_s / 2, lo, hi) for _ in range(2)]
    f = figure(*halves)
    label = f"{name}_reduced" if reduced else name
    return EndToEnd(workload=label, batch=b, time_s=f.time_s, time_s_a=f.time_s_a, time_s_b=f.time_s_b,
                    reps=f.reps, sum_isolated_s=0.0, sum_graph_s=0.0)


def time_eager_interleaved(names: Sequence[str], *, rounds: int = 8, warmup: int = 2, threads: int | None = None,
                           seed: int = 0, clock: str = "wall", reduced: bool = False) -> dict[str, EndToEnd]:
    """Eager latency of several shipped workloads timed in alternation (one pass of each per
    round, ``rounds`` rounds in two halves), so their ratios come from the same moments of a
    host whose speed drifts (CPU, batch 1). Same fields as :func:`time_eager`."""
    if rounds < 2:
        raise CalibrationError(f"rounds must be >= 2 (two halves), got {rounds}")
    runs: dict[str, Callable[[], Any]] = {}
    for name in names:
        base, prune = zoo.resolve_workload(name)
        model = zoo.build(base, seed=seed, reduced=reduced)
        if prune:
            magnitude_prune(model, prune)
        model = model.eval()
        x = zoo.example_input(base, batch=1, seed=seed, reduced=reduced)
        runs[name] = lambda model=model, x=x: model(x)
    halves: dict[str, list[list[float]]] = {n: [[], []] for n in runs}
    with quiet_runtime(threads):
        clk = make_clock(torch.device("cpu"), clock)
        for fn in runs.values():
            time_calls(fn, clk, max(1, warmup))
        for r in range(rounds):
            for name, fn in runs.items():
                halves[name][r * 2 // rounds].extend(time_calls(fn, clk, 1))
    out = {}
    for name, (a, b) in halves.items():
        f = figure(a, b)
        out[name] = EndToEnd(workload=name, batch=1, time_s=f.time_s, time_s_a=f.time_s_a, time_s_b=f.time_s_b,
                             reps=f.reps, sum_isolated_s=0.0, sum_graph_s=0.0)
    return out
