"""Per-request activation sparsity for the engine (opt-in): reproducible draws, exact tables, no-op without spread."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels import load_platform, predict
from sparoa_sim.ir.sparsity import with_act_sparsity
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.sim.request_sparsity import RequestSparsity
from sparoa_sim.workloads import load_workload

NANO = load_platform("jetson-orin-nano-8gb")
lat = dataclasses.replace(NANO.cpu.latency, act_kinds=("linear",), act_eta=0.2, act_gather=20.0, act_launch=1e-5,
                          g_a=1.0)
ACT = NANO.with_latency("cpu", lat, origin="assumed", note="test")
VGG = load_workload("vgg16")
SPREAD = with_act_sparsity(VGG, 0.93, ops=[34], std=0.04, label="vgg16_spread")


def tables(graph, platform=ACT):
    return PredictionCache().tables(graph, platform, 1, platform.mode(None).name, "fp32")


def test_without_spread_the_engine_tables_come_back_untouched():
    base = tables(VGG)
    rs = RequestSparsity(VGG, seed=3)
    assert not rs.varies and rs.tables(base, [0, 1]) is base
    assert np.array_equal(rs.draw(5), VGG.arrays.act_sparsity)


@given(seed=st.integers(0, 2**32), request=st.integers(0, 10_000))
def test_draws_depend_on_seed_and_request_only(seed, request):
    a, b = RequestSparsity(SPREAD, seed), RequestSparsity(SPREAD, seed)
    d = a.draw(request)
    assert np.array_equal(d, b.draw(request))
    assert 0.0 <= d[34] <= 1.0
    others = np.arange(len(d)) != 34
    assert np.array_equal(d[others], SPREAD.arrays.act_sparsity[others])  # no spread: the mean exactly


def test_draws_spread_around_the_recorded_mean():
    rs = RequestSparsity(SPREAD, seed=0)
    d = np.array([rs.draw(r)[34] for r in range(400)])
    assert abs(d.mean() - 0.93) < 0.01 and abs(d.std() - 0.04) < 0.01
    assert rs.draw(1)[34] != rs.draw(2)[34]


def test_tables_are_the_prediction_at_the_batch_draw():
    base = tables(SPREAD)
    rs = RequestSparsity(SPREAD, seed=7)
    t = rs.tables(base, [3, 4])
    drawn = rs.batch_draw([3, 4])
    assert np.allclose(drawn, (rs.draw(3) + rs.draw(4)) / 2)
    want = predict(ACT, dataclasses.replace(SPREAD.hw_ops, act_sparsity=drawn), 1)
    assert t.lat[0] == want.latency[:, 0].tolist() and t.lat[1] == want.latency[:, 1].tolist()
    assert t.fastest == [min(c, g) for c, g in zip(t.lat[0], t.lat[1])]
    assert base.lat[0][34] != t.lat[0][34] and base.lat[1] == t.lat[1]  # only the CPU's kernel reads the zeros
    assert t.at_load(0, 0.5) != base.at_load(0, 0.5)  # its own load cache


def test_a_sparser_request_is_no_slower_on_the_cpu():
    base = tables(SPREAD)
    rs = RequestSparsity(SPREAD, seed=11)
    draws = [(rs.draw(r)[34], rs.tables(base, [r]).lat[0][34]) for r in range(40)]
    draws.sort()
    assert all(b[1] <= a[1] for a, b in zip(draws, draws[1:]))


def test_bad_input_names_the_field():
    with pytest.raises(SimulationError, match="field 'seed'"):
        RequestSparsity(SPREAD, seed="x")
    with pytest.raises(SimulationError, match="field 'request'"):
        RequestSparsity(SPREAD, seed=0).draw(-1)
    with pytest.raises(SimulationError, match="at least one request"):
        RequestSparsity(SPREAD, seed=0).batch_draw([])
    with pytest.raises(SimulationError, match="tables of graph"):
        RequestSparsity(SPREAD, seed=0).tables(tables(VGG), [0])


def _cpu_run(graph, request_sparsity: bool, seed: int = 5):
    from sparoa_sim.sim.config import SimConfig
    from sparoa_sim.sim.simulator import Simulator

    from sparoa_sim.sim.arrivals import ClosedLoop

    cfg = SimConfig(reference=True, record_trace=False, request_sparsity=request_sparsity)
    res = Simulator(graph, ACT, policy="cpu", config=cfg, arrivals=ClosedLoop(6, 1), seed=seed).run()
    return np.asarray(res.latencies_s)


def test_the_engine_draws_each_request_s_sparsity_only_when_asked():
    """SimConfig(request_sparsity=True): requests of a graph with spread run at their own draws (their
    latencies differ, reproducibly per seed); off, or on a graph without spread, runs are bit for bit the same."""
    off, on = _cpu_run(SPREAD, False), _cpu_run(SPREAD, True)
    assert np.ptp(off) < 1e-12  # every request at the mean: identical service times
    assert np.ptp(on) > 0.0
    assert np.array_equal(on, _cpu_run(SPREAD, True))
    assert not np.array_equal(on, _cpu_run(SPREAD, True, seed=6))
    assert np.array_equal(_cpu_run(VGG, True), _cpu_run(VGG, False))
