"""Batch-size optimiser (docs/architecture.md §6): for an arrival rate and a latency SLO, the batch size that
maximises throughput within the SLO, found with the twin.

Each candidate batch size ``b`` is simulated on the same Poisson arrival stream (same seed:
common random numbers) with batches of up to ``b`` requests; a candidate is feasible when the
chosen latency statistic (p95 by default) is within the SLO. Among feasible candidates the
highest throughput wins; throughputs within ``tie_rel`` of the best count as equal (below
saturation every stable batch size carries the offered rate), and then the lowest latency wins.
No feasible candidate → :class:`~sparoa_sim.errors.SimulationError` naming the SLO, the rate
and the best latency reached.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sparoa_sim.errors import SimulationError
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.hwmodels import Platform
from sparoa_sim.sim.predtables import PredictionCache

__all__ = ["BatchEval", "BatchChoice", "DEFAULT_CANDIDATES", "STATS", "optimise_batch"]

DEFAULT_CANDIDATES: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
#: Latency statistics an SLO may constrain, as Results fields.
STATS: dict[str, str] = {"mean": "latency_mean_s", "p50": "latency_p50_s", "p95": "latency_p95_s",
                         "p99": "latency_p99_s", "max": "latency_max_s"}


@dataclass(frozen=True)
class BatchEval:
    """One candidate's simulated figures."""

    batch: int
    throughput_rps: float
    latency_s: float  # the SLO statistic
    latency_mean_s: float
    feasible: bool

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "throughput_rps": self.throughput_rps, "latency_s": self.latency_s,
                "latency_mean_s": self.latency_mean_s, "feasible": self.feasible}


@dataclass(frozen=True)
class BatchChoice:
    """The chosen batch size and every candidate's figures."""

    batch: int
    throughput_rps: float
    latency_s: float
    slo_s: float
    stat: str
    rate_rps: float
    requests: int
    candidates: tuple[BatchEval, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "throughput_rps": self.throughput_rps, "latency_s": self.latency_s,
                "slo_s": self.slo_s, "stat": self.stat, "rate_rps": self.rate_rps, "requests": self.requests,
                "candidates": [c.to_dict() for c in self.candidates]}


def _positive(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
        raise SimulationError(f"batch-size optimiser: {name} must be a positive finite number, got {v!r}")
    return float(v)


def optimise_batch(workload: OpGraph | str | os.PathLike[str], platform: Platform | str | os.PathLike[str],
                   policy: Any = "gpu", *, rate_rps: float, slo_s: float, stat: str = "p95",
                   candidates: Sequence[int] = DEFAULT_CANDIDATES, requests: int | None = None,
                   batch_timeout_s: float = math.inf, max_inflight: int = 1, seed: int | None = 0,
                   reference: bool = False, mode: str | None = None, precision: str = "fp32",
                   tie_rel: float = 0.01, policy_kwargs: dict[str, Any] | None = None) -> BatchChoice:
    """Simulate each candidate batch size under Poisson arrivals at ``rate_rps``; pick the one
    with the highest throughput whose ``stat`` latency is within ``slo_s`` (see module doc).

    ``requests`` defaults to ``max(200, 8 × largest candidate)``.
    """
    from sparoa_sim.sim.arrivals import Batching, Poisson
    from sparoa_sim.sim.simulator import Simulator
    from sparoa_sim.sim.config import SimConfig

    rate = _positive("rate_rps", rate_rps)
    slo = _positive("slo_s", slo_s)
    if stat not in STATS:
        raise SimulationError(f"batch-size optimiser: stat must be one of {', '.join(STATS)}, got {stat!r}")
    cands = sorted({int(b) for b in candidates}) if candidates else []
    if not cands or any(isinstance(b, bool) or int(b) != b or b < 1 for b in candidates):
        raise SimulationError(f"batch-size optimiser: candidates must be positive integers, got {candidates!r}")
    n_req = max(200, 8 * cands[-1]) if requests is None else int(requests)
    if n_req < 1:
        raise SimulationError(f"batch-size optimiser: requests must be >= 1, got {requests!r}")
    cache = PredictionCache()
    field = STATS[stat]
    evals = []
    for b in cands:
        sim = Simulator(workload, platform, policy, arrivals=Poisson(rate=rate, n_requests=n_req),
                        batching=Batching(max_batch=b, timeout_s=batch_timeout_s, max_inflight=max_inflight),
                        config=SimConfig(mode=mode, precision=precision, reference=reference, record_trace=False),
                        seed=seed, cache=cache, policy_kwargs=policy_kwargs)
        res = sim.run()
        lat = float(getattr(res, field))
        evals.append(BatchEval(batch=b, throughput_rps=float(res.throughput_rps), latency_s=lat,
                               latency_mean_s=float(res.latency_mean_s), feasible=lat <= slo))
    feasible = [e for e in evals if e.feasible]
    if not feasible:
        best = min(evals, key=lambda e: e.latency_s)
        raise SimulationError(
            f"batch-size optimiser: SLO {stat} <= {slo * 1e3:.4g} ms is infeasible at {rate:g} req/s on "
            f"{getattr(platform, 'name', platform)}: the best {stat} latency over batch sizes {cands} is "
            f"{best.latency_s * 1e3:.4g} ms (batch {best.batch})")
    top = max(e.throughput_rps for e in feasible)
    tied = [e for e in feasible if e.throughput_rps >= top * (1.0 - tie_rel)]
    pick = min(tied, key=lambda e: (e.latency_s, e.batch))
    return BatchChoice(batch=pick.batch, throughput_rps=pick.throughput_rps, latency_s=pick.latency_s, slo_s=slo,
                       stat=stat, rate_rps=rate, requests=n_req, candidates=tuple(evals))
