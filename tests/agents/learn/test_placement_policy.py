"""The load-aware placement policy: the fast evaluator equals the exact one, decoding, JSON, live re-planning."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.agents.exact.refsched import RefProblem, evaluate, reference_config
from sparoa_sim.agents.learn.fast_ref import FastRef
from sparoa_sim.agents.learn.placement_policy import LoadAwarePlanner, LoadAwarePolicy, decode, global_order
from sparoa_sim.errors import PolicyError
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.sim.hwstate import LoadTrace
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.testing.strategies import small_graphs
from sparoa_sim.workloads import load_workload

PLAT = load_platform("jetson-orin-nano-8gb")


def _random_topo(p: RefProblem, rng: np.random.Generator) -> list[int]:
    left = [len(d) for d in p.deps]
    ready = [i for i in range(p.n) if left[i] == 0]
    out = []
    while ready:
        i = ready.pop(int(rng.integers(len(ready))))
        out.append(i)
        for c in p.cons[i]:
            left[c] -= 1
            if left[c] == 0:
                ready.append(c)
    return out


@given(graph=small_graphs(24), seed=st.integers(0, 2**16), gpu_load=st.sampled_from([0.0, 0.5, 0.9]))
def test_fast_evaluator_equals_the_exact_one_bit_for_bit(graph, seed, gpu_load):
    p = RefProblem.build(graph, PLAT, mode="15W", load=(0.2, gpu_load))
    fast = FastRef(p)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        gpu = rng.random(p.n) < rng.random()
        topo = _random_topo(p, rng)
        cpu_seq = [i for i in topo if not gpu[i]]
        gpu_seq = [i for i in topo if gpu[i]]
        exact = evaluate(p, gpu.astype(float), {"cpu": cpu_seq, "gpu": gpu_seq}).makespan
        assert fast.makespan(gpu, topo, cpu_seq, gpu_seq) == exact


@given(graph=small_graphs(24), seed=st.integers(0, 2**16))
def test_decode_orders_respect_dependencies_and_global_order_round_trips(graph, seed):
    p = RefProblem.build(graph, PLAT, mode="15W")
    rng = np.random.default_rng(seed)
    gpu = rng.random(p.n) < 0.5
    plan = decode(p.deps, p.cons, gpu, rng.random(p.n))
    pos = {op: k for k, op in enumerate(plan.topo)}
    assert sorted(plan.topo) == list(range(p.n))
    assert all(pos[q] < pos[i] for i in range(p.n) for q in p.deps[i])
    assert plan.cpu == tuple(i for i in plan.topo if not gpu[i])
    # priorities 1 - position/n of any order consistent with the device orders decode back to them
    topo = global_order(p.deps, plan.cpu, plan.gpu_seq)
    prio = np.empty(p.n)
    prio[topo] = 1.0 - np.arange(p.n) / p.n
    again = decode(p.deps, p.cons, gpu, prio)
    assert (again.cpu, again.gpu_seq) == (plan.cpu, plan.gpu_seq)


def _switching_policy(graph) -> LoadAwarePolicy:
    """Every operator on the GPU, except that a GPU load above 0.5 sends all to the CPU."""
    n = len(graph)
    w = np.zeros((n, 2))
    w[:, 1] = -2.0
    return LoadAwarePolicy(graph.name, tuple(tuple(op.deps) for op in graph.ops), bias=np.ones(n), w_load=w,
                           prio=np.zeros(n), prio_load=np.zeros((n, 2)))


def test_placement_follows_the_load():
    g = load_workload("resnet18")
    pol = _switching_policy(g)
    assert pol.placement((0.0, 0.2)) == [1.0] * len(g)
    assert pol.placement((0.0, 0.8)) == [0.0] * len(g)
    p = RefProblem.build(g, PLAT, mode="15W", load=(0.0, 0.8))
    sched = pol.schedule(p)
    assert sched.placement == (0.0,) * len(g) and sched.order["gpu"] == ()
    assert evaluate(p, sched.placement, sched.order).makespan > 0


def test_planner_replans_from_the_engines_live_load():
    g = load_workload("resnet18")
    pol = _switching_policy(g)
    for load, want in (((0.0, 0.0), len(g)), ((0.0, 0.8), 0)):
        sim = Simulator(g, PLAT, LoadAwarePlanner(pol), config=reference_config(mode="15W", load=load,
                                                                                record_trace=False))
        assert sim.run().gpu_ops == want
    # a load that changes during the run: the operators dispatched after the change follow it
    from sparoa_sim.sim.config import SimConfig

    t_switch = 0.004
    cfg = SimConfig(mode="15W", reference=True, record_trace=False,
                    background=LoadTrace(((0.0, 0.0, 0.0), (t_switch, 0.0, 0.8))))
    res = Simulator(g, PLAT, LoadAwarePlanner(pol), config=cfg).run()
    assert 0 < res.gpu_ops < len(g)


def test_planner_refuses_another_workload():
    pol = _switching_policy(load_workload("resnet18"))
    with pytest.raises(PolicyError, match="trained for 'resnet18'"):
        Simulator(load_workload("mobilenetv3_small"), PLAT, LoadAwarePlanner(pol),
                  config=reference_config(mode="15W", record_trace=False)).run()


def test_json_round_trip_and_errors(tmp_path):
    g = load_workload("resnet18")
    pol = _switching_policy(g)
    path = pol.save(tmp_path / "policy.json")
    back = LoadAwarePolicy.load(path)
    assert back.to_dict() == pol.to_dict()
    doc = json.loads(path.read_text())
    for field, value, match in (("kind", "other", "'kind'"), ("version", 99, "'version'"),
                                ("bias", [1.0], "'bias'"), ("w_load", [[0.0]] * len(g), "'w_load'"),
                                ("deps", [[5]] + doc["deps"][1:], r"deps\[0\]"), ("workload", 3, "'workload'")):
        bad = dict(doc, **{field: value})
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(PolicyError, match=match):
            LoadAwarePolicy.load(tmp_path / "bad.json")
    del doc["prio"]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(PolicyError, match="missing field 'prio'"):
        LoadAwarePolicy.load(tmp_path / "bad.json")
    with pytest.raises(PolicyError, match="absent.json: no such load-aware policy file"):
        LoadAwarePolicy.load(tmp_path / "absent.json")
