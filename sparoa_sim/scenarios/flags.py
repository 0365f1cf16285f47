"""The quick flags: ``--background cpu=0.2,gpu=0.75`` and ``--corun WORKLOAD@RATE``, and how they combine
with ``--scenario`` (a flag adds to a scenario or replaces one part of it; a contradiction is refused).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from sparoa_sim.errors import SimulationError
from sparoa_sim.scenarios.spec import ArrivalSpec, LoadSpec, Scenario, StreamSpec

__all__ = ["parse_background", "parse_corun", "with_flags"]


def parse_background(text: str) -> LoadSpec:
    """``cpu=0.2,gpu=0.75`` (either part may be left out) → a fixed :class:`LoadSpec`."""
    if not isinstance(text, str) or not text.strip():
        raise SimulationError(f"--background: expected cpu=SHARE,gpu=SHARE, got {text!r}")
    shares: dict[str, float] = {}
    for part in text.split(","):
        key, eq, val = part.partition("=")
        key = key.strip().lower()
        if not eq or key not in ("cpu", "gpu"):
            raise SimulationError(f"--background: expected cpu=SHARE,gpu=SHARE, got {part.strip()!r}")
        if key in shares:
            raise SimulationError(f"--background: {key} given twice")
        try:
            shares[key] = float(val)
        except ValueError:
            raise SimulationError(f"--background: {key} share must be a number, got {val.strip()!r}") from None
    return LoadSpec(kind="fixed", cpu=shares.get("cpu", 0.0), gpu=shares.get("gpu", 0.0))


def parse_corun(text: str, requests: int = 100, deadline_s: float | None = None) -> StreamSpec:
    """``WORKLOAD@RATE`` → a co-running stream on the GPU: ``RATE`` requests per second as Poisson arrivals,
    or ``RATEfps`` as a camera (periodic frames), ``requests`` of them; ``WORKLOAD@RATE:POLICY`` names its policy."""
    if not isinstance(text, str) or "@" not in text:
        raise SimulationError(f"--corun: expected WORKLOAD@RATE (e.g. mobilenetv2@30fps), got {text!r}")
    workload, _, rest = text.rpartition("@")
    rate_text, _, policy = rest.partition(":")
    workload, rate_text, policy = workload.strip(), rate_text.strip().lower(), policy.strip() or "gpu"
    if not workload:
        raise SimulationError(f"--corun: no workload before '@' in {text!r}")
    periodic = rate_text.endswith("fps")
    try:
        rate = float(rate_text[:-3] if periodic else rate_text)
    except ValueError:
        raise SimulationError(f"--corun: rate must be a number of requests per second or NNfps, got {rate_text!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise SimulationError(f"--corun: rate must be positive, got {rate_text!r}")
    arrival = (ArrivalSpec(kind="periodic", fps=rate, requests=requests) if periodic
               else ArrivalSpec(kind="poisson", rate=rate, requests=requests))
    return StreamSpec(workload=workload, policy=policy, arrival=arrival, deadline_s=deadline_s)


def with_flags(scenario: Scenario | None, *, background: str | None = None,
               coruns: Sequence[str] = (), arrival_given: bool = False) -> Scenario | None:
    """``scenario`` with the quick flags applied (None stays None when no flag is given).

    ``--background`` replaces the scenario's load; ``--corun`` adds streams; ``arrival_given`` (the command
    also got ``--arrival``/``--batch``-style stream flags) conflicts with a scenario that sets its own arrivals.
    """
    if scenario is None and background is None and not coruns:
        return None
    base = scenario or Scenario(name="flags")
    if arrival_given and scenario is not None and scenario.primary != StreamSpec():
        raise SimulationError(f"--scenario {scenario.name} sets the request stream (arrivals, batching); "
                              "drop --arrival/--batch/--concurrency or edit the scenario file")
    changes: dict[str, object] = {}
    if background is not None:
        changes["background"] = parse_background(background)
    if coruns:
        extra = tuple(parse_corun(c) for c in coruns)
        changes["coruns"] = base.coruns + extra
    if not changes:
        return base
    name = base.name if scenario is None else f"{base.name}+flags"
    return replace(base, name=name, **changes)
