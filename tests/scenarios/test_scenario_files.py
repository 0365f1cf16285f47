"""Scenario values, files and quick flags: validation, round trips, one-line errors naming the field."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.errors import SimulationError
from sparoa_sim.scenarios import (
    ArrivalSpec,
    LoadSpec,
    Scenario,
    StreamSpec,
    list_scenarios,
    load_scenario,
    parse_background,
    parse_corun,
    scenario_from_dict,
    scenario_to_toml,
    with_flags,
    write_scenario,
)
from sparoa_sim.scenarios.files import SCENARIO_DIR

SHIPPED = ("idle", "gpu-shared-moderate", "gpu-shared-heavy", "gpu-shared-varying", "camera-30fps", "bursts",
           "clients-8", "detector-classifier")


def test_the_documented_set_is_shipped():
    assert set(SHIPPED) <= set(list_scenarios())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_round_trip_through_a_file(name, tmp_path):
    s = load_scenario(name)
    assert s.name == name and s.description
    path = write_scenario(s, tmp_path / f"{name}.toml")
    assert load_scenario(path) == s
    assert load_scenario(SCENARIO_DIR / f"{name}.toml") == s


def test_fixed_load_and_what_the_oracle_can_solve():
    assert load_scenario("idle").fixed_load == (0.0, 0.0) and load_scenario("idle").single_inference
    heavy = load_scenario("gpu-shared-heavy")
    assert heavy.fixed_load == (0.0, 0.8) and heavy.single_inference and not heavy.stochastic
    varying = load_scenario("gpu-shared-varying")
    assert varying.fixed_load is None and varying.stochastic
    det = load_scenario("detector-classifier")
    assert not det.single_inference and det.coruns[0].workload == "ssdlite_mobilenetv2"
    assert LoadSpec(kind="markov", levels=(0.3,), devices=("gpu",)).fixed == (0.0, 0.3)


def _write(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, needle", [
    ('name = "x"\nbogus = 1\n', "unknown key 'bogus'"),
    ('name = "x"\n[background]\nkind = "fixed"\ngpu = 1.5\n', "background.gpu: 1.5 is outside"),
    ('name = "x"\n[background]\nkind = "weird"\n', "background.kind: unknown kind 'weird'"),
    ('name = "x"\n[background]\nkind = "trace"\npoints = [[0.1, 0, 0]]\n', "first point must be at 0"),
    ('name = "x"\n[background]\nkind = "trace"\npoints = [[0, 0, 0], [0, 0.2, 0]]\n', "times must increase"),
    ('name = "x"\nversion = 99\n', "version 99 is not supported"),
    ('name = "x"\n[primary]\nworkload = "resnet18"\n', "unknown key 'workload'"),
    ('name = "x"\n[primary.arrival]\nkind = "periodic"\nfps = -3\nrequests = 2\n', "arrival.fps: -3"),
    ('name = "x"\n[primary.arrival]\nkind = "closed"\nrequests = 100000000\n', "arrival.requests"),
    ('name = "x"\n[[corun]]\npolicy = "gpu"\n', "corun[0]: missing key 'workload'"),
    ('name = "x"\n[[corun]]\nworkload = "a"\npolicy = "external"\n', "not 'external'"),
    ('name = "x"\n[[corun]]\nworkload = "a"\n[[corun]]\nworkload = "a"\n', "two co-runs named 'a'"),
    ('name = "x"\n[primary]\ndeadline_s = 0\n', "deadline_s: 0 is outside"),
    ('name = \n', "malformed TOML"),
    ('description = "no name"\n', "missing key 'name'"),
])
def test_bad_files_are_refused_naming_file_and_field(tmp_path, text, needle):
    p = _write(tmp_path, text)
    with pytest.raises(SimulationError) as exc:
        load_scenario(p)
    msg = str(exc.value)
    assert needle in msg and str(p) in msg and "\n" not in msg


def test_deeply_nested_file_is_one_error(tmp_path):
    p = _write(tmp_path, 'name = "x"\nbogus = ' + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(SimulationError, match=r"nested \d+ levels deep \(limit 64, MAX_NESTING_DEPTH\)"):
        load_scenario(p)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(SimulationError, match="unknown scenario 'nope'.*gpu-shared-heavy"):
        load_scenario("nope")
    with pytest.raises(SimulationError, match="no such scenario file"):
        load_scenario("/nonexistent/dir/x.toml")


def test_quick_flags():
    assert parse_background("cpu=0.2,gpu=0.75") == LoadSpec(kind="fixed", cpu=0.2, gpu=0.75)
    assert parse_background("gpu=0.9").fixed == (0.0, 0.9)
    c = parse_corun("mobilenetv2@30fps")
    assert c.workload == "mobilenetv2" and c.arrival.kind == "periodic" and c.arrival.fps == 30.0 and c.policy == "gpu"
    c = parse_corun("resnet18@12.5:cpu")
    assert c.arrival.kind == "poisson" and c.arrival.rate == 12.5 and c.policy == "cpu"
    s = with_flags(load_scenario("camera-30fps"), background="gpu=0.5", coruns=["resnet18@30fps"])
    assert s.fixed_load == (0.0, 0.5) and len(s.coruns) == 1 and s.primary.arrival.fps == 30.0
    assert with_flags(None) is None
    assert with_flags(None, background="cpu=0.1").name == "flags"


@pytest.mark.parametrize("bad, needle", [
    ("gpu=2", "background.gpu: 2.0 is outside"), ("gpu", "expected cpu=SHARE"), ("tpu=0.1", "expected cpu=SHARE"),
    ("gpu=x", "must be a number"), ("gpu=0.1,gpu=0.2", "given twice"), ("", "expected cpu=SHARE"),
])
def test_bad_background_flag(bad, needle):
    with pytest.raises(SimulationError, match=needle):
        parse_background(bad)


@pytest.mark.parametrize("bad, needle", [
    ("resnet18", "WORKLOAD@RATE"), ("@30", "no workload"), ("resnet18@fast", "rate must be"),
    ("resnet18@0", "rate must be positive"), ("resnet18@nanfps", "rate must be positive"),
])
def test_bad_corun_flag(bad, needle):
    with pytest.raises(SimulationError, match=needle):
        parse_corun(bad)


def test_a_scenario_that_sets_arrivals_conflicts_with_arrival_flags():
    with pytest.raises(SimulationError, match="--scenario camera-30fps sets the request stream"):
        with_flags(load_scenario("camera-30fps"), arrival_given=True)
    assert with_flags(load_scenario("gpu-shared-heavy"), arrival_given=True).name == "gpu-shared-heavy"


shares = st.floats(0.0, 0.95, allow_nan=False)
arrivals = st.one_of(
    st.builds(ArrivalSpec, kind=st.just("closed"), requests=st.integers(1, 1000),
              concurrency=st.one_of(st.none(), st.integers(1, 16))),
    st.builds(ArrivalSpec, kind=st.just("poisson"), requests=st.integers(1, 1000), rate=st.floats(0.01, 1e4)),
    st.builds(ArrivalSpec, kind=st.just("periodic"), requests=st.integers(1, 1000), fps=st.floats(0.01, 1e3)),
    st.builds(ArrivalSpec, kind=st.just("bursts"), requests=st.integers(1, 1000), burst=st.integers(1, 16),
              every_s=st.floats(1e-3, 10.0)),
    st.builds(ArrivalSpec, kind=st.just("trace"),
              times=st.lists(st.floats(0, 100), min_size=1, max_size=20).map(lambda t: tuple(sorted(t)))),
)
loads = st.one_of(
    st.none(),
    st.builds(LoadSpec, kind=st.just("fixed"), cpu=shares, gpu=shares),
    st.builds(LoadSpec, kind=st.just("markov"), levels=st.lists(shares, min_size=1, max_size=4).map(tuple),
              mean_hold_s=st.floats(1e-3, 10.0), devices=st.sampled_from([("cpu",), ("gpu",), ("cpu", "gpu")])),
    st.lists(st.tuples(shares, shares), min_size=1, max_size=5).map(
        lambda ls: LoadSpec(kind="trace", points=tuple((0.1 * i, c, g) for i, (c, g) in enumerate(ls)))),
)
streams = st.builds(StreamSpec, arrival=arrivals, max_batch=st.integers(1, 8), max_inflight=st.integers(1, 4),
                    timeout_s=st.one_of(st.just(math.inf), st.floats(0, 1)),
                    deadline_s=st.one_of(st.none(), st.floats(1e-4, 10.0)))


@given(background=loads, primary=streams, coruns=st.lists(st.tuples(st.sampled_from(["resnet18", "vgg16"]), streams),
                                                           max_size=2, unique_by=lambda t: t[0]),
       description=st.text(max_size=30))
def test_any_scenario_round_trips(background, primary, coruns, description):
    import tomllib
    from dataclasses import replace
    s = Scenario(name="r", description=description, background=background, primary=primary,
                 coruns=tuple(replace(c, workload=w) for w, c in coruns))
    assert scenario_from_dict(tomllib.loads(scenario_to_toml(s)), "t") == s
