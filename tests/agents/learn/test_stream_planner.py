"""At a fixed load with jobs in flight (clients-8) the trained policy's engine rule is whichever of its static
schedule and its backlog-aware planner the stream objective scores better; elsewhere it is as before."""

from __future__ import annotations

import numpy as np
import pytest

from sparoa_sim.agents.exact.refsched import RefProblem
from sparoa_sim.agents.learn.placement_policy import LoadAwarePlanner, LoadAwarePolicy
from sparoa_sim.agents.learn.placement_train import (STREAM_REQUESTS, STREAM_SEEDS, _tune_with_planner,
                                                     train_placement_policy)
from sparoa_sim.agents.learn.stream_search import LevelObjective, StreamObjective, jobs_in_flight
from sparoa_sim.agents.learn.train_spec import TrainConfig
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.scenarios import load_scenario
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.workloads import load_workload

PLAT = load_platform("jetson-orin-nano-8gb")
GRAPH = load_workload("squeezenet1_1")


def test_jobs_in_flight_only_at_a_fixed_load_with_concurrent_jobs():
    assert jobs_in_flight(load_scenario("clients-8"))
    assert not jobs_in_flight(load_scenario("idle"))
    assert not jobs_in_flight(load_scenario("gpu-shared-varying"))  # a changing load: the planner already


@pytest.mark.parametrize(("platform", "mode"), [("jetson-orin-nano-8gb", "15W"), ("jetson-agx-orin-64gb", "MAXN")])
def test_clients_scenario_hands_over_the_better_rule_on_the_whole_stream(platform: str, mode: str):
    sc = load_scenario("clients-8")
    cfg = TrainConfig(workloads=("squeezenet1_1",), platform=platform, mode=mode, algo="ils",
                      scenario="clients-8", timesteps=300, seed=0)
    tr = train_placement_policy(cfg)
    st = tr.evaluations[0]["stream"]
    ep = tr.engine_policy["squeezenet1_1"]
    assert "planner" in st and st["full_requests"] == sc.primary.arrival.requests
    assert isinstance(ep, LoadAwarePlanner if st["rule"] == "planner" else StaticSchedule)
    # the kept rule is the best of the candidates over the whole stream, and that is the engine policy's score
    full = StreamObjective(sc, GRAPH, load_platform(platform), mode, requests=st["full_requests"])
    assert st["chosen_full_s"] == min(st["full_s"].values()) == full.score(ep)
    # never behind co-execution there: its exact copy was one of the planner's starts
    assert st["chosen_full_s"] <= st["coexec_stream_s"] == full.score("coexec")
    assert st["planner"]["coexec_copy_s"] == st["coexec_stream_s"]
    # the teacher ships only where it scores better on the same whole stream
    assert st["teacher_stream_s"] == full.score(tr.teacher_schedule["squeezenet1_1"])
    teacher_wins = st["teacher_stream_s"] < st["chosen_full_s"]
    assert tr.final["squeezenet1_1"]["source"] == ("teacher:" + tr.teacher["squeezenet1_1"][0] if teacher_wins
                                                   else "policy")
    # its short-stream score is the engine policy's own too
    obj = StreamObjective(sc, GRAPH, load_platform(platform), mode, requests=STREAM_REQUESTS, seeds=STREAM_SEEDS)
    assert obj.score(ep) == st["chosen_s"]


def test_planner_kept_when_it_beats_the_schedule():
    """From an all-CPU start (a poor static schedule under 8 clients) the planner with every operator
    following the live backlogs already beats any schedule a few moves reach: the planner is kept."""
    sc = load_scenario("clients-8")
    cache = PredictionCache()
    p = RefProblem.build(GRAPH, PLAT, mode="15W", batch=sc.primary.max_batch, load=sc.fixed_load, cache=cache)
    deps = tuple(tuple(d) for d in p.deps)
    n = len(deps)
    start = LoadAwarePolicy(GRAPH.name, deps, np.full(n, -4.0), np.zeros((n, 2)), np.zeros(n), np.zeros((n, 2)))
    obj = StreamObjective(sc, GRAPH, PLAT, "15W", requests=8, cache=cache)
    levels = LevelObjective(GRAPH, PLAT, "15W", (sc.fixed_load,), sc.primary.max_batch, cache)
    pol, info = _tune_with_planner(start, {p.load: p}, obj, None, 3, 0, levels)
    assert info["rule"] == "planner" and info["chosen_s"] < info["score_s"]
    assert obj.score(LoadAwarePlanner(pol)) == info["chosen_s"]
    assert info["chosen_s"] <= info["planner"]["follow_s"]
