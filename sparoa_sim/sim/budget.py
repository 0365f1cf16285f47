"""A simulation's size, estimated up front and checked against ``sparoa_sim.limits`` before it runs.

A run's wall-clock time grows with its operator executions (batches × operators) and, through the
background load's 20 ms ticks, with its simulated horizon. :func:`run_budget` estimates both from
the graph, the profile's predicted latencies, the arrivals and the batcher, without simulating;
:func:`check_run_budget` refuses, naming the figure and its limit, a run that would take
hours (``MAX_OP_EVENTS``: operator runs plus a Markov background load's changes), one whose
operators take an unphysical time on a device (``MAX_OP_SECONDS``: an overflowing graph or profile figure) or one whose simulated time would
exceed ``MAX_HORIZON_S``. The arrival sources bound their own horizon on construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels import Platform, predict
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.limits import MAX_HORIZON_S, MAX_OP_EVENTS, MAX_OP_SECONDS
from sparoa_sim.sim.arrivals import Arrivals, Batching, ClosedLoop, Periodic, Poisson, TraceArrivals
from sparoa_sim.sim.hwstate import BackgroundLoad

__all__ = ["RunBudget", "arrival_horizon_s", "check_run_budget", "run_budget"]

_DEVICES = ("cpu", "gpu")


@dataclass(frozen=True)
class RunBudget:
    """What a run will cost, estimated before it starts.

    ``batches``: most batches the batcher can form (every request alone when it has a timeout);
    ``op_events``: ``batches × operators``; ``slowest_op_s``: the longest predicted operator time on
    either device at the run's batch size, with its operator index and device; ``batch_s``: one
    batch with every operator on its faster device, one at a time; ``horizon_s``: the last arrival
    plus ``batches × batch_s``, the simulated time the run is expected to reach
    (``batch_s`` includes the batcher's timeout where a closed loop cannot fill a batch);
    ``background_events``: the load changes a Markov background load draws over that horizon (its devices ×
    horizon / mean holding time; 0 without one) — events that cost time whatever the graph. A lower bound, as
    the horizon is: a policy on the slower device, or the load itself, stretches the run.
    """

    batches: int
    op_events: int
    slowest_op_s: float
    slowest_op: int
    slowest_device: str
    batch_s: float
    arrival_horizon_s: float
    horizon_s: float
    background_events: float = 0.0


def arrival_horizon_s(arrivals: Arrivals) -> float:
    """When the last request arrives (a Poisson stream's expected last arrival; 0 for a closed loop)."""
    if isinstance(arrivals, TraceArrivals):
        return float(arrivals.times[-1])
    if isinstance(arrivals, Poisson):
        return arrivals.n_requests / arrivals.rate
    if isinstance(arrivals, Periodic):
        return arrivals.phase_s + (arrivals.n_requests - 1) / arrivals.fps
    if isinstance(arrivals, ClosedLoop):
        return 0.0
    raise SimulationError(f"arrivals must be one of ClosedLoop, Poisson, TraceArrivals, Periodic, got {arrivals!r}")


def _batch_wait_s(arrivals: Arrivals, batching: Batching) -> float:
    """How long each batch waits for its timeout: a closed loop with fewer clients than the batch size
    never fills one, so every batch waits ``timeout_s`` (open arrivals overlap their waits)."""
    if isinstance(arrivals, ClosedLoop) and not math.isinf(batching.timeout_s):
        conc = batching.max_batch if arrivals.concurrency is None else arrivals.concurrency
        if conc < min(batching.max_batch, arrivals.n_requests):
            return batching.timeout_s
    return 0.0


def _background_events(background: Any, horizon_s: float) -> float:
    """Load changes a Markov :class:`BackgroundLoad` draws over ``horizon_s`` (0: none, a trace, a constant)."""
    if not isinstance(background, BackgroundLoad) or background.constant:
        return 0.0
    return len(background.devices) * horizon_s / background.mean_hold_s


def run_budget(graph: OpGraph, platform: Platform, arrivals: Arrivals, batching: Batching = Batching(),
               mode: str | None = None, precision: str = "fp32", background: Any = None) -> RunBudget:
    """Estimate a run's operator executions and simulated horizon (see :class:`RunBudget`)."""
    n = arrivals.n_requests
    batch = min(batching.max_batch, n)
    batches = math.ceil(n / batch) if math.isinf(batching.timeout_s) else n
    with np.errstate(all="ignore"):  # an overflow is what this looks for: inf is refused below
        lat = np.asarray(predict(platform, graph.hw_ops, batch, mode, precision).latency, dtype=float)
    bad = ~np.isfinite(lat)
    worst = np.where(bad, np.inf, lat)
    flat = int(np.argmax(worst))
    op, dev = divmod(flat, lat.shape[1])
    batch_s = float(np.sum(np.min(worst, axis=1))) + _batch_wait_s(arrivals, batching)
    start = arrival_horizon_s(arrivals)
    horizon = start + batches * batch_s
    return RunBudget(batches=batches, op_events=batches * len(graph), slowest_op_s=float(worst[op, dev]),
                     slowest_op=op, slowest_device=_DEVICES[dev], batch_s=batch_s, arrival_horizon_s=start,
                     horizon_s=horizon, background_events=_background_events(background, horizon))


def check_run_budget(graph: OpGraph, platform: Platform, arrivals: Arrivals, batching: Batching = Batching(),
                     mode: str | None = None, precision: str = "fp32", where: str = "simulate",
                     background: Any = None) -> RunBudget:
    """:func:`run_budget`, refusing a run over ``MAX_OP_EVENTS`` (operator runs, or the load changes of a
    Markov ``background``), ``MAX_OP_SECONDS`` or ``MAX_HORIZON_S`` with one :class:`SimulationError` that names
    the figure, its value and the limit."""
    b = run_budget(graph, platform, arrivals, batching, mode, precision, background)
    if b.op_events > MAX_OP_EVENTS:
        raise SimulationError(f"{where}: {b.batches:,} batches × {len(graph):,} operators = {b.op_events:,} operator "
                              f"runs, above the limit of {MAX_OP_EVENTS:,} (MAX_OP_EVENTS)")
    if not b.slowest_op_s <= MAX_OP_SECONDS:
        name = graph.ops[b.slowest_op].name
        source = graph.name if graph.source == "<memory>" else graph.source
        raise SimulationError(f"{where}: operator {b.slowest_op} ({name!r}) of {source} would take "
                              f"{b.slowest_op_s:.4g} s on the {b.slowest_device} at batch "
                              f"{min(batching.max_batch, arrivals.n_requests)} on {platform.name}, above the limit of "
                              f"{MAX_OP_SECONDS:,.0f} s (MAX_OP_SECONDS): a graph or profile figure out of range")
    if not b.horizon_s <= MAX_HORIZON_S:
        raise SimulationError(f"{where}: the run would reach {b.horizon_s:.4g} s of simulated time "
                              f"({b.batches:,} batches × {b.batch_s:.4g} s, each operator on its faster device, "
                              f"after the last arrival at {b.arrival_horizon_s:.4g} s), above the limit of "
                              f"{MAX_HORIZON_S:,} s (MAX_HORIZON_S)")
    if b.op_events + b.background_events > MAX_OP_EVENTS:
        raise SimulationError(f"{where}: the background load would change at least {b.background_events:,.0f} times "
                              f"over the {b.horizon_s:.4g} s the run would reach (a level held "
                              f"{background.mean_hold_s:g} s on average on {len(background.devices)} device(s)), "
                              f"which with {b.op_events:,} operator runs is above the limit of {MAX_OP_EVENTS:,} events (MAX_OP_EVENTS)")
    return b
