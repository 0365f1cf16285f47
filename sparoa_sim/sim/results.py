"""What a simulation run measured, as one frozen value with ``to_json()`` (docs/architecture.md §4, §9).

Keys follow the command line's one vocabulary: ``latency_mean_s``, ``latency_p50_s``,
``latency_p95_s``, ``latency_p99_s``, ``throughput_rps``, ``energy_per_inference_j``,
``cpu_busy_s``, ``gpu_busy_s``, ``makespan_s`` and more. Latency of a request is its completion
time minus its arrival time; the makespan runs from the first arrival to the last completion;
an inference is one request (one sample), so ``energy_per_inference_j`` is the run's energy —
device energy of every operator and copy plus the board's idle power over the makespan —
divided by the number of requests.

With co-running streams (``sim.streams``) the headline figures — latency, throughput, makespan,
requests, batches, decisions, placement — are the *primary* stream's; the board's figures —
energy, busy time, utilisation, copies — cover the whole run (every stream, from the first
arrival of any stream to the last completion), and ``energy_per_inference_j`` is that energy
divided by the requests of *all* streams. ``streams`` holds each stream's own figures
(:class:`StreamStats`, the primary first), with its SLO satisfaction rate where it has a deadline.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

__all__ = ["Results", "SUMMARY_KEYS", "StreamStats", "slo_rate", "summarise_latencies"]

#: Keys every simulation result carries (docs/architecture.md §9).
SUMMARY_KEYS: tuple[str, ...] = (
    "latency_mean_s", "latency_p50_s", "latency_p95_s", "latency_p99_s", "throughput_rps",
    "energy_per_inference_j", "cpu_busy_s", "gpu_busy_s", "makespan_s",
)


def summarise_latencies(lat: np.ndarray) -> tuple[float, float, float, float, float]:
    """(mean, p50, p95, p99, max) of per-request latencies (linear-interpolated percentiles)."""
    a = np.asarray(lat, dtype=float)
    if a.size == 0:
        return (0.0, 0.0, 0.0, 0.0, 0.0)
    if a.size == 1:  # one request (every SparOA-v0 episode end): each figure is that latency
        v = float(a.reshape(-1)[0])
        if v - v == 0.0:  # finite (numpy's percentile of a lone ±inf is nan)
            return (v, v, v, v, v)
    p50, p95, p99 = np.percentile(a, [50.0, 95.0, 99.0])
    return float(a.mean()), float(p50), float(p95), float(p99), float(a.max())


def slo_rate(lat: np.ndarray, deadline_s: float | None) -> float | None:
    """Share of requests whose latency is at most ``deadline_s`` (None without a deadline)."""
    if deadline_s is None:
        return None
    a = np.asarray(lat, dtype=float)
    return float(np.count_nonzero(a <= deadline_s) / a.size) if a.size else 1.0


@dataclass(frozen=True)
class StreamStats:
    """One request stream's figures in a run (the primary's, or a co-running workload's).

    (No policy name here: the primary's is ``Results.policy``, so that results of one run under
    two names of one policy compare equal once that field is aligned.)"""

    name: str
    workload: str
    arrival: str
    n_requests: int
    n_batches: int
    latency_mean_s: float
    latency_p50_s: float
    latency_p95_s: float
    latency_p99_s: float
    latency_max_s: float
    throughput_rps: float
    makespan_s: float
    deadline_s: float | None
    slo_met: float | None  # share of requests with latency <= deadline_s; None without a deadline


@dataclass(frozen=True)
class Results:
    """Metrics of one run. Times in seconds, energy in joules, utilisation as fractions."""

    workload: str
    platform: str
    mode: str
    precision: str
    policy: str
    arrival: str
    max_batch: int
    seed: int | None
    reference: bool
    n_requests: int
    n_batches: int
    n_ops: int
    latency_mean_s: float
    latency_p50_s: float
    latency_p95_s: float
    latency_p99_s: float
    latency_max_s: float
    throughput_rps: float
    makespan_s: float
    energy_j: float
    energy_per_inference_j: float
    idle_energy_j: float
    cpu_energy_j: float
    gpu_energy_j: float
    transfer_energy_j: float
    cpu_busy_s: float
    gpu_busy_s: float
    host_busy_s: float
    cpu_util: float
    gpu_util: float
    transfers: int
    transfer_bytes: float
    transfer_busy_s: float
    ops_executed: int
    decisions: int
    mean_batch: float
    placement: tuple[float, ...]
    latencies_s: tuple[float, ...]
    streams: tuple[StreamStats, ...] = ()

    @property
    def gpu_ops(self) -> int:
        """Operators of the first batch with a GPU part."""
        return sum(1 for s in self.placement if s > 0.0)

    @property
    def split_ops(self) -> int:
        """Operators of the first batch split across both devices."""
        return sum(1 for s in self.placement if 0.0 < s < 1.0)

    def to_dict(self, per_request: bool = True) -> dict[str, Any]:
        """Plain JSON-able dict; ``per_request=False`` leaves out the per-request latencies."""
        d = asdict(self)
        d["placement"] = list(self.placement)
        d["streams"] = [dict(x) for x in d["streams"]]
        d["gpu_ops"] = self.gpu_ops
        d["split_ops"] = self.split_ops
        if per_request:
            d["latencies_s"] = list(self.latencies_s)
        else:
            d.pop("latencies_s")
        return d

    def to_json(self, indent: int | None = None, per_request: bool = True) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(per_request), indent=indent, allow_nan=False)

    def stream(self, name: str) -> StreamStats:
        """The figures of the stream called ``name``."""
        for st in self.streams:
            if st.name == name:
                return st
        raise KeyError(f"no stream {name!r} in these results (streams: {[st.name for st in self.streams]})")

    @property
    def slo_met(self) -> float | None:
        """The primary stream's SLO satisfaction rate (None without a deadline)."""
        return self.streams[0].slo_met if self.streams else None

    def summary(self) -> dict[str, float]:
        """Just the :data:`SUMMARY_KEYS`."""
        return {k: getattr(self, k) for k in SUMMARY_KEYS}


assert all(k in {f.name for f in fields(Results)} for k in SUMMARY_KEYS)
