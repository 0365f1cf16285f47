"""Periodic (camera) arrivals: validation, parsing, and the D/D/1 queue they make in the reference setting."""

from __future__ import annotations

import math

import pytest
from engine_helpers import chain
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.errors import SimulationError
from sparoa_sim.sim.arrivals import Periodic, parse_arrival
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.simulator import Simulator, simulate

REF = SimConfig(reference=True, record_trace=False)


def test_frames_arrive_every_period_from_the_phase():
    p = Periodic(25, 4, phase_s=0.01)
    assert p.period_s == 0.04
    assert p.times() == [0.01, 0.01 + 1 / 25, 0.01 + 2 / 25, 0.01 + 3 / 25]
    assert p.describe() == "periodic:25+0.01"
    assert Periodic(30.0, 2).describe() == "periodic:30"


def test_parse_arrival_takes_periodic():
    assert parse_arrival("periodic:30", 7) == Periodic(30.0, 7)
    assert parse_arrival("Periodic: 12.5", 1) == Periodic(12.5, 1)
    with pytest.raises(SimulationError, match="periodic:FPS"):
        parse_arrival("periodic:fast", 3)
    with pytest.raises(SimulationError, match="fps"):
        parse_arrival("periodic:0", 3)


@pytest.mark.parametrize("kwargs, field", [
    (dict(fps=0), "fps"), (dict(fps=-5), "fps"), (dict(fps=math.nan), "fps"), (dict(fps=math.inf), "fps"),
    (dict(fps=True), "fps"), (dict(fps="30"), "fps"), (dict(fps=30, n_requests=0), "n_requests"),
    (dict(fps=30, n_requests=2.5), "n_requests"), (dict(fps=30, phase_s=-0.1), "phase_s"),
    (dict(fps=30, phase_s=math.nan), "phase_s"),
])
def test_bad_periodic_values_name_the_field(kwargs, field):
    with pytest.raises(SimulationError, match=field):
        Periodic(**kwargs)


def _service(platform, g) -> float:
    return Simulator(g, platform, "gpu", config=REF).run().latency_mean_s


def test_service_shorter_than_the_period_means_no_waiting(platform):
    g = chain(3)
    s = _service(platform, g)
    fps = 0.5 / s  # period = 2 S
    res = Simulator(g, platform, "gpu", arrivals=Periodic(fps, 12, phase_s=0.003), config=REF).run()
    assert res.arrival == Periodic(fps, 12, 0.003).describe()
    assert all(x == pytest.approx(s, rel=1e-12) for x in res.latencies_s)
    assert res.makespan_s == pytest.approx(11 / fps + s, rel=1e-12)
    assert res.throughput_rps == pytest.approx(12 / (11 / fps + s), rel=1e-12)


def test_overload_queues_up_linearly(platform):
    """Service S > period P: frame k waits k (S − P) more than frame 0 (deterministic D/D/1)."""
    g = chain(3)
    s = _service(platform, g)
    fps = 1.25 / s
    res = simulate(g, platform, "gpu", requests=10, arrival=f"periodic:{fps!r}", reference=True)
    for k, x in enumerate(res.latencies_s):
        assert x == pytest.approx(s + k * (s - 1 / fps), rel=1e-9)


@given(ratio=st.floats(0.2, 3.0), n=st.integers(1, 15), phase=st.floats(0.0, 0.01))
def test_latencies_follow_lindleys_recursion(platform, ratio, n, phase):
    """One batch in flight: completion_k = max(arrival_k, completion_{k-1}) + S."""
    g = chain(2)
    s = _service(platform, g)
    arr = Periodic(ratio / s, n, phase)
    res = Simulator(g, platform, "gpu", arrivals=arr, config=REF).run()
    prev = -math.inf
    for a, lat in zip(arr.times(), res.latencies_s):
        done = max(a, prev) + s
        assert a + lat == pytest.approx(done, rel=1e-9, abs=1e-12)
        prev = done
