"""A scenario as the engine's arguments: arrivals, batching, background load, co-running streams.

:func:`engine_inputs` is the one place that maps the scenario values of :mod:`sparoa_sim.scenarios.spec` onto
:class:`~sparoa_sim.sim.simulator.Simulator` arguments, so ``sparoa simulate``, ``evaluate``, ``train``, the
benchmark and ``gym.make("SparOA-v0", scenario=...)`` run a named scenario identically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sparoa_sim.errors import SimulationError
from sparoa_sim.scenarios.spec import ArrivalSpec, LoadSpec, Scenario, StreamSpec
from sparoa_sim.sim.arrivals import Batching, ClosedLoop, Periodic, Poisson, TraceArrivals
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.hwstate import BackgroundLoad, LoadTrace
from sparoa_sim.sim.streams import CoRun

__all__ = ["EngineInputs", "arrivals_of", "background_of", "engine_inputs"]


def arrivals_of(a: ArrivalSpec, requests: int | None = None) -> Any:
    """The engine's arrivals value for ``a`` (``requests`` overrides its count, except for a trace)."""
    n = a.requests if requests is None or a.kind == "trace" else requests
    if a.kind == "closed":
        return ClosedLoop(n, a.concurrency)
    if a.kind == "poisson":
        return Poisson(a.rate, n)
    if a.kind == "periodic":
        return Periodic(a.fps, n)
    if a.kind == "bursts":
        return TraceArrivals(tuple((i // a.burst) * a.every_s for i in range(n)))
    return TraceArrivals(a.times)


def background_of(b: LoadSpec | None) -> BackgroundLoad | LoadTrace | None:
    """The engine's background-load value for ``b`` (None: idle)."""
    if b is None:
        return None
    if b.kind == "fixed":
        return LoadTrace.fixed(cpu=b.cpu, gpu=b.gpu)
    if b.kind == "markov":
        return BackgroundLoad(levels=b.levels, mean_hold_s=b.mean_hold_s, devices=b.devices)
    return LoadTrace(b.points)


def _batching(s: StreamSpec) -> Batching:
    return Batching(max_batch=s.max_batch, timeout_s=s.timeout_s, max_inflight=s.max_inflight)


@dataclass(frozen=True)
class EngineInputs:
    """What a scenario gives a :class:`~sparoa_sim.sim.simulator.Simulator`."""

    arrivals: Any
    batching: Batching
    background: BackgroundLoad | LoadTrace | None
    coruns: tuple[CoRun, ...]
    deadline_s: float | None
    power: tuple[tuple[float, str], ...] = ()  # (time_s, mode): power-mode switches (sim.powerswitch)

    def config(self, base: SimConfig | None = None) -> SimConfig:
        """``base`` (default ``SimConfig()``) with the scenario's background load."""
        return (base or SimConfig()).replace(background=self.background)

    def simulator_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Simulator`` besides graph, platform, policy and config."""
        kw = {"arrivals": self.arrivals, "batching": self.batching, "coruns": self.coruns,
              "deadline_s": self.deadline_s}
        return {**kw, "power": self.power} if self.power else kw


def engine_inputs(scenario: Scenario, requests: int | None = None) -> EngineInputs:
    """The engine's arguments for ``scenario`` (``requests``: the primary stream's count, overriding the file's)."""
    if not isinstance(scenario, Scenario):
        raise SimulationError(f"scenario must be a Scenario, got {scenario!r}")
    coruns = tuple(CoRun(workload=c.workload, policy=c.policy, arrivals=arrivals_of(c.arrival), batching=_batching(c),
                         deadline_s=c.deadline_s, name=c.name or c.workload) for c in scenario.coruns)
    p = scenario.primary
    return EngineInputs(arrivals=arrivals_of(p.arrival, requests), batching=_batching(p),
                        background=background_of(scenario.background), coruns=coruns, deadline_s=p.deadline_s,
                        power=tuple((sw.time_s, sw.mode) for sw in scenario.power))
