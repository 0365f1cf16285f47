"""The request and batching layer against closed-form queueing results."""

from __future__ import annotations

import math

import numpy as np
import pytest
from engine_helpers import chain

from sparoa_sim.sim.arrivals import Batching, ClosedLoop, Poisson, TraceArrivals
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.sim.config import SimConfig

REF = SimConfig(reference=True, record_trace=False)


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_md1_mean_sojourn_time(platform, rho):
    """One request at a time, deterministic service D, Poisson arrivals: W = D + ρD / (2(1 − ρ))."""
    g = chain(3)
    one = Simulator(g, platform, "gpu", config=REF).run()
    d = one.latency_mean_s
    lam = rho / d
    n = 40_000
    res = Simulator(g, platform, "gpu", arrivals=Poisson(lam, n), config=REF, seed=1).run()
    w = d + rho * d / (2 * (1 - rho))
    assert res.latency_mean_s == pytest.approx(w, rel=0.02)
    assert res.throughput_rps == pytest.approx(lam, rel=0.02)
    assert res.gpu_busy_s == pytest.approx(n * one.gpu_busy_s, rel=1e-9)  # deterministic service
    assert res.gpu_util == pytest.approx(lam * one.gpu_busy_s, rel=0.02)
    assert min(res.latencies_s) == pytest.approx(d, rel=1e-9)  # nobody is served faster than D


def test_closed_loop_fixed_batches(platform):
    g = chain(4)
    one = Simulator(g, platform, "gpu", arrivals=ClosedLoop(3), batching=Batching.fixed(3), config=REF).run()
    res = Simulator(g, platform, "gpu", arrivals=ClosedLoop(30), batching=Batching.fixed(3), config=REF).run()
    d3 = one.latency_mean_s
    assert res.n_batches == 10 and res.mean_batch == 3
    assert all(x == pytest.approx(d3, rel=1e-12) for x in res.latencies_s)
    assert res.throughput_rps == pytest.approx(3 / d3, rel=1e-9)
    # a partial last batch is flushed when the source runs dry
    res = Simulator(g, platform, "gpu", arrivals=ClosedLoop(7), batching=Batching.fixed(3), config=REF).run()
    assert res.n_batches == 3 and res.n_requests == 7


def test_batch_timeout_and_inflight(platform):
    g = chain(2)
    d1 = Simulator(g, platform, "gpu", config=REF).run().latency_mean_s
    d2 = Simulator(g, platform, "gpu", arrivals=ClosedLoop(2), batching=Batching.fixed(2), config=REF).run().latency_mean_s
    t = 0.01
    arr = TraceArrivals((0.0, 0.001, 0.5))
    res = Simulator(g, platform, "gpu", arrivals=arr, batching=Batching(max_batch=2, timeout_s=t), config=REF).run()
    assert res.n_batches == 2
    lat = res.latencies_s
    assert lat[0] == pytest.approx(0.001 + d2, rel=1e-9)  # waits for the second request
    assert lat[1] == pytest.approx(d2, rel=1e-9)
    assert lat[2] == pytest.approx(d1, rel=1e-9)  # the source is dry: flushed at once
    arr = TraceArrivals((0.0, 0.5, 0.9))
    res = Simulator(g, platform, "gpu", arrivals=arr, batching=Batching(max_batch=2, timeout_s=t), config=REF).run()
    assert res.latencies_s[0] == pytest.approx(t + d1, rel=1e-9)  # the timeout forms a batch of one
    # two batches in flight overlap; one at a time queues
    arr = TraceArrivals((0.0, 0.0))
    serial = Simulator(g, platform, "gpu", arrivals=arr, config=REF).run()
    both = Simulator(g, platform, "gpu", arrivals=arr, batching=Batching(max_inflight=2), config=REF).run()
    assert serial.latencies_s[1] == pytest.approx(2 * d1, rel=1e-9)
    assert both.makespan_s < serial.makespan_s


def test_trace_arrivals_and_time_in_system(platform):
    g = chain(2)
    times = np.cumsum(np.full(20, 0.05))
    sim = Simulator(g, platform, "cpu", arrivals=TraceArrivals(tuple(times)), config=REF)
    res = sim.run()
    d = res.latencies_s[0]
    assert all(x == pytest.approx(d, rel=1e-9) for x in res.latencies_s)  # an idle server each time
    assert res.makespan_s == pytest.approx(times[-1] - times[0] + d, rel=1e-9)
    assert sim.time_in_system == pytest.approx(sum(res.latencies_s), rel=1e-9)
    assert sim.n_in_system == 0 and sim.requests_done == 20
    assert not math.isnan(res.energy_per_inference_j)
