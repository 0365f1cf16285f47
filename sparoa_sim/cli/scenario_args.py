"""``--scenario NAME|FILE``, ``--background cpu=S,gpu=S`` and ``--corun WORKLOAD@RATE``: the options every
command that runs a workload shares (docs/architecture.md §4.5, §9), read into one scenario value.
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from sparoa_sim.errors import SimulationError

if TYPE_CHECKING:
    from sparoa_sim.scenarios import Scenario

__all__ = ["add_scenario_args", "fixed_load", "read_scenario"]


def add_scenario_args(p: argparse.ArgumentParser, corun: bool = True) -> None:
    """Add the scenario options to ``p`` (``corun=False`` where co-running streams make no sense)."""
    p.add_argument("--scenario", default=None, metavar="NAME|FILE",
                   help="a shipped scenario (sparoa scenarios lists them) or a scenario .toml: background load, "
                        "arrivals, co-running models, deadlines")
    p.add_argument("--background", default=None, metavar="cpu=S,gpu=S",
                   help="a fixed background load: the share of each device other tenants take (e.g. gpu=0.75)")
    if corun:
        p.add_argument("--corun", action="append", default=[], metavar="WORKLOAD@RATE",
                       help="a co-running model on the GPU: RATE requests/s (Poisson) or RATEfps (camera); "
                            "WORKLOAD@RATE:POLICY names its policy; repeatable")


def _stream_flags_given(args: argparse.Namespace) -> bool:
    return (getattr(args, "arrival", "closed") != "closed" or str(getattr(args, "batch", "1")) != "1"
            or getattr(args, "max_inflight", 1) != 1 or getattr(args, "batch_timeout", math.inf) != math.inf)


def read_scenario(args: argparse.Namespace) -> Scenario | None:
    """The scenario the options describe (None when none is given)."""
    from sparoa_sim.scenarios import load_scenario, with_flags

    sc = load_scenario(args.scenario) if args.scenario is not None else None
    return with_flags(sc, background=args.background, coruns=getattr(args, "corun", []) or [],
                      arrival_given=_stream_flags_given(args))


def fixed_load(args: argparse.Namespace, command: str) -> tuple[float, float]:
    """The fixed (cpu, gpu) background load of the scenario options, for a command that solves one inference
    (``oracle``): a changing load, co-runs or a request stream are refused naming the scenario."""
    sc = read_scenario(args)
    if sc is None:
        return (0.0, 0.0)
    if sc.fixed_load is None:
        raise SimulationError(f"{command}: scenario {sc.name} has a changing background load "
                              f"({sc.background.describe() if sc.background else ''}); {command} solves a fixed load "
                              "(use --background cpu=S,gpu=S or a fixed-load scenario)")
    if not sc.single_inference:
        raise SimulationError(f"{command}: scenario {sc.name} runs a request stream or co-running models; "
                              f"{command} solves one inference (its fixed load is used only when the scenario has "
                              "nothing else)")
    return sc.fixed_load
