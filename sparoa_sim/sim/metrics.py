"""A run's metrics and trace, assembled from the engine's components (docs/architecture.md §4.4).

Per-request latency (mean, p50, p95, p99, max), throughput over the makespan (first arrival to
last completion), energy (finished operators' dynamic and static energy, copies, and the board's
idle power over the makespan), per-device busy time and utilisation, copies and bytes moved
(:class:`~sparoa_sim.sim.results.Results`); the recorded slices as a
:class:`~sparoa_sim.sim.trace.SimTrace`. Trace slices are tuples ``(track, kind, op, job, t0, t1,
a, b)`` on the tracks of :data:`TRACK_NAMES`.
"""

from __future__ import annotations

import math

import numpy as np

from sparoa_sim.hwmodels import Platform
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.sim.arrivals import Arrivals, Batching
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.dispatcher import Dispatcher
from sparoa_sim.sim.executors import Executors
from sparoa_sim.sim.host import HostThread
from sparoa_sim.sim.predtables import GraphTables
from sparoa_sim.sim.rates import Rates
from sparoa_sim.sim.results import Results, summarise_latencies
from sparoa_sim.sim.stream import RequestStream
from sparoa_sim.sim.trace import SimTrace
from sparoa_sim.sim.transfers import Transfers

__all__ = ["TRACK_NAMES", "energy_so_far", "run_results", "run_trace"]

#: Trace tracks: 0 CPU, 1 GPU, 2 host dispatch, 3 transfers.
TRACK_NAMES: tuple[str, ...] = ("CPU", "GPU", "host dispatch", "transfers")


def energy_so_far(now: float, board_idle_w: float, stream: RequestStream, executors: Executors,
                  transfers: Transfers) -> float:
    """Joules so far: finished operators and copies plus board idle power since the first arrival
    (up to the last completion once the run is finished, else up to ``now``)."""
    idle = 0.0
    if stream.arrival:
        if stream.finished:
            end = max(stream.completion) if stream.completion else 0.0
        else:
            end = now
        idle = board_idle_w * (end - stream.arrival[0])
    e = executors.energy
    return e[0] + e[1] + transfers.energy + idle


def run_results(*, graph: OpGraph, platform: Platform, mode: str, config: SimConfig, policy: str,
                arrivals: Arrivals, batching: Batching, seed: int | None, board_idle_w: float,
                stream: RequestStream, dispatcher: Dispatcher, host: HostThread, executors: Executors,
                transfers: Transfers) -> Results:
    """The :class:`Results` of a finished run (``policy``: the policy's name)."""
    arr = np.asarray(stream.arrival)
    comp = np.asarray(stream.completion)
    lat = comp - arr
    mean, p50, p95, p99, mx = summarise_latencies(lat)
    makespan = float(comp.max() - arr.min())
    idle = board_idle_w * makespan
    energy, busy = executors.energy, executors.busy
    total = energy[0] + energy[1] + transfers.energy + idle
    n_req = len(arr)
    n_batches = stream.n_jobs
    return Results(
        workload=graph.name,
        platform=platform.name,
        mode=mode,
        precision=config.precision,
        policy=policy,
        arrival=arrivals.describe(),
        max_batch=batching.max_batch,
        seed=seed,
        reference=config.reference,
        n_requests=n_req,
        n_batches=n_batches,
        n_ops=len(graph),
        latency_mean_s=mean,
        latency_p50_s=p50,
        latency_p95_s=p95,
        latency_p99_s=p99,
        latency_max_s=mx,
        throughput_rps=n_req / makespan if makespan > 0 else math.inf if n_req else 0.0,
        makespan_s=makespan,
        energy_j=float(total),
        energy_per_inference_j=float(total / n_req) if n_req else 0.0,
        idle_energy_j=float(idle),
        cpu_energy_j=float(energy[0]),
        gpu_energy_j=float(energy[1]),
        transfer_energy_j=float(transfers.energy),
        cpu_busy_s=float(busy[0]),
        gpu_busy_s=float(busy[1]),
        host_busy_s=float(host.busy_s),
        cpu_util=float(busy[0] / makespan) if makespan > 0 else 0.0,
        gpu_util=float(busy[1] / makespan) if makespan > 0 else 0.0,
        transfers=transfers.count,
        transfer_bytes=float(transfers.bytes),
        transfer_busy_s=float(transfers.busy_s),
        ops_executed=dispatcher.decisions + dispatcher.n_splits,
        decisions=dispatcher.decisions,
        mean_batch=n_req / n_batches if n_batches else 0.0,
        placement=tuple(stream.first_share or ()),
        latencies_s=tuple(lat.tolist()),
    )


def run_trace(*, events: list[tuple], gt: GraphTables, graph: OpGraph, platform: Platform, policy: str,
              stream: RequestStream, rates: Rates) -> SimTrace:
    """The recorded slices ``events`` of a run as a :class:`SimTrace` (``policy``: the policy's name)."""
    return SimTrace(
        events=tuple(events),
        op_names=gt.names,
        job_requests=tuple(stream.job_requests),
        job_batches=tuple(len(r) for r in stream.job_requests),
        workload=graph.name,
        platform=platform.name,
        policy=policy,
        loads=tuple(rates.load_log),
    )
