"""Co-running request streams (``sim.streams``): sharing, isolation, determinism, per-stream figures, errors."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from engine_helpers import chain, check_trace, diamond, single
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.errors import SimulationError
from sparoa_sim.sim.arrivals import Batching, ClosedLoop, Periodic, Poisson, TraceArrivals
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.hwstate import BackgroundLoad
from sparoa_sim.sim.policies import RandomPolicy, StaticSchedule
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.sim.streams import CoRun
from sparoa_sim.sim.view import OpView

REF = SimConfig(reference=True, record_trace=False)
NOISY = SimConfig(background=BackgroundLoad(mean_hold_s=5e-4), record_trace=False)


def test_without_coruns_stream_zero_mirrors_the_headline_figures(platform):
    g = chain(4)
    res = Simulator(g, platform, "gpu", arrivals=Poisson(300.0, 20), config=NOISY, seed=2, deadline_s=0.004).run()
    (s0,) = res.streams
    assert s0.name == s0.workload == g.name and s0.arrival == res.arrival
    assert (s0.n_requests, s0.n_batches) == (res.n_requests, res.n_batches)
    assert (s0.latency_mean_s, s0.latency_p50_s, s0.latency_p95_s, s0.latency_p99_s, s0.latency_max_s) == (
        res.latency_mean_s, res.latency_p50_s, res.latency_p95_s, res.latency_p99_s, res.latency_max_s)
    assert s0.throughput_rps == res.throughput_rps and s0.makespan_s == res.makespan_s
    assert s0.slo_met == res.slo_met == np.mean(np.asarray(res.latencies_s) <= 0.004)
    assert res.energy_per_inference_j == res.energy_j / res.n_requests
    # no deadline: no SLO rate; an explicit empty co-run list is the default
    plain = Simulator(g, platform, "gpu", arrivals=Poisson(300.0, 20), config=NOISY, seed=2).run()
    assert plain.slo_met is None and plain.streams[0].deadline_s is None
    again = Simulator(g, platform, "gpu", arrivals=Poisson(300.0, 20), config=NOISY, seed=2, coruns=()).run()
    assert again == plain
    assert dataclasses.replace(res, streams=plain.streams) == plain  # a deadline changes nothing else


def test_slo_rate_bounds(platform):
    g = chain(3)
    base = Simulator(g, platform, "gpu", arrivals=Poisson(2000.0, 30), config=REF, seed=1).run()
    lo, hi = min(base.latencies_s), max(base.latencies_s)
    for d, want in ((hi, 1.0), (lo * 0.999, 0.0)):
        res = Simulator(g, platform, "gpu", arrivals=Poisson(2000.0, 30), config=REF, seed=1, deadline_s=d).run()
        assert res.slo_met == want


def test_a_later_corun_leaves_the_primary_untouched(platform):
    """Common random numbers: a co-run that starts after the primary is done changes none of its draws."""
    g = diamond()
    kw = dict(arrivals=Poisson(500.0, 12), batching=Batching(max_batch=2, timeout_s=1e-3), config=NOISY, seed=5)
    alone = Simulator(g, platform, RandomPolicy(0.5, split=True), **kw).run()
    late = CoRun(chain(3), "gpu", arrivals=TraceArrivals((5.0, 5.001)))
    both = Simulator(g, platform, RandomPolicy(0.5, split=True), coruns=[late], **kw).run()
    assert both.latencies_s == alone.latencies_s
    assert both.placement == alone.placement and both.decisions == alone.decisions
    assert both.streams[0] == alone.streams[0]
    assert both.streams[1].n_requests == 2 and both.streams[1].name == "chain"


def test_same_seed_same_results_with_coruns(platform):
    g = diamond()
    co = [CoRun(chain(3, name="cam"), RandomPolicy(0.3), arrivals=Periodic(400.0, 10), deadline_s=0.005),
          CoRun(single(), "cpu", arrivals=Poisson(300.0, 8), batching=Batching(max_batch=2, timeout_s=2e-3))]
    runs = [Simulator(g, platform, "random", arrivals=Poisson(600.0, 10), config=NOISY, seed=9,
                      coruns=[dataclasses.replace(c, policy=RandomPolicy(0.3)) if c.policy != "cpu" else c
                              for c in co]).run() for _ in range(2)]
    assert runs[0] == runs[1]
    assert [s.name for s in runs[0].streams] == ["diamond", "cam", "single"]
    other = Simulator(g, platform, "random", arrivals=Poisson(600.0, 10), config=NOISY, seed=10,
                      coruns=[CoRun(chain(3, name="cam"), RandomPolicy(0.3), arrivals=Periodic(400.0, 10))]).run()
    assert other.latencies_s != runs[0].latencies_s  # the seed matters


def test_two_identical_streams_on_one_gpu_slow_each_other(platform):
    g = chain(4)
    n = 20
    solo = Simulator(g, platform, "gpu", arrivals=ClosedLoop(n), config=REF).run()
    res = Simulator(g, platform, "gpu", arrivals=ClosedLoop(n), config=REF,
                    coruns=[CoRun(g, "gpu", arrivals=ClosedLoop(n))]).run()
    a, b = res.streams
    assert b.name == "chain#1" and b.n_requests == n
    assert a.latency_mean_s > 1.5 * solo.latency_mean_s and b.latency_mean_s > 1.5 * solo.latency_mean_s
    # the same work is done: twice the GPU time of one stream alone (deterministic service)
    assert res.gpu_busy_s == pytest.approx(2 * solo.gpu_busy_s, rel=1e-12)
    assert res.host_busy_s == pytest.approx(2 * solo.host_busy_s, rel=1e-12)
    # sharing one device loses no capacity: together at least as many requests per second as alone
    span = max(a.makespan_s, b.makespan_s)
    assert 2 * n / span >= solo.throughput_rps * (1 - 1e-9)
    assert res.energy_per_inference_j == pytest.approx(res.energy_j / (2 * n), rel=1e-12)
    assert res.gpu_util == pytest.approx(res.gpu_busy_s / span, rel=1e-12)


def test_streams_on_different_devices_do_not_meet_in_the_reference_setting(platform):
    """GPU primary, CPU co-run: CPU launches cost no host time, so the primary runs as if alone."""
    g = chain(3)
    solo = Simulator(g, platform, "gpu", arrivals=Poisson(400.0, 15), config=REF, seed=4).run()
    assert Simulator(g, platform, "gpu", config=REF).tables(1).td[0] == [0.0] * 3  # the premise
    res = Simulator(g, platform, "gpu", arrivals=Poisson(400.0, 15), config=REF, seed=4,
                    coruns=[CoRun(single(), "cpu", arrivals=ClosedLoop(10))]).run()
    assert res.latencies_s == solo.latencies_s
    cpu_alone = Simulator(single(), platform, "cpu", arrivals=ClosedLoop(10), config=REF).run()
    assert res.streams[1].latency_mean_s == pytest.approx(cpu_alone.latency_mean_s, rel=1e-12)


def test_external_stepping_with_a_corun_reproduces_the_synchronous_run(platform):
    g = diamond()

    class Recorder:
        def __init__(self):
            self.inner, self.actions = RandomPolicy(0.5, split=True), []

        def reset(self, ctx):
            self.inner.reset(ctx)

        def decide(self, view):
            self.actions.append(self.inner.decide(view))
            return self.actions[-1]

    def co():
        return [CoRun(chain(3, name="other"), RandomPolicy(0.5), arrivals=Poisson(500.0, 8))]

    kw = dict(arrivals=Poisson(400.0, 6), batching=Batching(max_batch=2, timeout_s=1e-3, max_inflight=2),
              config=SimConfig(background=BackgroundLoad(mean_hold_s=5e-4)), seed=3)
    rec = Recorder()
    sync = Simulator(g, platform, rec, coruns=co(), **kw)
    want = sync.run()
    ext = Simulator(g, platform, "external", coruns=co(), **kw)
    view, k = ext.start(), 0
    while not ext.done:
        assert isinstance(view, OpView) and view.graph is g
        view = ext.submit(rec.actions[k])
        k += 1
    assert k == len(rec.actions)
    assert dataclasses.replace(ext.results(), policy=want.policy) == want
    assert ext.trace().events == sync.trace().events


def test_trace_tells_the_streams_apart(platform):
    g, h = diamond(), chain(3, name="cam")
    sim = Simulator(g, platform, "random", arrivals=ClosedLoop(4), config=SimConfig(reference=True), seed=1,
                    coruns=[CoRun(h, StaticSchedule([1, 0, 1]), arrivals=Periodic(800.0, 3))])
    res = sim.run()
    tr = sim.trace()
    assert tr.stream_names == ("diamond", "cam") and len(tr.job_streams) == res.n_batches + 3
    ops = tr.ops()
    by_stream = {name: [s for s in ops if s.stream == name] for name in tr.stream_names}
    assert len(by_stream["diamond"]) >= 4 * len(g) and len(by_stream["cam"]) == 3 * len(h)
    assert {s.name for s in by_stream["cam"]} == {"cam/op0", "cam/op1", "cam/op2"}
    assert all(s.share == 1.0 for s in by_stream["cam"] if s.name != "cam/op1")
    # no two slices overlap on one device, whichever stream they belong to
    for dev in ("cpu", "gpu"):
        sl = sorted((s.start, s.end) for s in tr.ops(dev))
        assert all(b0 >= a1 - 1e-15 for (_, a1), (b0, _) in zip(sl, sl[1:]))
    doc = tr.to_chrome()
    assert {e["args"]["stream"] for e in doc["traceEvents"] if e.get("ph") == "X"} == {"diamond", "cam"}


def test_single_stream_trace_is_unlabelled(platform):
    g = chain(3)
    sim = Simulator(g, platform, "gpu", arrivals=ClosedLoop(2), config=SimConfig(reference=True))
    sim.run()
    tr = sim.trace()
    assert tr.job_streams == () and all(s.stream is None for s in tr.slices())
    check_trace(g, tr, 2)


def test_to_dict_carries_every_stream(platform):
    res = Simulator(chain(2), platform, "gpu", config=REF, deadline_s=1.0,
                    coruns=[CoRun("resnet18", "threshold", arrivals=Poisson(50.0, 2), deadline_s=1e-6,
                                  name="det")]).run()
    d = json.loads(res.to_json())
    assert [s["name"] for s in d["streams"]] == ["chain", "det"]
    assert d["streams"][0]["slo_met"] == 1.0 and d["streams"][1]["slo_met"] == 0.0
    assert d["streams"][1]["workload"] == "resnet18" and d["streams"][1]["deadline_s"] == 1e-6
    assert res.stream("det").n_requests == 2
    with pytest.raises(KeyError, match="no stream"):
        res.stream("nope")


@given(pol=st.lists(st.sampled_from(["gpu", "cpu", "random"]), min_size=1, max_size=3),
       n=st.integers(1, 6), rate=st.floats(100.0, 5000.0), seed=st.integers(0, 50))
def test_sharing_never_makes_a_request_faster_than_alone(platform, pol, n, rate, seed):
    """Reference setting, whole operators: every stream completes all its requests, and none is
    served faster than that workload's fastest request on an otherwise idle machine."""
    graphs = [chain(2, name="a"), diamond(), single()]
    coruns = [CoRun(graphs[k], "gpu" if p == "random" else p, arrivals=Poisson(rate, n)) for k, p in enumerate(pol)]
    res = Simulator(chain(3), platform, "gpu", arrivals=Poisson(rate, n), config=REF, seed=seed,
                    coruns=coruns).run()
    assert [s.n_requests for s in res.streams] == [n] * (1 + len(pol))
    solo = Simulator(chain(3), platform, "gpu", config=REF).run().latency_mean_s
    assert min(res.latencies_s) >= solo * (1 - 1e-12)
    for c, s in zip(coruns, res.streams[1:]):
        alone = Simulator(c.workload, platform, c.policy, config=REF).run().latency_mean_s
        assert s.latency_mean_s >= alone * (1 - 1e-12)


@pytest.mark.parametrize("kwargs, field", [
    (dict(workload=3), "workload"), (dict(workload="  "), "workload"),
    (dict(workload="resnet18", arrivals="poisson:3"), "arrivals"),
    (dict(workload="resnet18", batching=4), "batching"),
    (dict(workload="resnet18", deadline_s=0), "deadline_s"), (dict(workload="resnet18", deadline_s=math.nan), "deadline_s"),
    (dict(workload="resnet18", deadline_s=True), "deadline_s"), (dict(workload="resnet18", name=""), "name"),
    (dict(workload="resnet18", policy="external"), "external"),
    (dict(workload="resnet18", arrivals=ClosedLoop(9, concurrency=1), batching=Batching.fixed(4)), "arrivals"),
])
def test_bad_corun_values_name_the_field(kwargs, field):
    with pytest.raises(SimulationError, match=field):
        CoRun(**kwargs)


def test_bad_coruns_on_the_simulator_name_the_stream(platform):
    g = chain(2)
    with pytest.raises(SimulationError, match=r"coruns\[0\].workload"):
        Simulator(g, platform, coruns=[CoRun("no-such-model")])
    with pytest.raises(SimulationError, match=r"coruns\[1\].policy"):
        Simulator(g, platform, coruns=[CoRun(g), CoRun(g, policy="no-such-policy")])
    with pytest.raises(SimulationError, match=r"coruns\[0\] must be a CoRun"):
        Simulator(g, platform, coruns=["resnet18"])
    with pytest.raises(SimulationError, match="coruns must be a list"):
        Simulator(g, platform, coruns=CoRun(g))
    shared = RandomPolicy(0.5)
    with pytest.raises(SimulationError, match=r"coruns\[0\].policy: this policy object"):
        Simulator(g, platform, shared, coruns=[CoRun(g, shared)])
    with pytest.raises(SimulationError, match="deadline_s"):
        Simulator(g, platform, deadline_s=-1.0)


FIXED_GPU_LOAD = SimConfig(noise=False, contention=False, dispatch_interference=False, record_trace=False,
                           background=BackgroundLoad(levels=(0.5,), devices=("gpu",)))


def test_fixed_load_stretches_compute_by_one_over_one_minus_load(platform):
    g = single()
    ref = Simulator(g, platform, "gpu", config=REF).run()
    sim = Simulator(g, platform, "gpu", config=FIXED_GPU_LOAD)
    loaded = sim.run()
    t = sim.tables(1)
    assert t.at_load(1, 0.5)[0] == pytest.approx(t.tl[1][0] + max(t.tc[1][0] / 0.5, t.tm[1][0]), rel=1e-12)
    assert loaded.latency_mean_s - ref.latency_mean_s == pytest.approx(t.at_load(1, 0.5)[0] - t.lat[1][0], rel=1e-9)
    assert loaded.latency_mean_s > ref.latency_mean_s * 1.3  # compute-bound: the load shows


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_md1_mean_waiting_time_under_fixed_load(platform, rho):
    """Poisson arrivals, deterministic service S (at load 0.5): mean wait ρS / (2(1 − ρ)), within a
    band of four standard errors (batch means over 38 batches of the per-request waits)."""
    g = single()
    s = Simulator(g, platform, "gpu", config=FIXED_GPU_LOAD).run().latency_mean_s
    lam, n = rho / s, 30_000
    res = Simulator(g, platform, "gpu", arrivals=Poisson(lam, n), config=FIXED_GPU_LOAD, seed=7).run()
    wait = np.asarray(res.latencies_s) - s
    assert wait.min() == pytest.approx(0.0, abs=1e-9 * s)  # nobody is served faster than S
    want = rho * s / (2 * (1 - rho))
    means = wait[n // 20:].reshape(38, -1).mean(axis=1)  # warm-up dropped, batch means of 750
    se = means.std(ddof=1) / math.sqrt(len(means))
    assert abs(wait[n // 20:].mean() - want) < 4 * se
    assert se < 0.1 * want  # the band is tight enough to mean something
    assert res.throughput_rps == pytest.approx(lam, rel=0.03)


def test_each_stream_keeps_its_own_static_order(platform):
    """Two streams, each under a static schedule with a device order: each order holds batch after
    batch within its own stream, while the streams interleave on the shared devices."""
    g = chain(3)
    sched = StaticSchedule([0, 1, 1], order={"cpu": [0], "gpu": [1, 2]})
    sim = Simulator(g, platform, sched, arrivals=ClosedLoop(6), batching=Batching(max_inflight=2),
                    config=SimConfig(reference=True), seed=0,
                    coruns=[CoRun(diamond(), StaticSchedule([1, 1, 1, 1], order={"cpu": [], "gpu": [0, 2, 1, 3]}),
                                  arrivals=ClosedLoop(4), batching=Batching(max_inflight=2))])
    res = sim.run()
    assert [s.n_requests for s in res.streams] == [6, 4]
    tr = sim.trace()
    for name, want in (("chain", {"cpu": ["op0"], "gpu": ["op1", "op2"]}), ("diamond", {"gpu": ["a", "c", "b", "d"]})):
        for dev, order in want.items():
            seq = [s.name.split("/")[1] for s in sorted(tr.ops(dev), key=lambda s: s.start) if s.stream == name]
            assert seq == order * (len(seq) // len(order)) and seq
    labels = [s.stream for s in sorted(tr.ops("gpu"), key=lambda s: s.start)]
    assert sum(x != y for x, y in zip(labels, labels[1:])) > 1  # the streams take turns on the GPU
