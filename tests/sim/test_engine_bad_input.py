"""Bad input to the simulator: a clear SimulationError naming the argument."""

from __future__ import annotations

import math

import pytest
from engine_helpers import chain

from sparoa_sim.sim.arrivals import Batching, ClosedLoop, Poisson, TraceArrivals, load_arrival_trace, parse_arrival
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.errors import SimulationError, SparOAError
from sparoa_sim.sim.hwstate import BackgroundLoad
from sparoa_sim.sim.config import SimConfig


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


class _OrderedBothWays:
    """A policy whose static order lists every operator on both devices but runs them whole."""

    name = "both-ways"

    def reset(self, ctx):
        n = len(ctx.graph) if hasattr(ctx, "graph") else ctx.n_ops
        self.order = {"cpu": list(range(n)), "gpu": list(range(n))}

    def decide(self, view):
        return 0 if view.op == 0 else 1


@pytest.mark.parametrize("levels", [(0.25,), (0.25, 0.25), (0.0, 0.25)])
def test_whole_operator_against_an_order_listing_it_on_both_devices_is_refused(levels):
    """It used to leave the other device's ordered queue waiting forever — a hang when the
    background never changed (the only place a stall was looked for)."""
    sim = Simulator(chain(4), "jetson-orin-nano-8gb", _OrderedBothWays(),
                    config=SimConfig(background=BackgroundLoad(levels=levels)))
    with pytest.raises(SimulationError, match="also lists it on the"):
        sim.run()


def test_bad_switches_traces_and_levels_are_refused():
    for switch in ("reference", "noise", "contention", "dispatch_interference", "host_io", "record_trace"):
        with pytest.raises(SimulationError, match=f"{switch} must be true or false"):
            SimConfig(**{switch: "false"})  # a truthy string must not switch the reference setting on
    for bad in ("0.5", [[0.0, 1.0], [2.0, 3.0]], [False, True], ["1", "2"]):
        with pytest.raises(SimulationError, match="arrival trace"):
            TraceArrivals(bad)
    with pytest.raises(SimulationError, match=r"shares in \[0, 0.95\]"):
        BackgroundLoad(levels=(0.0, 0.99))  # was clamped to 0.95 without a word
    for bad in (0.5, "ab", (True, 0.2)):
        with pytest.raises(SimulationError, match="list of shares"):
            BackgroundLoad(levels=bad)
