"""Replay: serve a request stream on real hardware under a placement, with dynamic batching (docs/architecture.md §7).

Requests arrive closed-loop (C clients, each sending its next request when the last one
returns) or open-loop (Poisson, or a trace of times) — the arrival values of
:mod:`sparoa_sim.sim.arrivals`, so the twin and the hardware see the same stream. Waiting requests
become a batch once ``max_batch`` wait, the oldest has waited ``timeout_s``, or no more will
arrive; each batch is one pass of the :class:`~sparoa_sim.real.run.executor.HybridExecutor` (CPU
and GPU concurrently inside it). Reported: measured latency percentiles, throughput, energy per
inference where a meter exists (``None`` otherwise), busy time per device. A request whose
batch fails (an operator, its input, or the placement asked for it) is reported failed, with
the operator named where one failed, and the stream goes on; Ctrl-C stops the stream and the
partial report is returned (``interrupted``).

The placement is fixed (a schedule or a list of GPU shares) or dynamic: an object with
``place(batch) -> StaticSchedule`` (e.g. :class:`~sparoa_sim.real.run.policy_placer.SB3Placer`, a
trained SB3 scheduler queried per operator with the live hardware state) is asked before each
batch, and the time it takes counts in the batch's latency (it is also reported on its own).
``torch_trace_path`` records the stream with ``torch.profiler`` and writes its Chrome trace,
to open beside the twin's trace and the executor's own (``trace_path``).

Before the first timed request, ``warmup`` batches of ``max_batch`` requests run untimed (CUDA
context, cuDNN algorithm choice, allocator pools, pinned staging buffers, page faults): a cold
start is not a request's latency. Their count and times are reported apart (``warmup_*``), as
is the executor's precision record (``precision``).

Each served batch's service time (the pass, and the placement's decision) is kept, so the report
gives the service rate measured beside the rate the stream offers (``offered_rate``): an open-loop
stream offered faster than the host serves it builds a queue, and its latency measures the queue.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sparoa_sim.sim.arrivals import Arrivals, Batching, ClosedLoop, Periodic, Poisson, TraceArrivals
from sparoa_sim.errors import SimulationError
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.real.measure.allocator import keep_freed_memory
from sparoa_sim.real.run.executor import ExecutorError, HybridExecutor, RunResult
from sparoa_sim.real.measure.meters import Meter, measure_energy
from sparoa_sim.sim.results import summarise_latencies
from sparoa_sim.sim.trace import SimTrace

__all__ = ["ReplayReport", "offered_rate", "replay"]


@dataclass(frozen=True)
class ReplayReport:
    """Measured metrics of one replayed stream (seconds, joules; keys as docs/architecture.md §9)."""

    workload: str
    arrival: str
    max_batch: int
    n_requests: int
    completed: int
    failed: tuple[dict[str, Any], ...]  # {"request", "op", "message"}
    latencies_s: tuple[float, ...]
    makespan_s: float
    cpu_busy_s: float
    gpu_busy_s: float
    batches: tuple[int, ...]  # size of each batch served
    energy_j: float | None
    meters: Mapping[str, Any] = field(default_factory=dict)
    energy_scope: str | None = None  # what energy_j covers: board, cpu+gpu, cpu only, gpu only
    devices: Mapping[str, str] = field(default_factory=dict)
    interrupted: bool = False
    decisions: int = 0  # policy queries of a dynamic placement (0 for a fixed one)
    decide_s: float = 0.0  # seconds spent deciding them
    live_load: Mapping[str, Any] = field(default_factory=dict)  # load sources and the last sample
    warmup_s: tuple[float, ...] = ()  # wall time of each untimed warm-up batch, in order
    warmup_batch: int = 0  # requests per warm-up batch
    warmup_error: str | None = None  # why warm-up stopped early (the stream reports its own failures)
    precision: Mapping[str, Any] = field(default_factory=dict)  # the executor's precision record
    service_s: tuple[float, ...] = ()  # wall time of each served batch: its placement decision and its pass
    offered_rate_rps: float | None = None  # requests per second the stream offers (None: closed loop)

    @property
    def service_rate_rps(self) -> float | None:
        """Requests the host served per second of service (at the batch sizes served); None before any."""
        total = sum(self.service_s)
        return sum(self.batches) / total if self.service_s and total > 0 else None

    @property
    def overloaded(self) -> bool | None:
        """Whether the stream offered requests faster than the host served them (None: not measurable)."""
        mu = self.service_rate_rps
        return None if mu is None or self.offered_rate_rps is None else self.offered_rate_rps > mu

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: the common result keys plus replay's own."""
        mean, p50, p95, p99, worst = summarise_latencies(np.asarray(self.latencies_s))
        return {
            "workload": self.workload, "arrival": self.arrival, "max_batch": self.max_batch,
            "n_requests": self.n_requests, "completed": self.completed, "failed": len(self.failed),
            "failures": list(self.failed), "interrupted": self.interrupted,
            "latency_mean_s": mean, "latency_p50_s": p50, "latency_p95_s": p95, "latency_p99_s": p99,
            "latency_max_s": worst,
            # the first timed request (after warm-up) beside the median: a cold start left in the
            # timed stream shows here
            "latency_first_s": self.latencies_s[0] if self.latencies_s else None,
            "first_over_median": (self.latencies_s[0] / p50 if self.latencies_s and p50 > 0 else None),
            "throughput_rps": self.completed / self.makespan_s if self.makespan_s > 0 else 0.0,
            "energy_per_inference_j": (self.energy_j / self.completed
                                       if self.energy_j is not None and self.completed else None),
            "energy_j": self.energy_j, "energy_scope": self.energy_scope,
            "cpu_busy_s": self.cpu_busy_s, "gpu_busy_s": self.gpu_busy_s,
            "makespan_s": self.makespan_s, "batches": len(self.batches),
            "mean_batch": float(np.mean(self.batches)) if self.batches else 0.0,
            "devices": dict(self.devices), "meters": dict(self.meters),
            "policy_decisions": self.decisions, "policy_decide_s": self.decide_s, "live_load": dict(self.live_load),
            "warmup_batches": len(self.warmup_s), "warmup_batch_size": self.warmup_batch,
            "warmup_s": list(self.warmup_s), "warmup_first_s": self.warmup_s[0] if self.warmup_s else None,
            "warmup_last_s": self.warmup_s[-1] if self.warmup_s else None, "warmup_error": self.warmup_error,
            "precision": dict(self.precision),
            "offered_rate_rps": self.offered_rate_rps, "service_rate_rps": self.service_rate_rps,
            "overloaded": self.overloaded,
        }


def offered_rate(arrivals: Arrivals) -> float | None:
    """Requests per second an open-loop stream offers (Poisson's rate, a camera's fps, a trace's mean
    rate over its span); None for a closed loop, whose clients wait for the server."""
    if isinstance(arrivals, Poisson):
        return arrivals.rate
    if isinstance(arrivals, Periodic):
        return arrivals.fps
    if isinstance(arrivals, TraceArrivals):
        span = arrivals.times[-1] - arrivals.times[0]
        return (len(arrivals.times) - 1) / span if span > 0 else None
    return None


class _Stream:
    """Arrival times (seconds from the start) as the replay discovers them."""

    def __init__(self, arrivals: Arrivals, max_batch: int, seed: int) -> None:
        self.closed = isinstance(arrivals, ClosedLoop)
        self.n = arrivals.n_requests
        if isinstance(arrivals, ClosedLoop):
            c = arrivals.concurrency or max_batch
            self.times: list[float] = [0.0] * min(c, self.n)
        elif isinstance(arrivals, Poisson):
            gaps = np.random.default_rng(seed).exponential(1.0 / arrivals.rate, size=self.n)
            self.times = list(np.cumsum(gaps) - gaps[0])
        elif isinstance(arrivals, TraceArrivals):
            self.times = list(arrivals.times)
        elif isinstance(arrivals, Periodic):
            self.times = arrivals.times()
        else:
            raise SimulationError(f"replay: unsupported arrivals {arrivals!r}")
        self.next = 0

    def done_issuing(self) -> bool:
        return self.next >= self.n

    def due(self, now: float) -> list[tuple[int, float]]:
        out = []
        while self.next < len(self.times) and self.times[self.next] <= now:
            out.append((self.next, self.times[self.next]))
            self.next += 1
        return out

    def upcoming(self) -> float | None:
        return self.times[self.next] if self.next < len(self.times) else None

    def returned(self, k: int, now: float) -> None:
        """Closed loop: each returned request lets its client send the next one now."""
        if self.closed:
            for _ in range(k):
                if len(self.times) < self.n:
                    self.times.append(now)


def replay(
    executor: HybridExecutor,
    placement: StaticSchedule | Sequence[float],
    make_input: Callable[[int], torch.Tensor],
    arrivals: Arrivals,
    batching: Batching = Batching(),
    *,
    seed: int = 0,
    meters: Mapping[str, Meter] | None = None,
    trace_path: str | Path | None = None,
    torch_trace_path: str | Path | None = None,
    clock: Callable[[], float] = time.perf_counter,
    warmup: int = 3,
) -> tuple[ReplayReport, Path | None]:
    """Serve ``arrivals`` (inputs from ``make_input(request_id)``, one sample each) → report, trace path.

    ``warmup``: untimed batches before the stream (reported apart; 0: none)."""
    if not isinstance(batching, Batching):
        raise SimulationError(f"replay: 'batching' must be a Batching, got {type(batching).__name__}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise SimulationError(f"replay: 'warmup' must be an integer >= 0, got {warmup!r}")
    placer = placement if callable(getattr(placement, "place", None)) else None
    executor.shares(placement if placer is None else placer.place(1))  # bad placements fail before the stream
    keep_freed_memory()  # serve as a steady process does: freed activations stay mapped (real.measure.allocator)
    warm_n = min(batching.max_batch, max(1, arrivals.n_requests))
    warm_s: list[float] = []
    warm_error = None
    interrupted = False
    try:
        warm_error = _warm_up(executor, placement, placer, make_input, warmup, warm_n, warm_s)
    except KeyboardInterrupt:
        interrupted = True
    decided = (getattr(placer, "decisions", 0), getattr(placer, "decide_s", 0.0))  # the above is not served work
    stream = _Stream(arrivals, batching.max_batch, seed)
    pending: deque[tuple[int, float]] = deque()
    latencies: list[float] = []
    failed: list[dict[str, Any]] = []
    sizes: list[int] = []
    service: list[float] = []
    busy = [0.0, 0.0]
    events: list[tuple] = []
    job_requests: list[tuple[int, ...]] = []
    names: tuple[str, ...] = tuple(op.name for op in executor.graph.ops)
    devices: Mapping[str, str] = {}
    t0 = clock()
    with measure_energy(meters) as energy, _torch_profile(torch_trace_path) as prof:
        try:
            while not interrupted and len(latencies) + len(failed) < stream.n:
                now = clock() - t0
                pending.extend(stream.due(now))
                if not pending:
                    nxt = stream.upcoming()
                    if nxt is None:  # closed loop with nothing outstanding cannot happen; guard anyway
                        break
                    time.sleep(max(0.0, nxt - now))
                    continue
                full = len(pending) >= batching.max_batch
                waited = now - pending[0][1] >= batching.timeout_s
                if not (full or waited or stream.done_issuing() or stream.upcoming() is None):
                    wake = [t for t in (stream.upcoming(), pending[0][1] + batching.timeout_s) if t is not None]
                    time.sleep(max(0.0, min(wake) - now) if wake and math.isfinite(min(wake)) else 0.0)
                    continue
                batch = [pending.popleft() for _ in range(min(batching.max_batch, len(pending)))]
                ids = tuple(r for r, _ in batch)
                try:
                    x = torch.cat([make_input(r) for r in ids])
                    served_from = clock()
                    plc = placement if placer is None else placer.place(len(ids))
                    start = clock() - t0
                    res = executor.run(x, placement=plc)
                except ExecutorError as exc:
                    failed.extend({"request": r, "op": exc.op_name, "message": str(exc)} for r in ids)
                except Exception as exc:  # noqa: BLE001 - a bad input or placement fails its batch, not the stream
                    failed.extend({"request": r, "op": None, "message": f"{type(exc).__name__}: {exc}"} for r in ids)
                else:
                    end = clock() - t0
                    latencies.extend(end - t for _, t in batch)
                    sizes.append(len(ids))
                    service.append(clock() - served_from)
                    busy[0] += res.busy_s("cpu")
                    busy[1] += res.busy_s("gpu")
                    devices = res.devices
                    if trace_path is not None:
                        events.extend(_shift(res, start, len(job_requests)))
                        job_requests.append(ids)
                stream.returned(len(ids), clock() - t0)
        except KeyboardInterrupt:
            interrupted = True
    makespan = clock() - t0
    report = ReplayReport(
        workload=executor.workload, arrival=arrivals.describe(), max_batch=batching.max_batch,
        n_requests=stream.n, completed=len(latencies), failed=tuple(failed), latencies_s=tuple(latencies),
        makespan_s=makespan, cpu_busy_s=busy[0], gpu_busy_s=busy[1], batches=tuple(sizes),
        energy_j=energy.energy_j, meters=energy.to_dict()["meters"], energy_scope=energy.scope, devices=devices,
        interrupted=interrupted,
        decisions=getattr(placer, "decisions", 0) - decided[0], decide_s=getattr(placer, "decide_s", 0.0) - decided[1],
        live_load={} if placer is None else {"sources": dict(getattr(placer, "load_sources", {})),
                                              "last": list(getattr(placer, "last_load", ()))},
        warmup_s=tuple(warm_s), warmup_batch=warm_n if warm_s else 0, warmup_error=warm_error,
        precision=executor.precision_record() if hasattr(executor, "precision_record") else {},
        service_s=tuple(service), offered_rate_rps=offered_rate(arrivals),
    )
    if prof is not None:
        _export_torch_trace(prof, Path(torch_trace_path))
    path = None
    if trace_path is not None:
        tr = SimTrace(events=tuple(events), op_names=names, job_requests=tuple(job_requests),
                      job_batches=tuple(len(r) for r in job_requests), workload=executor.workload,
                      platform=f"real: {devices.get('cpu', 'cpu')} + {devices.get('gpu', 'gpu')}", policy="replay")
        path = tr.save(trace_path)
    return report, path


def _warm_up(executor: HybridExecutor, placement: Any, placer: Any, make_input: Callable[[int], torch.Tensor],
             batches: int, size: int, out: list[float]) -> str | None:
    """Run ``batches`` untimed passes of the first ``size`` requests' inputs, their wall times
    appended to ``out``; a failure stops the warm-up and is returned (the stream meets it again)."""
    if batches == 0:
        return None
    try:
        x = torch.cat([make_input(r) for r in range(size)])
        for _ in range(batches):
            t0 = time.perf_counter()
            executor.run(x, placement=placement if placer is None else placer.place(size))
            out.append(time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - reported; the stream reports each request's own failure
        return f"{type(exc).__name__}: {exc}"
    return None


@contextlib.contextmanager
def _torch_profile(path: str | Path | None):
    """``torch.profiler`` over the stream (CPU, and CUDA where present), or nothing without a path."""
    if path is None:
        yield None
        return
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=acts) as prof:
        yield prof


def _export_torch_trace(prof: Any, path: Path) -> Path:
    """Write the profiler's Chrome trace atomically (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        prof.export_chrome_trace(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _shift(res: RunResult, offset: float, job: int) -> list[tuple]:
    """The run's trace events moved to the stream's clock and labelled with the batch index."""
    return [(tr, kind, op, job, t0 + offset, t1 + offset, a, b)
            for tr, kind, op, _, t0, t1, a, b in res.trace(job=job).events]
