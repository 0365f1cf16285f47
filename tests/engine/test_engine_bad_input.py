"""Bad input to the simulator: a clear SimulationError naming the argument."""

from __future__ import annotations

import math

import pytest
from engine_helpers import chain

from sparoa_sim.arrivals import Batching, ClosedLoop, Poisson, TraceArrivals, load_arrival_trace, parse_arrival
from sparoa_sim.engine import Simulator
from sparoa_sim.errors import SimulationError, SparOAError
from sparoa_sim.hwstate import BackgroundLoad
from sparoa_sim.simconfig import SimConfig


@pytest.mark.parametrize("rate", [-1.0, 0.0, math.nan, math.inf])
def test_bad_rate(rate):
    with pytest.raises(SimulationError, match="rate"):
        Poisson(rate, 3)
    with pytest.raises(SimulationError, match="rate|poisson"):
        parse_arrival(f"poisson:{rate}", 3)


@pytest.mark.parametrize("b", [0, -2, 1.5, True])
def test_bad_batch_size(b):
    with pytest.raises(SimulationError, match="batch size"):
        Batching(max_batch=b)


def test_bad_counts_and_timeouts():
    with pytest.raises(SimulationError, match="n_requests"):
        ClosedLoop(0)
    with pytest.raises(SimulationError, match="concurrency"):
        ClosedLoop(3, concurrency=0)
    with pytest.raises(SimulationError, match="timeout_s"):
        Batching(timeout_s=-1)
    with pytest.raises(SimulationError, match="max_inflight"):
        Batching(max_inflight=0)
    with pytest.raises(SimulationError, match="closed loop"):
        Simulator(chain(2), "jetson-agx-orin-64gb", arrivals=ClosedLoop(10, concurrency=1), batching=Batching.fixed(4))


def test_unsorted_or_bad_arrival_trace(tmp_path):
    with pytest.raises(SimulationError, match="sorted"):
        TraceArrivals((0.0, 0.2, 0.1))
    with pytest.raises(SimulationError, match="negative"):
        TraceArrivals((-1.0, 0.2))
    with pytest.raises(SimulationError, match="no arrival times"):
        TraceArrivals(())
    f = tmp_path / "t.json"
    f.write_text("[0.0, 0.3, 0.2]")
    with pytest.raises(SimulationError, match=r"t\.json.*sorted"):
        load_arrival_trace(f)
    f.write_text("0.0\n0.1\n0.4\n")
    assert parse_arrival(f"trace:{f}").times == (0.0, 0.1, 0.4)
    with pytest.raises(SimulationError, match="unknown arrival"):
        parse_arrival("uniform:3")


def test_bad_simulator_arguments():
    g = chain(2)
    with pytest.raises(SimulationError, match="policy"):
        Simulator(g, "jetson-agx-orin-64gb", "nonsense")
    with pytest.raises(SimulationError, match="seed"):
        Simulator(g, "jetson-agx-orin-64gb", seed=-1)
    with pytest.raises(SimulationError, match="precision"):
        SimConfig(precision="int4")
    with pytest.raises(SparOAError, match="power mode"):
        Simulator(g, "jetson-agx-orin-64gb", config=SimConfig(mode="999W"))
    with pytest.raises(SparOAError, match="unknown workload"):
        Simulator("no_such_net", "jetson-agx-orin-64gb")
    with pytest.raises(SparOAError, match="unknown platform"):
        Simulator(g, "no-such-board")
    with pytest.raises(SimulationError, match="arrivals"):
        Simulator(g, "jetson-agx-orin-64gb", arrivals=[0.0, 1.0])
    with pytest.raises(SimulationError, match="background"):
        BackgroundLoad(levels=(0.0, 1.0))
    with pytest.raises(SimulationError, match="mean_hold_s"):
        BackgroundLoad(mean_hold_s=0)
