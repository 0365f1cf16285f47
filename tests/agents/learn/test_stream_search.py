"""The load-aware policy trained for a scenario (TrainConfig.scenario): its batch and load levels, the
stream objective, the engine policy it hands over (its own rule), never worse than before tuning."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sparoa_sim.agents.exact.refsched import RefProblem, evaluate
from sparoa_sim.agents.learn.placement_policy import LoadAwarePlanner, LoadAwarePolicy
from sparoa_sim.agents.learn.placement_train import scenario_setting, train_placement_policy
from sparoa_sim.agents.learn.stream_search import (LevelObjective, StreamObjective, engine_policy, needs_stream,
                                                   refine_in_stream)
from sparoa_sim.agents.learn.train_spec import TrainConfig
from sparoa_sim.errors import PolicyError
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.scenarios import load_scenario
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.workloads import load_workload

PLAT = load_platform("jetson-orin-nano-8gb")
GRAPH = load_workload("squeezenet1_1")


def _gpu_policy(logit: float = 4.0) -> LoadAwarePolicy:
    """All on the GPU (or, logit < 0, the CPU) at every load, upward-rank order: a start to improve."""
    deps = tuple(tuple(d) for d in RefProblem.build(GRAPH, PLAT, mode="15W").deps)
    n = len(deps)
    return LoadAwarePolicy(GRAPH.name, deps, np.full(n, logit), np.zeros((n, 2)), np.zeros(n), np.zeros((n, 2)))


def test_scenario_setting_reads_levels_and_batch():
    sc, loads, batch = scenario_setting(TrainConfig(workloads=("squeezenet1_1",), algo="ils", scenario="bursts"))
    assert sc.name == "bursts" and loads == ((0.0, 0.0),) and batch == 4
    sc, loads, batch = scenario_setting(TrainConfig(workloads=("squeezenet1_1",), algo="ils",
                                                    scenario="gpu-shared-varying"))
    assert loads == ((0.0, 0.0), (0.0, 0.5), (0.0, 0.9)) and batch == 1
    assert needs_stream(sc) and needs_stream(load_scenario("clients-8")) and not needs_stream(load_scenario("idle"))
    _sc, loads, batch = scenario_setting(TrainConfig(workloads=("squeezenet1_1",), algo="ils", batch=2,
                                                     loads=((0.0, 0.3),)))
    assert _sc is None and loads == ((0.0, 0.3),) and batch == 2


@pytest.mark.parametrize("kw, field", [({"batch": 0}, "batch"), ({"batch": True}, "batch"),
                                       ({"algo": "ppo", "scenario": "bursts"}, "scenario"),
                                       ({"scenario": ""}, "scenario")])
def test_bad_config_is_refused(kw, field):
    with pytest.raises(PolicyError, match=field):
        TrainConfig(workloads=("squeezenet1_1",), **{"algo": "ils", **kw})


def test_unknown_scenario_is_refused():
    cfg = TrainConfig(workloads=("squeezenet1_1",), algo="ils", scenario="no-such-scenario", timesteps=10)
    with pytest.raises(PolicyError, match="no-such-scenario"):
        train_placement_policy(cfg)


def test_stream_objective_matches_the_engine():
    """The objective is the engine's mean primary latency on the short stream (reference setting here)."""
    from sparoa_sim.scenarios.engine import engine_inputs
    from sparoa_sim.sim.config import SimConfig
    from sparoa_sim.sim.simulator import Simulator

    sc = load_scenario("bursts")
    obj = StreamObjective(sc, GRAPH, PLAT, "15W", requests=8)
    inp = engine_inputs(sc, 8)
    sim = Simulator(GRAPH, PLAT, "heft", config=inp.config(SimConfig(mode="15W", reference=True, record_trace=False)),
                    **inp.simulator_kwargs())
    assert obj.score("heft") == sim.run(seed=0).latency_mean_s
    with pytest.raises(PolicyError, match="requests"):
        StreamObjective(sc, GRAPH, PLAT, "15W", requests=0)


def test_refinement_never_worse_and_its_result_is_the_policy_rule():
    sc = load_scenario("clients-8")
    cache = PredictionCache()
    p = RefProblem.build(GRAPH, PLAT, mode="15W", batch=4, cache=cache)
    start = _gpu_policy(-4.0)  # all on the CPU: far from good
    obj = StreamObjective(sc, GRAPH, PLAT, "15W", requests=8, cache=cache)
    r = refine_in_stream(start, {p.load: p}, obj, fixed=True, max_evaluations=25, seed=3)
    assert r.evaluations == 25 and r.score < r.start_score and r.accepted >= 1
    assert r.start_score == obj.score(start.schedule(p))
    assert r.score == obj.score(engine_policy(r.policy, {p.load: p}, True))  # the score is the policy's own


def test_level_objective_and_planner_under_changing_load():
    cache = PredictionCache()
    levels = ((0.0, 0.0), (0.0, 0.9))
    problems = {lv: RefProblem.build(GRAPH, PLAT, mode="15W", load=lv, cache=cache) for lv in levels}
    obj = LevelObjective(GRAPH, PLAT, "15W", levels, cache=cache)
    start = _gpu_policy()
    ep = engine_policy(start, problems, False)
    assert isinstance(ep, LoadAwarePlanner)
    r = refine_in_stream(start, problems, obj, fixed=False, max_evaluations=30, seed=1)
    assert r.score < r.start_score == obj.score(LoadAwarePlanner(start))
    assert r.score == obj.score(LoadAwarePlanner(r.policy))
    with pytest.raises(PolicyError, match="fixed load"):
        refine_in_stream(start, problems, obj, fixed=True, max_evaluations=2)


def test_trained_for_a_scenario_hands_over_its_engine_policy():
    cfg = TrainConfig(workloads=("squeezenet1_1",), platform="jetson-orin-nano-8gb", mode="15W", algo="ils",
                      scenario="bursts", timesteps=400, seed=0)
    tr = train_placement_policy(cfg)
    ep = tr.engine_policy["squeezenet1_1"]
    assert isinstance(ep, StaticSchedule)
    p = RefProblem.build(GRAPH, PLAT, mode="15W", batch=4)  # trained at the scenario's batch
    own = tr.policies["squeezenet1_1"].schedule(p)
    assert list(ep.placement) == list(own.placement) and ep.order == own.order  # the policy's own schedule
    assert tr.own["squeezenet1_1"]["latency_s"] == evaluate(p, own.placement, own.order).makespan
    st = tr.evaluations[0]["stream"]
    assert st["chosen_s"] <= st["start_s"]


def test_without_scenario_the_engine_policy_is_the_schedule_at_the_first_load():
    cfg = TrainConfig(workloads=("squeezenet1_1",), platform="jetson-orin-nano-8gb", mode="15W", algo="ils",
                      loads=((0.0, 0.5), (0.0, 0.0)), timesteps=200, seed=0)
    tr = train_placement_policy(cfg)
    p = RefProblem.build(GRAPH, PLAT, mode="15W", load=(0.0, 0.5))
    own = tr.policies["squeezenet1_1"].schedule(p)
    ep = tr.engine_policy["squeezenet1_1"]
    assert list(ep.placement) == list(own.placement) and ep.order == own.order
    assert tr.evaluations[0]["stream"] is None
    assert dataclasses.replace(cfg).batch == 1


def test_following_the_live_finish_times_is_earliest_finish():
    """w_finish: an operator weighing the GPU's live finish-time advantage; all of them, with a zero logit
    leaning to the GPU on ties, decide as earliest finish (greedy) does."""
    from sparoa_sim.agents.exact.refsched import reference_schedule

    n = _gpu_policy().n
    follow = dataclasses.replace(_gpu_policy(1e-9), w_finish=np.full(n, 100.0))
    for load in ((0.0, 0.0), (0.0, 0.9)):
        mine = reference_schedule(GRAPH, PLAT, LoadAwarePlanner(follow), mode="15W", load=load)[0].latency_mean_s
        greedy = reference_schedule(GRAPH, PLAT, "greedy", mode="15W", load=load)[0].latency_mean_s
        assert mine == greedy
    back = LoadAwarePolicy.from_dict(follow.to_dict())
    assert np.array_equal(back.w_finish, follow.w_finish)
    assert "w_finish" not in _gpu_policy().to_dict()  # documents without it read and write as before
    with pytest.raises(PolicyError, match="w_finish"):
        dataclasses.replace(follow, w_finish=np.zeros(n + 1))


def test_changing_load_search_can_make_operators_follow_the_backlogs():
    cache = PredictionCache()
    levels = ((0.0, 0.0), (0.0, 0.9))
    problems = {lv: RefProblem.build(GRAPH, PLAT, mode="15W", load=lv, cache=cache) for lv in levels}
    obj = LevelObjective(GRAPH, PLAT, "15W", levels, cache=cache)
    r = refine_in_stream(_gpu_policy(-4.0), problems, obj, fixed=False, max_evaluations=40, seed=2)
    assert r.score < r.start_score
    assert r.score == obj.score(LoadAwarePlanner(r.policy))
