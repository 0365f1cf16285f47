"""Placement policies: registry, built-ins, the threshold rule, static schedules, external stepping."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from engine_helpers import chain, check_trace, diamond

from sparoa_sim.sim.arrivals import Batching, ClosedLoop, Poisson
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.errors import SimulationError
from sparoa_sim.ir.graph import Op, OpGraph
from sparoa_sim.hwmodels.kinds import OpKind
from sparoa_sim.sim.hwstate import BackgroundLoad
from sparoa_sim.sim.policies import (
    CallablePolicy,
    CpuOnly,
    ExternalPolicy,
    GpuOnly,
    RandomPolicy,
    StaticSchedule,
    ThresholdPolicy,
    make_policy,
    policy_names,
    register_policy,
)
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.ir.synthetic import generate
from sparoa_sim.sim.view import OpView

REF = SimConfig(reference=True)


def test_registry_knows_the_built_ins_and_resolves_every_form(tmp_path):
    assert {"cpu", "gpu", "random", "threshold"} <= set(policy_names())
    assert isinstance(make_policy("cpu"), CpuOnly) and isinstance(make_policy("gpu"), GpuOnly)
    assert isinstance(make_policy("random", p_gpu=0.2), RandomPolicy)
    assert make_policy("threshold", tau_s=0.3, tau_i=10.0).tau_i == 10.0
    assert isinstance(make_policy(lambda v: 1), CallablePolicy)
    assert isinstance(make_policy([0, 1, 1]), StaticSchedule)
    assert isinstance(make_policy(None), ExternalPolicy)
    p = StaticSchedule([0, 1, 0.5], order={"cpu": [0, 2], "gpu": [1, 2]}, workload="chain")
    path = p.save(tmp_path / "s.json")
    q = make_policy(str(path))
    assert isinstance(q, StaticSchedule) and q.to_dict() == p.to_dict()
    obj = GpuOnly()
    assert make_policy(obj) is obj


def test_register_policy_by_factory_and_by_lazy_string():
    register_policy("test-always-cpu", lambda: CallablePolicy(lambda v: 0, name="always-cpu"), overwrite=True)
    register_policy("test-lazy-gpu", "sparoa_sim.sim.policies:GpuOnly", overwrite=True)
    assert make_policy("test-lazy-gpu").decide(None) == 1
    res = Simulator(chain(3), "jetson-agx-orin-64gb", "test-always-cpu", config=REF).run()
    assert res.gpu_busy_s == 0.0
    with pytest.raises(SimulationError, match="already registered"):
        register_policy("cpu", CpuOnly)


def test_unknown_policy_name_is_a_clean_error_listing_the_known():
    with pytest.raises(SimulationError, match=r"policy: unknown policy 'greedyy' \(known: .*cpu.*gpu.*random.*threshold"):
        make_policy("greedyy")
    with pytest.raises(SimulationError, match="bad parameters"):
        make_policy("threshold", tau_x=1)


def test_threshold_rule_is_exactly_the_design_rule(resnet50, platform):
    for sparsity in ("act", "weight", "max"):
        for intensity in ("flop_per_byte", "flops"):
            s = resnet50.sparsity(sparsity)
            inten = resnet50.arrays.intensity if intensity == "flop_per_byte" else resnet50.arrays.flops
            tau_i = float(np.quantile(inten, 0.6))
            pol = ThresholdPolicy(tau_s=0.3, tau_i=tau_i, sparsity=sparsity, intensity=intensity)
            want = [0 if (s[i] >= 0.3 and inten[i] <= tau_i) else 1 for i in range(len(resnet50))]
            assert pol.placement(resnet50).tolist() == want
            sim = Simulator(resnet50, platform, pol, config=REF)
            res = sim.run()
            assert [int(x) for x in res.placement] == want
    # boundary: equality goes to the CPU on both axes
    g = chain(2)
    pol = ThresholdPolicy(tau_s=float(g.arrays.act_sparsity[0]), tau_i=float(g.arrays.intensity[0]))
    assert pol.placement(g).tolist() == [0, 0]


def test_inputs_of_placed_producers_count_where_they_will_be_made(platform):
    """A producer placed on the GPU but still running is not shown as a copy to the GPU (its value
    will be made there) but as one to the CPU; one placed on the CPU the other way round."""
    g = chain(3, split=False)
    sim = Simulator(g, platform, "external", config=SimConfig(reference=True))
    v = sim.start(0)
    assert v.op == 0
    v = sim.submit(1)  # op 0 on the GPU
    assert v.op == 1 and v.job_state.res[0] == 0  # op 0 has not finished yet
    xb = v.job_state.tables.xfer_bytes[0]
    assert v.transfer_in[1] == 0.0 and v.transfer_in[0] > 0.0
    assert v.input_bytes == (0.0, xb)
    v = sim.submit(0)  # op 1 on the CPU
    assert v.op == 2 and v.transfer_in[0] == 0.0 and v.transfer_in[1] > 0.0


def test_view_carries_what_the_design_lists(resnet18, platform):
    seen = []

    def spy(view: OpView) -> int:
        seen.append(view.snapshot())
        return view.op % 2

    sim = Simulator(resnet18, platform, spy, arrivals=ClosedLoop(2),
                    config=SimConfig(background=BackgroundLoad(mean_hold_s=1e-3)))
    res = sim.run()
    assert len(seen) == res.decisions == 2 * len(resnet18)
    first = seen[0]
    for key in ("op", "name", "kind_name", "flops", "bytes_in", "bytes_out", "bytes_w", "intensity", "act_sparsity",
                "w_sparsity", "splittable", "backlog", "input_bytes", "transfer_in", "pred_latency", "load", "mode",
                "precision", "now", "ops_done", "n_ops", "request", "n_in_system", "energy_so_far", "hw"):
        assert key in first
    assert first["input_bytes"][0] > 0 and first["input_bytes"][1] == 0  # the request's input lives on the CPU
    assert first["pred_latency"][0] > 0 and first["pred_latency"][1] > 0
    assert any(s["backlog"][1] > 0 for s in seen) and any(s["backlog"][0] > 0 for s in seen)
    assert max(s["ops_done"] for s in seen) > 0
    assert json.dumps(seen)  # JSON-able


def test_static_schedule_order_is_honoured_by_the_executors(platform):
    g = diamond()
    # b and c are independent; force c before b on the CPU, whatever the dispatcher saw first.
    sched = StaticSchedule([1, 0, 0, 1], order={"cpu": [2, 1], "gpu": [0, 3]})
    sim = Simulator(g, platform, sched, arrivals=ClosedLoop(3), config=REF)
    res = sim.run()
    tr = sim.trace()
    check_trace(g, tr, 3)
    cpu = [s.op for s in tr.ops("cpu")]
    assert cpu == [2, 1] * 3
    free = Simulator(g, platform, StaticSchedule([1, 0, 0, 1]), config=REF)
    free.run()
    assert [s.op for s in free.trace().ops("cpu")] == [1, 2]
    assert res.n_requests == 3


def test_static_schedule_bad_input_names_the_argument(resnet18):
    n = len(resnet18)
    with pytest.raises(SimulationError, match=r"'placement' has 3 entries but workload 'resnet18' has \d+"):
        StaticSchedule([0, 1, 1]).check(resnet18)
    with pytest.raises(SimulationError, match=r"placement\[1\] = 2"):
        StaticSchedule([0, 2, 1])
    with pytest.raises(SimulationError, match="placement"):
        StaticSchedule([0, float("nan")])
    unsplit = next(i for i in range(n) if not resnet18.arrays.splittable[i])
    pl = [1.0] * n
    pl[unsplit] = 0.5
    with pytest.raises(SimulationError, match="no split axis"):
        StaticSchedule(pl).check(resnet18)
    with pytest.raises(SimulationError, match="order.gpu"):
        StaticSchedule([1.0] * n, order={"cpu": [], "gpu": list(range(n - 1))}).check(resnet18)
    with pytest.raises(SimulationError, match="before its producer"):
        StaticSchedule([1.0] * n, order={"cpu": [], "gpu": list(reversed(range(n)))}).check(resnet18)
    with pytest.raises(SimulationError, match="'workload'"):
        StaticSchedule([1.0] * n, workload="vgg16").check(resnet18)
    # two chains a -> b and c -> d placed crosswise; the device orders close a cycle a -> b -> c -> d -> a
    ops = [Op(name=nm, kind=OpKind.ADD, flops=1.0, deps=deps) for nm, deps in
           (("a", ()), ("b", (0,)), ("c", ()), ("d", (2,)))]
    g = OpGraph(name="two-chains", ops=tuple(ops))
    with pytest.raises(SimulationError, match="cycle"):
        StaticSchedule([0, 1, 1, 0], order={"cpu": [3, 0], "gpu": [1, 2]}).check(g)
    StaticSchedule([0, 1, 1, 0], order={"cpu": [0, 3], "gpu": [1, 2]}).check(g)


def test_static_schedule_json_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SimulationError, match="malformed JSON"):
        make_policy(str(bad))
    bad.write_text(json.dumps({"schema_version": 9, "placement": [1]}))
    with pytest.raises(SimulationError, match="schema_version"):
        make_policy(str(bad))
    bad.write_text(json.dumps({"schema_version": 1, "kind": "sparoa-schedule", "n_ops": 3, "placement": [1, 0]}))
    with pytest.raises(SimulationError, match="n_ops"):
        make_policy(str(bad))
    with pytest.raises(SimulationError, match="no such schedule file"):
        make_policy(str(tmp_path / "missing.json"))


def test_schedule_that_does_not_fit_fails_at_simulator_start(resnet18, platform):
    sim = Simulator(resnet18, platform, [0, 1], config=REF)
    with pytest.raises(SimulationError, match="placement"):
        sim.run()


def test_bad_actions_are_errors_naming_the_action(platform):
    g = chain(2, split=False)
    for bad in (2, -0.5, float("nan"), "gpu", np.array([0.2, 0.3]), 0.5):
        with pytest.raises(SimulationError, match="action"):
            Simulator(g, platform, lambda v, a=bad: a, config=REF).run()
    for ok in (True, np.int64(1), np.float32(0.0), np.array([1.0])):
        Simulator(g, platform, lambda v, a=ok: a, config=REF).run()


class _Recorder:
    """Wraps a policy and records its actions in decision order."""

    def __init__(self, inner):
        self.inner = inner
        self.actions = []

    def reset(self, ctx):
        self.inner.reset(ctx)

    def decide(self, view):
        a = self.inner.decide(view)
        self.actions.append(a)
        return a


@pytest.mark.parametrize("inflight", [1, 2])
def test_external_stepping_reproduces_the_synchronous_run_bit_for_bit(platform, inflight):
    g = generate(7, target_ops=40)
    kw = dict(arrivals=Poisson(400.0, 6), batching=Batching(max_batch=2, timeout_s=1e-3, max_inflight=inflight),
              config=SimConfig(background=BackgroundLoad(mean_hold_s=5e-4)), seed=3)
    rec = _Recorder(RandomPolicy(0.5, split=True))
    sync = Simulator(g, platform, rec, **kw)
    want = sync.run()
    ext = Simulator(g, platform, "external", **kw)
    view = ext.start()
    k = 0
    tis = []
    while not ext.done:
        assert view is ext.pending and isinstance(view, OpView)
        tis.append(ext.time_in_system)
        view = ext.submit(rec.actions[k])
        k += 1
    assert view is None and k == len(rec.actions)
    assert dataclasses.replace(ext.results(), policy=want.policy) == want
    assert ext.trace().events == sync.trace().events
    assert tis == sorted(tis)
    assert ext.energy_so_far == pytest.approx(want.energy_j, rel=1e-12)
    assert ext.time_in_system == pytest.approx(sum(want.latencies_s), rel=1e-9)


def test_external_protocol_errors(platform):
    g = chain(2, split=False)
    ext = Simulator(g, platform, "external", config=REF)
    with pytest.raises(SimulationError, match="submit"):
        ext.submit(1)
    with pytest.raises(SimulationError, match="start"):
        ext.run()
    ext.start()
    with pytest.raises(SimulationError, match="action"):
        ext.submit(0.5)  # not splittable: the decision stays pending
    assert ext.pending is not None
    ext.submit(1)
    with pytest.raises(SimulationError, match="not finished"):
        ext.results()
    ext.submit(0)
    assert ext.done and ext.pending is None
    assert ext.results().placement == (1.0, 0.0)


def test_random_policy_draws_from_the_run_seed(platform, resnet18):
    a = Simulator(resnet18, platform, "random", config=REF, seed=5).run()
    b = Simulator(resnet18, platform, "random", config=REF, seed=5).run()
    c = Simulator(resnet18, platform, "random", config=REF, seed=6).run()
    assert a.placement == b.placement != c.placement
