"""Training budgets on wall time by default, on the process's CPU time when opted into (the scenario benchmark's
``--budget-clock cpu``), with bad names refused and resume keys of wall-clock groups as before."""

from __future__ import annotations

import time

import pytest

from sparoa_sim.agents.experiments.scenario_bench import ScenarioGroup, to_dict
from sparoa_sim.agents.learn.budget_clock import budget_clock, now
from sparoa_sim.errors import PolicyError, SparOAError


def test_wall_by_default_cpu_within_the_block():
    t0 = now()
    time.sleep(0.2)
    assert now() - t0 >= 0.2  # a sleep spends wall time
    with budget_clock("cpu"):
        c0 = now()
        time.sleep(0.2)
        assert now() - c0 < 0.1  # ... but no CPU time
        assert now() == pytest.approx(time.process_time(), abs=0.05)
    assert now() == pytest.approx(time.perf_counter(), abs=0.05)  # restored on leaving


def test_bad_clock_names_are_refused():
    with pytest.raises(PolicyError, match="budget clock.*'gpu'"):
        with budget_clock("gpu"):
            pass
    with pytest.raises(SparOAError, match="budget_clock.*'gpu'"):
        ScenarioGroup("squeezenet1_1", "jetson-orin-nano-8gb", "15W", ("idle",), budget_clock="gpu")


def test_a_wall_clock_groups_resume_key_is_as_before():
    g = ScenarioGroup("squeezenet1_1", "jetson-orin-nano-8gb", "15W", ("idle",))
    assert "budget_clock" not in to_dict(g)
    c = ScenarioGroup("squeezenet1_1", "jetson-orin-nano-8gb", "15W", ("idle",), budget_clock="cpu")
    assert to_dict(c)["budget_clock"] == "cpu" and to_dict(c) != to_dict(g)
    assert ScenarioGroup(**{**to_dict(c), "scenarios": ("idle",)}) == c
