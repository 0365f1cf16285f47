"""A run's metrics and trace, assembled from the engine's components (docs/architecture.md §4.4).

Per-request latency (mean, p50, p95, p99, max), throughput over the makespan (first arrival to
last completion), energy (finished operators' dynamic and static energy, copies, and the board's
idle power over the makespan), per-device busy time and utilisation, copies and bytes moved
(:class:`~sparoa_sim.sim.results.Results`); the recorded slices as a
:class:`~sparoa_sim.sim.trace.SimTrace`. Trace slices are tuples ``(track, kind, op, job, t0, t1,
a, b)`` on the tracks of :data:`TRACK_NAMES`; ``job`` is the run-wide batch index. With
co-running streams the headline figures are the primary stream's, the board's cover the run, and
each stream's own figures (SLO satisfaction included) are :class:`~sparoa_sim.sim.results.StreamStats`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sparoa_sim.hwmodels import Platform
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.sim.arrivals import Arrivals, Batching
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.dispatcher import Dispatcher
from sparoa_sim.sim.executors import Executors
from sparoa_sim.sim.host import HostThread
from sparoa_sim.sim.rates import Rates
from sparoa_sim.sim.results import Results, StreamStats, slo_rate, summarise_latencies
from sparoa_sim.sim.stream import RequestStream
from sparoa_sim.sim.trace import SimTrace
from sparoa_sim.sim.transfers import Transfers

__all__ = ["TRACK_NAMES", "energy_so_far", "one_request_figures", "run_results", "run_trace", "stream_stats"]

#: Trace tracks: 0 CPU, 1 GPU, 2 host dispatch, 3 transfers.
TRACK_NAMES: tuple[str, ...] = ("CPU", "GPU", "host dispatch", "transfers")


def energy_so_far(now: float, board_idle_w: float, streams: Sequence[RequestStream], executors: Executors,
                  transfers: Transfers) -> float:
    """Joules so far: finished operators and copies plus board idle power since the first arrival
    of any stream (up to the last completion once every stream is finished, else up to ``now``)."""
    e = executors.energy
    if len(streams) == 1:  # the common case, without the lists (the env reads this every step)
        s = streams[0]
        if not s.arrival:
            return e[0] + e[1] + transfers.energy + 0.0
        end = max(s.completion) if s.finished else now
        return e[0] + e[1] + transfers.energy + board_idle_w * (end - s.arrival[0])
    idle = 0.0
    firsts = [s.arrival[0] for s in streams if s.arrival]
    if firsts:
        if all(s.finished for s in streams):
            end = max(max(s.completion) for s in streams if s.completion)
        else:
            end = now
        idle = board_idle_w * (end - min(firsts))
    return e[0] + e[1] + transfers.energy + idle


def one_request_figures(*, lanes: Sequence[Any], board_idle_w: float, executors: Executors, transfers: Transfers,
                        dispatcher: Dispatcher) -> tuple[float, float, float, int, tuple[float, ...]] | None:
    """``(latency_mean_s, latency_p95_s, energy_per_inference_j, decisions, placement)`` of a finished run of
    one request in one stream, each what :func:`run_results` reports (the same operations on the same
    values), without the arrays and the :class:`Results` (an environment reads them at every episode
    end); None for any other run, or a non-finite latency (read :func:`run_results`)."""
    stream = lanes[0].stream
    if len(lanes) != 1 or len(stream.arrival) != 1 or len(stream.completion) != 1:
        return None
    lat = float(stream.completion[0]) - float(stream.arrival[0])  # = comp - arr = the makespan, one request
    if not math.isfinite(lat):
        return None
    energy = executors.energy
    total = energy[0] + energy[1] + transfers.energy + board_idle_w * lat
    return lat, lat, float(total), dispatcher.decisions, tuple(stream.first_share or ())


def stream_stats(lane: Any) -> StreamStats:
    """The figures of one finished stream (a ``sim.streams.Lane``)."""
    st = lane.stream
    arr = np.asarray(st.arrival)
    comp = np.asarray(st.completion)
    lat = comp - arr
    mean, p50, p95, p99, mx = summarise_latencies(lat)
    n = len(arr)
    span = float(comp.max() - arr.min()) if n else 0.0
    return StreamStats(name=lane.name, workload=lane.graph.name,
                       arrival=lane.arrivals.describe(), n_requests=n, n_batches=st.n_jobs, latency_mean_s=mean,
                       latency_p50_s=p50, latency_p95_s=p95, latency_p99_s=p99, latency_max_s=mx,
                       throughput_rps=n / span if span > 0 else math.inf if n else 0.0, makespan_s=span,
                       deadline_s=lane.deadline_s, slo_met=slo_rate(lat, lane.deadline_s))


def run_results(*, graph: OpGraph, platform: Platform, mode: str, config: SimConfig, policy: str,
                arrivals: Arrivals, batching: Batching, seed: int | None, board_idle_w: float,
                lanes: Sequence[Any], dispatcher: Dispatcher, host: HostThread, executors: Executors,
                transfers: Transfers) -> Results:
    """The :class:`Results` of a finished run (``policy``: the policy's name; ``lanes``: its streams,
    the primary first — see ``sim.results`` for what each figure covers with co-runs)."""
    stream = lanes[0].stream
    arr = np.asarray(stream.arrival)
    comp = np.asarray(stream.completion)
    lat = comp - arr
    mean, p50, p95, p99, mx = summarise_latencies(lat)
    makespan = float(comp.max() - arr.min())
    n_req = len(arr)
    span, n_all = makespan, n_req
    if len(lanes) > 1:  # the board's figures cover every stream
        others = [ln.stream for ln in lanes[1:]]
        span = float(max(comp.max(), *(max(s.completion) for s in others))
                     - min(arr.min(), *(s.arrival[0] for s in others)))
        n_all = n_req + sum(len(s.arrival) for s in others)
    idle = board_idle_w * span
    energy, busy = executors.energy, executors.busy
    total = energy[0] + energy[1] + transfers.energy + idle
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
        energy_per_inference_j=float(total / n_all) if n_all else 0.0,
        idle_energy_j=float(idle),
        cpu_energy_j=float(energy[0]),
        gpu_energy_j=float(energy[1]),
        transfer_energy_j=float(transfers.energy),
        cpu_busy_s=float(busy[0]),
        gpu_busy_s=float(busy[1]),
        host_busy_s=float(host.busy_s),
        cpu_util=float(busy[0] / span) if span > 0 else 0.0,
        gpu_util=float(busy[1] / span) if span > 0 else 0.0,
        transfers=transfers.count,
        transfer_bytes=float(transfers.bytes),
        transfer_busy_s=float(transfers.busy_s),
        ops_executed=dispatcher.decisions + dispatcher.n_splits,
        decisions=dispatcher.decisions,
        mean_batch=n_req / n_batches if n_batches else 0.0,
        placement=tuple(stream.first_share or ()),
        latencies_s=tuple(lat.tolist()),
        streams=tuple(stream_stats(ln) for ln in lanes),
    )


def run_trace(*, events: list[tuple], graph: OpGraph, platform: Platform, policy: str, lanes: Sequence[Any],
              job_lane: Sequence[int], rates: Rates) -> SimTrace:
    """The recorded slices ``events`` of a run as a :class:`SimTrace` (``policy``: the policy's name;
    ``job_lane``: the stream of each job, by its run-wide index). With co-runs, every job is
    labelled with its stream and each stream's operators are named from its own graph."""
    if len(lanes) == 1:
        stream = lanes[0].stream
        return SimTrace(events=tuple(events), op_names=lanes[0].gt.names, job_requests=tuple(stream.job_requests),
                        job_batches=tuple(len(r) for r in stream.job_requests), workload=graph.name,
                        platform=platform.name, policy=policy, loads=tuple(rates.load_log))
    nth = [0] * len(lanes)
    job_requests = []
    for k in job_lane:
        job_requests.append(tuple(lanes[k].stream.job_requests[nth[k]]))
        nth[k] += 1
    return SimTrace(events=tuple(events), op_names=lanes[0].gt.names, job_requests=tuple(job_requests),
                    job_batches=tuple(len(r) for r in job_requests), workload=graph.name, platform=platform.name,
                    policy=policy, loads=tuple(rates.load_log), stream_names=tuple(ln.name for ln in lanes),
                    stream_op_names=tuple(ln.gt.names for ln in lanes), job_streams=tuple(job_lane))
