"""Power-mode switches in scenario files: ``[[power]]`` tables, their round trip, their errors, the shipped
``nano-power-drop`` scenario in the engine and in ``sparoa scenarios show``."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.cli import main
from sparoa_sim.errors import SimulationError
from sparoa_sim.scenarios import (PowerSwitch, Scenario, load_scenario, scenario_from_dict, scenario_to_dict,
                                  scenario_to_toml, write_scenario)
from sparoa_sim.scenarios.engine import engine_inputs
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.sim.simulator import Simulator

NANO = "jetson-orin-nano-8gb"


def test_the_shipped_power_drop_round_trips_and_reaches_the_engine(tmp_path):
    s = load_scenario("nano-power-drop")
    assert s.power == (PowerSwitch(2.5, "7W"),)
    assert load_scenario(write_scenario(s, tmp_path / "p.toml")) == s
    assert "[[power]]" in scenario_to_toml(s) and scenario_to_dict(s)["power"] == [{"time_s": 2.5, "mode": "7W"}]
    assert engine_inputs(s).simulator_kwargs()["power"] == ((2.5, "7W"),)
    assert "power" not in engine_inputs(load_scenario("camera-30fps")).simulator_kwargs()  # absent: as before


def test_the_power_drop_slows_the_frames_after_it_and_only_those():
    cache = PredictionCache()
    s, cam = load_scenario("nano-power-drop"), load_scenario("camera-30fps")
    res = {}
    for key, sc, mode in (("drop", s, "15W"), ("15W", cam, "15W"), ("7W", cam, "7W")):
        inp = engine_inputs(sc, 90)
        res[key] = Simulator("squeezenet1_1", NANO, "greedy", config=inp.config(SimConfig(mode=mode, reference=True)),
                             cache=cache, **inp.simulator_kwargs()).run().latencies_s
    cut = 75  # frame 75 arrives at 2.5 s: the switch
    assert list(res["drop"][:cut]) == list(res["15W"][:cut])
    assert list(res["drop"][cut + 1:]) == pytest.approx(list(res["7W"][cut + 1:]), rel=1e-12)
    assert res["7W"][-1] > res["15W"][-1]


def test_a_mode_the_platform_lacks_is_refused_naming_the_field():
    inp = engine_inputs(load_scenario("nano-power-drop"), 4)
    with pytest.raises(SimulationError, match=r"^power\[0\]\.mode: .*unknown power mode '7W'"):
        Simulator("squeezenet1_1", "jetson-agx-orin-64gb", "gpu", **inp.simulator_kwargs())


def _doc(power):
    return {"name": "p", "power": power}


@pytest.mark.parametrize(("power", "field"), [
    ([{"time_s": 1.0}], "power[0]: missing key 'mode'"), ([{"mode": "7W"}], "power[0]: missing key 'time_s'"),
    ([{"time_s": 1.0, "mode": "7W", "watts": 7}], "power[0]: unknown key 'watts'"),
    ([{"time_s": -1.0, "mode": "7W"}], "power[0]: power.time_s"),
    ([{"time_s": 1.0, "mode": ""}], "power[0]: power.mode"),
    ([{"time_s": 2.0, "mode": "7W"}, {"time_s": 1.0, "mode": "15W"}], "power[1].time_s: times must increase"),
    ({"time_s": 1.0, "mode": "7W"}, "power must be an array of tables")])
def test_bad_power_tables_name_the_field(power, field):
    with pytest.raises(SimulationError) as exc:
        scenario_from_dict(_doc(power), "scenario file x.toml")
    msg = str(exc.value)
    assert msg.startswith("scenario file x.toml") and field in msg and "\n" not in msg


@given(st.lists(st.tuples(st.floats(0, 1e5, allow_nan=False), st.sampled_from(["15W", "7W", "MAXN"])), max_size=5))
def test_power_lists_round_trip_through_toml(raw):
    times = sorted(set(t for t, _m in raw))
    sw = tuple(PowerSwitch(t, m) for t, (_t, m) in zip(times, raw))
    s = Scenario(name="rt", power=sw)
    import tomllib

    assert scenario_from_dict(tomllib.loads(scenario_to_toml(s))) == s


def test_ils_training_and_the_benchmark_refuse_a_switching_scenario():
    from sparoa_sim.agents.experiments.scenario_bench import groups
    from sparoa_sim.agents.learn.placement_train import scenario_setting
    from sparoa_sim.agents.learn.train_spec import TrainConfig
    from sparoa_sim.errors import PolicyError, SparOAError

    cfg = TrainConfig(workloads=("squeezenet1_1",), platform=NANO, mode="15W", algo="ils", scenario="nano-power-drop",
                      timesteps=10)
    with pytest.raises(PolicyError, match="switches power mode"):
        scenario_setting(cfg)
    with pytest.raises(SparOAError, match="switches power mode"):
        groups(("squeezenet1_1",), ((NANO, "15W"),), ("nano-power-drop",))


def test_scenarios_show_prints_the_switches(capsys):
    assert main(["scenarios", "show", "nano-power-drop"]) == 0
    out = capsys.readouterr().out
    assert "[[power]]" in out and 'mode = "7W"' in out and "time_s = 2.5" in out
    assert main(["scenarios", "show", "nano-power-drop", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["power"] == [{"time_s": 2.5, "mode": "7W"}]
