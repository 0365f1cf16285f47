"""Scenarios as data (docs/architecture.md §4.5): the situation a workload runs in — other tenants' load,
arrivals and batching, co-running DNNs with their own deadlines — named, versioned, shipped as TOML.

``load_scenario("gpu-shared-heavy")`` or ``load_scenario("my.toml")``;
:func:`sparoa_sim.scenarios.engine.engine_inputs` turns one into the engine's arguments. Shipped: see :func:`list_scenarios` and docs/scenarios.md.
"""

from sparoa_sim.scenarios.files import (
    list_scenarios,
    load_scenario,
    scenario_from_dict,
    scenario_to_dict,
    scenario_to_toml,
    write_scenario,
)
from sparoa_sim.scenarios.flags import parse_background, parse_corun, with_flags
from sparoa_sim.scenarios.spec import SCENARIO_VERSION, ArrivalSpec, LoadSpec, PowerSwitch, Scenario, StreamSpec

__all__ = ["SCENARIO_VERSION", "ArrivalSpec", "LoadSpec", "PowerSwitch", "Scenario", "StreamSpec",
           "list_scenarios", "load_scenario", "parse_background", "parse_corun", "scenario_from_dict",
           "scenario_to_dict", "scenario_to_toml", "with_flags", "write_scenario"]
