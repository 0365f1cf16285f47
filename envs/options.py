"""The environments' constructor options as one validated, JSON-able frozen value.

Every option is a name, a number, a bool or a list of those (never an object), so
``gym.make("SparOA-v0", **options)`` round-trips through ``EnvSpec.to_json()`` and a pickled
env can be rebuilt from its options alone. Bad values raise
:class:`~sparoa_sim.errors.SimulationError` naming the option and the value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sparoa_sim.sim.arrivals import parse_arrival
from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels.platform import PRECISIONS
from sparoa_sim.sim.hwstate import MAX_LOAD

__all__ = ["ACTION_MODES", "BACKGROUNDS", "SYNTHETIC", "EnvOptions"]

SYNTHETIC = "synthetic"
ACTION_MODES = ("discrete", "continuous")
BACKGROUNDS = ("off", "fixed", "random")
RANDOM = "random"


def _bad(option: str, value: Any, why: str) -> SimulationError:
    return SimulationError(f"env option {option!r} = {value!r}: {why}")


def _names(option: str, value: Any) -> tuple[str, ...]:
    """A name or a non-empty list of names → tuple of strings."""
    items = [value] if isinstance(value, str) else value
    if isinstance(items, (bytes, dict)) or not isinstance(items, Sequence) or not items:
        raise _bad(option, value, "expected a name, a path or a non-empty list of them")
    for v in items:
        if not isinstance(v, str) or not v:
            raise _bad(option, value, f"entry {v!r} is not a non-empty string")
    return tuple(items)


def _number(option: str, value: Any, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(option, value, "expected a finite number")
    v = float(value)
    if v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi):
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        raise _bad(option, value, f"must lie in {left}{lo:g}, {hi:g}{right}")
    return v


def _count(option: str, value: Any, lo: int = 1, hi: int = 1_000_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _bad(option, value, f"expected an integer in [{lo}, {hi}]")
    return int(value)


@dataclass(frozen=True)
class EnvOptions:
    """Options shared by ``SparOA-v0`` and ``SparOAThreshold-v0`` (documented in ``docs/architecture.md`` §5 and the README's Gymnasium section).

    Attributes:
        workloads: a workload name or graph path, a list of them (one drawn per episode), or
            ``"synthetic"`` (a fresh synthetic DAG of ``synthetic_ops`` operators per episode;
            may also appear inside the list).
        platform: a profile name or TOML path, or a list (one drawn per episode).
        mode: a power-mode name, None (the profile's default) or ``"random"`` (drawn per episode).
        background: ``"off"``, ``"fixed"`` (a constant share ``background_level`` of both devices)
            or ``"random"`` (the engine's Markov-modulated background load).
        noise: multiplicative latency noise (the profile's σ).
        obs_delay_s, obs_noise: the observed background load is the load ``obs_delay_s`` ago plus
            Gaussian noise of std ``obs_noise`` (clipped to [0, 1]), as a real runtime sees it.
        batch: batch size, or a list of sizes (one drawn per episode).
        requests: requests per episode (N); ``arrival``: ``closed``, ``closed:C`` or ``poisson:RATE``.
        lam: weight λ of energy in the objective.
        action_mode: ``"discrete"`` (Discrete(2)) or ``"continuous"`` (Box(-1, 1, (1,))).
        dead_zone: fraction of the continuous action's [0, 1] range at each end mapped to exactly
            CPU / GPU; ``split_levels``: GPU shares of split operators are multiples of 1/split_levels.
        thresholds: optional (τ_s, τ_I) of the threshold rule, exposed as the last two features.
        reference: the reference setting (noise, background, contention, interference off).
        precision: ``fp32``, ``fp16`` or ``fp16_tc``.
        synthetic_ops: operators per synthetic workload.
        scenario: None, a scenario name or ``.toml`` path, or a list of them (one drawn per episode: a
            scenario mix, docs/architecture.md §4.5). A scenario sets the background load, the arrivals
            and batching and any co-running models, so it excludes ``background``/``arrival``/``batch``
            other than their defaults where it sets the same thing.
    """

    workloads: tuple[str, ...] = ("resnet18",)
    platform: tuple[str, ...] = ("jetson-agx-orin-64gb",)
    mode: str | None = None
    background: str = "random"
    background_level: float = 0.25
    noise: bool = True
    obs_delay_s: float = 0.0
    obs_noise: float = 0.0
    batch: tuple[int, ...] = (1,)
    requests: int = 1
    arrival: str = "closed"
    lam: float = 0.0
    action_mode: str = "discrete"
    dead_zone: float = 0.1
    split_levels: int = 8
    thresholds: tuple[float, float] | None = None
    reference: bool = False
    precision: str = "fp32"
    synthetic_ops: int = 40
    scenario: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "workloads", _names("workloads", self.workloads))
        s(self, "platform", _names("platform", self.platform))
        if self.mode is not None and (not isinstance(self.mode, str) or not self.mode):
            raise _bad("mode", self.mode, "expected a power-mode name, None or 'random'")
        if self.background not in BACKGROUNDS:
            raise _bad("background", self.background, f"expected one of {', '.join(BACKGROUNDS)}")
        s(self, "background_level", _number("background_level", self.background_level, 0.0, MAX_LOAD))
        for flag in ("noise", "reference"):
            if not isinstance(getattr(self, flag), bool):
                raise _bad(flag, getattr(self, flag), "expected true or false")
        s(self, "obs_delay_s", _number("obs_delay_s", self.obs_delay_s, 0.0, math.inf))
        s(self, "obs_noise", _number("obs_noise", self.obs_noise, 0.0, 1.0))
        batch = [self.batch] if isinstance(self.batch, int) else self.batch
        if isinstance(batch, (str, bytes)) or not isinstance(batch, Sequence) or not batch:
            raise _bad("batch", self.batch, "expected a batch size or a non-empty list of them")
        s(self, "batch", tuple(_count("batch", b, 1, 4096) for b in batch))
        s(self, "requests", _count("requests", self.requests, 1, 100_000))
        if not isinstance(self.arrival, str):
            raise _bad("arrival", self.arrival, "expected 'closed', 'closed:C' or 'poisson:RATE'")
        if self.arrival.startswith("trace"):
            raise _bad("arrival", self.arrival, "arrival traces are not supported by the environments")
        parse_arrival(self.arrival, self.requests)  # raises SimulationError on a malformed string
        s(self, "lam", _number("lam", self.lam, 0.0, math.inf))
        if self.action_mode not in ACTION_MODES:
            raise _bad("action_mode", self.action_mode, f"expected one of {', '.join(ACTION_MODES)}")
        s(self, "dead_zone", _number("dead_zone", self.dead_zone, 0.0, 0.5, hi_open=True))
        s(self, "split_levels", _count("split_levels", self.split_levels, 2, 1024))
        if self.thresholds is not None:
            t = self.thresholds
            if isinstance(t, (str, bytes)) or not isinstance(t, Sequence) or len(t) != 2:
                raise _bad("thresholds", t, "expected null or [tau_s, tau_i]")
            s(self, "thresholds", (_number("thresholds[0] (tau_s)", t[0], 0.0, 1.0),
                                   _number("thresholds[1] (tau_i)", t[1], 0.0, math.inf, lo_open=True)))
        if self.precision not in PRECISIONS:
            raise _bad("precision", self.precision, f"expected one of {', '.join(PRECISIONS)}")
        s(self, "synthetic_ops", _count("synthetic_ops", self.synthetic_ops, 3, 5000))
        if self.scenario is not None:
            s(self, "scenario", _names("scenario", self.scenario))
            self._check_scenarios()

    def _check_scenarios(self) -> None:
        from sparoa_sim.scenarios import StreamSpec, load_scenario

        for name in self.scenario or ():
            sc = load_scenario(name)  # raises naming the file and field
            if sc.background is not None and self.background != "random":
                raise _bad("background", self.background, f"scenario {sc.name!r} sets the background load")
            if sc.primary != StreamSpec() and (self.arrival != "closed" or self.batch != (1,) or self.requests != 1):
                raise _bad("arrival", self.arrival, f"scenario {sc.name!r} sets the arrivals and batching "
                                                    "(leave arrival, batch and requests at their defaults)")

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> EnvOptions:
        """Build from constructor keywords; an unknown keyword is a clear error."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise SimulationError(f"env options: unknown option(s) {unknown} (known: {', '.join(sorted(known))})")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
