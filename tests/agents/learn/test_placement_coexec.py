"""The load-aware policy can co-execute: ``split`` operators take co-execution's proportional share in the
engine, ``coexec_copy`` is the co-execution baseline's rule exactly, the stream search toggles splits, and the
policy's own rule in a stream with jobs in flight is never behind co-execution over the whole stream."""

from __future__ import annotations

import numpy as np
import pytest

from sparoa_sim.agents.exact.refsched import RefProblem
from sparoa_sim.agents.learn.placement_policy import LoadAwarePlanner, LoadAwarePolicy
from sparoa_sim.agents.learn.placement_train import _engine_heuristics, _full_length, _tune_with_planner, teachers_at
from sparoa_sim.agents.learn.stream_search import (FOLLOW, LevelObjective, StreamObjective, coexec_copy,
                                                   refine_in_stream)
from sparoa_sim.errors import PolicyError
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.scenarios import load_scenario
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.workloads import load_workload

GRAPH = load_workload("squeezenet1_1")
CACHE = PredictionCache()


def _policy(platform: str, mode: str, scenario: str, bias: float = -4.0) -> tuple[LoadAwarePolicy, RefProblem]:
    sc = load_scenario(scenario)
    p = RefProblem.build(GRAPH, load_platform(platform), mode=mode, batch=sc.primary.max_batch, load=sc.fixed_load,
                         cache=CACHE)
    n = p.n
    return LoadAwarePolicy(GRAPH.name, p.deps, np.full(n, bias), np.zeros((n, 2)), np.zeros(n), np.zeros((n, 2))), p


@pytest.mark.parametrize(("platform", "mode", "scenario"), [("jetson-orin-nano-8gb", "15W", "clients-8"),
                                                            ("jetson-agx-orin-64gb", "MAXN", "bursts")])
def test_coexec_copy_is_the_baseline_bit_for_bit(platform, mode, scenario):
    pol, _ = _policy(platform, mode, scenario)
    obj = StreamObjective(load_scenario(scenario), GRAPH, load_platform(platform), mode, requests=24, cache=CACHE)
    from sparoa_sim.sim.simulator import Simulator

    config, kwargs = obj._setup()
    runs = [Simulator(GRAPH, load_platform(platform), q, config=config, cache=CACHE, **kwargs).run()
            for q in ("coexec", LoadAwarePlanner(coexec_copy(pol)))]
    assert runs[0].latencies_s == runs[1].latencies_s and runs[0].energy_j == runs[1].energy_j
    assert runs[0].placement == runs[1].placement
    assert any(0.0 < s < 1.0 for s in runs[1].placement)  # it really splits operators


def test_split_and_tie_fields_validate_and_round_trip(tmp_path):
    pol, _ = _policy("jetson-orin-nano-8gb", "15W", "clients-8")
    cp = coexec_copy(pol)
    assert cp.split.all() and cp.gpu_on_tie and (cp.w_finish == FOLLOW).all()
    back = LoadAwarePolicy.load(cp.save(tmp_path / "p.json"))
    assert back.split.tolist() == cp.split.tolist() and back.gpu_on_tie and back.to_dict() == cp.to_dict()
    assert "split" not in pol.to_dict() and "gpu_on_tie" not in pol.to_dict()  # absent: the file as before
    with pytest.raises(PolicyError, match="'split' must hold 0 or 1"):
        LoadAwarePolicy(pol.workload, pol.deps, pol.bias, pol.w_load, pol.prio, pol.prio_load,
                        split=np.full(pol.n, 0.5))
    with pytest.raises(PolicyError, match="'gpu_on_tie'"):
        LoadAwarePolicy(pol.workload, pol.deps, pol.bias, pol.w_load, pol.prio, pol.prio_load, gpu_on_tie=1)


def test_the_stream_search_toggles_splits_and_never_gets_worse():
    pol, p = _policy("jetson-orin-nano-8gb", "15W", "clients-8")
    sc = load_scenario("clients-8")
    obj = StreamObjective(sc, GRAPH, load_platform("jetson-orin-nano-8gb"), "15W", requests=8, cache=CACHE)
    start = coexec_copy(pol)
    r = refine_in_stream(start, {p.load: p}, obj, fixed=False, max_evaluations=25, seed=1)
    assert r.score <= r.start_score == obj.score(LoadAwarePlanner(start))
    assert obj.score(LoadAwarePlanner(r.policy)) == r.score
    # without a split the draws are the previous search's: the same policy as with split moves unavailable
    plain = refine_in_stream(pol, {p.load: p}, obj, fixed=False, max_evaluations=10, seed=1)
    assert not plain.policy.split.any()


@pytest.mark.parametrize(("platform", "mode", "scenario"), [("jetson-orin-nano-8gb", "15W", "clients-8"),
                                                            ("jetson-agx-orin-64gb", "MAXN", "bursts")])
def test_the_chosen_rule_is_never_behind_a_baseline_it_copies_over_the_whole_stream(platform, mode, scenario):
    pol, p = _policy(platform, mode, scenario, bias=4.0)  # a GPU-only start
    sc = load_scenario(scenario)
    plat = load_platform(platform)
    heur = teachers_at(p, GRAPH.name, _engine_heuristics(GRAPH, plat, mode, sc.fixed_load, sc.primary.max_batch, CACHE))
    obj = StreamObjective(sc, GRAPH, plat, mode, requests=8, cache=CACHE)
    levels = LevelObjective(GRAPH, plat, mode, (sc.fixed_load,), sc.primary.max_batch, CACHE)
    chosen, info = _tune_with_planner(pol, {p.load: p}, obj, None, 4, 0, levels, {n: t[1] for n, t in heur.items()})
    full = _full_length(obj)
    assert full.requests == sc.primary.arrival.requests
    assert info["chosen_full_s"] == min(info["full_s"].values())
    for name in ("cpu", "gpu", "threshold", "greedy", "heft", "coexec"):  # the engine's baselines themselves
        assert info["chosen_full_s"] <= full.score(name), name
    assert info["planner"]["coexec_copy_s"] == full.score("coexec")
    assert info["schedule_candidates_s"]["copy:heft"] == full.score("heft")  # the copies are exact
    assert info["planner"]["starts_s"]["greedy"] == full.score("greedy")
    ep = LoadAwarePlanner(chosen) if info["rule"] == "planner" else chosen.schedule(p)
    assert full.score(ep) == info["chosen_full_s"]


def test_one_inference_at_a_fixed_load_the_planner_takes_over_only_where_a_dynamic_baseline_wins():
    """ResNet-18 on the Orin Nano with half the GPU busy: co-execution (operators split between the devices)
    beats every whole-operator schedule on one inference, so training gives the planner its share and the
    policy's own rule is never behind co-execution; what ships (schedule.json) is the searched whole-operator
    schedule, labelled with its own latency. Idle, where HEFT's schedule wins, stays a schedule."""
    from sparoa_sim.agents.learn.placement_train import dynamic_pays, train_placement_policy
    from sparoa_sim.agents.learn.train_spec import TrainConfig

    g, plat = load_workload("resnet18"), load_platform("jetson-orin-nano-8gb")
    for name, pays in (("gpu-shared-moderate", True), ("idle", False)):
        sc = load_scenario(name)
        p = RefProblem.build(g, plat, mode="15W", load=sc.fixed_load, cache=CACHE)
        heur = teachers_at(p, g.name, _engine_heuristics(g, plat, "15W", sc.fixed_load, 1, CACHE))
        assert dynamic_pays(sc, g, plat, "15W", CACHE, heur) is pays, name
        cfg = TrainConfig(workloads=("resnet18",), platform="jetson-orin-nano-8gb", mode="15W", algo="ils",
                          scenario=name, timesteps=200, seed=0)
        res = train_placement_policy(cfg)
        key = cfg.label(cfg.cases[0])
        own, final = res.own[key], res.final[key]
        obj = StreamObjective(sc, g, plat, "15W", requests=1, cache=CACHE)
        # what ships replays at its label (the engine's reference run = the exact evaluator)
        assert obj.score(res.schedule(key)) == pytest.approx(final["latency_s"], rel=1e-9)
        assert obj.score(StaticSchedule.from_dict(own["schedule"])) == pytest.approx(own["latency_s"], rel=1e-9)
        if not pays:
            assert own["rule"] == "schedule" and "rule_latency_s" not in own
            assert obj.score(res.engine_policy[key]) == pytest.approx(own["latency_s"], rel=1e-9)
            continue
        assert res.evaluations[0]["stream"]["rule"] == "planner" and own["rule"] == "planner"
        rule_s = obj.score(res.engine_policy[key])  # what the scenario benchmark runs: the planner
        assert rule_s == own["rule_latency_s"] == res.evaluations[0]["stream"]["chosen_full_s"]
        assert rule_s <= obj.score("coexec") < min(obj.score(b) for b in ("gpu", "cpu", "heft"))
        assert final["latency_s"] <= heur[res.teacher[key][0]][0]  # never shipped behind its teacher
