"""Invariants of the engine as hypothesis properties over synthetic graphs and random policies."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import check_trace
from hypothesis import given, settings
from hypothesis import strategies as st

from sparoa_sim.sim.arrivals import Batching, ClosedLoop, Poisson
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.sim.hwstate import BackgroundLoad
from sparoa_sim.sim.policies import RandomPolicy
from sparoa_sim.sim.predtables import critical_path
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.testing.strategies import graphs

# Fast-moving background load so that rate changes land inside operators.
FAST_BG = BackgroundLoad(levels=(0.0, 0.25, 0.5), mean_hold_s=2e-4)
SETTINGS = st.sampled_from(["reference", "noise", "dynamic", "all"])


def _config(kind: str) -> SimConfig:
    if kind == "reference":
        return SimConfig(reference=True)
    if kind == "noise":
        return SimConfig(noise=True, background=None, contention=False, dispatch_interference=False)
    if kind == "dynamic":  # everything that only slows operators down
        return SimConfig(noise=False, background=FAST_BG)
    return SimConfig(background=FAST_BG)


@settings(max_examples=25)
@given(graph=graphs(1, 24), seed=st.integers(0, 2**31), p_gpu=st.floats(0, 1), split=st.booleans(),
       setting=SETTINGS, n_req=st.integers(1, 3), batch=st.integers(1, 2), inflight=st.integers(1, 2),
       poisson=st.booleans())
def test_every_operator_runs_once_after_its_inputs_without_overlap(platform, graph, seed, p_gpu, split, setting,
                                                                   n_req, batch, inflight, poisson):
    arrivals = Poisson(rate=2000.0, n_requests=n_req) if poisson else ClosedLoop(n_req, concurrency=batch * inflight)
    sim = Simulator(graph, platform, RandomPolicy(p_gpu, split=split), arrivals=arrivals,
                    batching=Batching(max_batch=batch, timeout_s=1e-3, max_inflight=inflight),
                    config=_config(setting), seed=seed)
    res = sim.run()
    tr = sim.trace()
    check_trace(graph, tr, res.n_batches)
    assert res.n_requests == n_req
    if res.n_batches == 1:
        assert res.ops_executed == sum(2 if 0 < s < 1 else 1 for s in res.placement)
    # energy covers at least the board's idle power over the makespan
    idle_w = platform.mode(None).energy.board_idle_w
    assert res.energy_j >= idle_w * res.makespan_s
    assert res.energy_per_inference_j * res.n_requests == pytest.approx(res.energy_j, rel=1e-12)
    assert 0.0 <= res.cpu_util <= 1.0 + 1e-9 and 0.0 <= res.gpu_util <= 1.0 + 1e-9
    assert all(lat > 0 for lat in res.latencies_s)
    if not split and setting in ("reference", "dynamic"):
        # no noise, no splits: nothing runs faster than predicted on an idle machine
        for b in set(len(r) for r in tr.job_requests):
            t = sim.tables(b)
            cp = critical_path(t.gt, t.fastest)
            for j, reqs in enumerate(tr.job_requests):
                if len(reqs) == b:
                    for r in reqs:
                        assert res.latencies_s[r] >= cp * (1 - 1e-9)  # float rounding of absolute times


@settings(max_examples=12)
@given(graph=graphs(1, 20), seed=st.integers(0, 2**31), setting=SETTINGS)
def test_same_seed_same_result_and_trace(platform, graph, seed, setting):
    def once():
        sim = Simulator(graph, platform, RandomPolicy(0.5, split=True), arrivals=Poisson(3000.0, 3),
                        config=_config(setting), seed=seed)
        return sim.run(), sim.trace().to_json()

    r1, t1 = once()
    r2, t2 = once()
    assert r1 == r2
    assert r1.to_json() == r2.to_json()
    assert t1 == t2


@settings(max_examples=10)
@given(graph=graphs(2, 20), seed=st.integers(0, 2**31))
def test_two_policies_see_the_same_load_path_and_noise(platform, graph, seed):
    """Common random numbers: the load path and the noise factors depend on the seed alone."""
    cfg = SimConfig(background=FAST_BG, contention=False, dispatch_interference=False)
    sims = [Simulator(graph, platform, pol, arrivals=ClosedLoop(2), config=cfg, seed=seed)
            for pol in ("cpu", "gpu", RandomPolicy(0.3))]
    for s in sims:
        s.run()
    horizon = min(s.now for s in sims)
    paths = [[ev for ev in s.load_history() if ev[0] <= horizon] for s in sims]
    assert paths[0] == paths[1] == paths[2]
    # noise factors of a batch are drawn from a child stream keyed by its first request
    z = [np.asarray(s.noise_factors(1)) for s in sims]
    assert np.array_equal(z[0], z[1]) and np.array_equal(z[0], z[2])
    # and the engine used exactly those factors: noise only, an operator lasts its prediction × factor
    cfg_noise = _config("noise")
    for pol in ("cpu", "gpu"):
        sim = Simulator(graph, platform, pol, config=cfg_noise, seed=seed)
        sim.run()
        t = sim.tables(1)
        zf = sim.noise_factors(0)
        for s in sim.trace().ops():
            d = 0 if s.track == "CPU" else 1
            assert s.end - s.start == pytest.approx(zf[2 * s.op + d] * t.lat[d][s.op], rel=1e-9, abs=1e-15)


@settings(max_examples=20)
@given(graph=graphs(1, 20), data=st.data(), n_req=st.integers(1, 3), inflight=st.integers(1, 2),
       setting=SETTINGS, seed=st.integers(0, 2**31))
def test_static_schedules_with_orders_run_in_their_order(platform, graph, data, n_req, inflight, setting, seed):
    """A random placement (with splits) and a random topological order projected on each device."""
    from sparoa_sim.sim.policies import StaticSchedule

    n = len(graph)
    split = graph.arrays.splittable
    placement = [data.draw(st.sampled_from((0.0, 1.0, 0.25, 0.7) if split[i] else (0.0, 1.0))) for i in range(n)]
    keys = data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    indeg = [len(op.deps) for op in graph.ops]
    ready = [i for i in range(n) if indeg[i] == 0]
    topo = []
    while ready:
        ready.sort(key=lambda i: keys[i])
        i = ready.pop(0)
        topo.append(i)
        for c in graph.arrays.consumers_of(i):
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(int(c))
    order = {"cpu": [i for i in topo if placement[i] < 1.0], "gpu": [i for i in topo if placement[i] > 0.0]}
    sim = Simulator(graph, platform, StaticSchedule(placement, order=order), arrivals=ClosedLoop(n_req, inflight),
                    batching=Batching(max_inflight=inflight), config=_config(setting), seed=seed)
    res = sim.run()
    tr = sim.trace()
    check_trace(graph, tr, res.n_batches)
    for dev in ("cpu", "gpu"):
        assert [s.op for s in tr.ops(dev)] == order[dev] * n_req
    assert list(res.placement) == placement
