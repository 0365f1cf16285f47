"""Placement policies: one interface, ``decide(view) → action``, and a registry by name (docs/architecture.md §4).

An action is the GPU share of the operator: ``0`` (CPU), ``1`` (GPU) or, for operators with a
split axis, a share strictly between them (the operator runs on both devices at once). A policy
may define ``reset(ctx)``; the simulator calls it before every run with a :class:`PolicyContext`
(graph, platform, mode, precision and the policy's own random generator, a substream of the
run's seed). A policy with an ``order`` attribute (``{"cpu": [...], "gpu": [...]}``) fixes the
order of operators on each device: the executors honour it.

Built-ins (by name): ``cpu``, ``gpu``, ``random``, ``threshold`` — plus any path to a JSON
schedule (a :class:`StaticSchedule`) and any callable ``f(view) → action``. Later layers add
names with :func:`register_policy` (a factory, or a ``"module:attr"`` string imported on first
use so that the core never imports them eagerly).
"""

from __future__ import annotations

import importlib
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels import Platform
from sparoa_sim.hwmodels.fileio import read_json
from sparoa_sim.ir.graph import OpGraph, atomic_write_text
from sparoa_sim.sim.view import OpView

__all__ = [
    "CallablePolicy",
    "CpuOnly",
    "ExternalPolicy",
    "GpuOnly",
    "Policy",
    "PolicyContext",
    "RandomPolicy",
    "SCHEDULE_KIND",
    "SCHEDULE_VERSION",
    "StaticSchedule",
    "ThresholdPolicy",
    "make_policy",
    "policy_name",
    "policy_names",
    "register_policy",
]

SCHEDULE_VERSION = 1
SCHEDULE_KIND = "sparoa-schedule"


@runtime_checkable
class Policy(Protocol):
    """Anything with ``decide(view) → 0 | 1 | GPU share``; ``reset(ctx)`` is optional."""

    def decide(self, view: OpView) -> float | int:  # pragma: no cover - protocol
        ...


@dataclass(frozen=True)
class PolicyContext:
    """What a policy learns at the start of a run (passed to its optional ``reset``)."""

    graph: OpGraph
    platform: Platform
    mode: str
    precision: str
    reference: bool
    rng: np.random.Generator
    max_batch: int = 1


# ---------------------------------------------------------------------------------------------
# built-in policies


class CpuOnly:
    """Every operator on the CPU."""

    name = "cpu"

    def decide(self, view: OpView) -> int:
        return 0

    def __repr__(self) -> str:
        return "CpuOnly()"


class GpuOnly:
    """Every operator on the GPU."""

    name = "gpu"

    def decide(self, view: OpView) -> int:
        return 1

    def __repr__(self) -> str:
        return "GpuOnly()"


_BLOCK = 256  # uniforms the random policy draws at a time


class RandomPolicy:
    """Each operator on the GPU with probability ``p_gpu``; with ``split=True`` a splittable
    operator gets a uniform GPU share instead. Draws from the run's policy substream."""

    name = "random"

    def __init__(self, p_gpu: float = 0.5, split: bool = False) -> None:
        if not isinstance(p_gpu, (int, float)) or isinstance(p_gpu, bool) or not 0.0 <= p_gpu <= 1.0:
            raise SimulationError(f"random policy: p_gpu must lie in [0, 1], got {p_gpu!r}")
        self.p_gpu = float(p_gpu)
        self.split = bool(split)
        self._rng = np.random.default_rng(0)
        self._draws: list[float] = []

    def reset(self, ctx: PolicyContext) -> None:
        self._rng = ctx.rng
        self._draws = []

    def decide(self, view: OpView) -> float | int:
        draws = self._draws
        if not draws:  # uniforms in blocks: the same numbers, in the same order, as one call per decision
            draws.extend(self._rng.random(_BLOCK).tolist())
            draws.reverse()
        u = draws.pop()
        if self.split and view.splittable:
            return u
        return 1 if u < self.p_gpu else 0

    def __repr__(self) -> str:
        return f"RandomPolicy(p_gpu={self.p_gpu}, split={self.split})"


_SPARSITY = ("act", "weight", "max")
_INTENSITY = ("flop_per_byte", "flops")


class ThresholdPolicy:
    """The SparOA threshold rule (docs/architecture.md §2), exactly: an operator goes to the CPU iff its
    sparsity ≥ ``tau_s`` **and** its intensity ≤ ``tau_i``, else to the GPU.

    ``sparsity``: ``act`` (input activations), ``weight`` or ``max`` (the larger);
    ``intensity``: ``flop_per_byte`` (FLOPs / bytes moved) or ``flops`` (absolute FLOPs per
    sample). ``tau_i=None`` takes the graph's median of the chosen intensity.
    """

    name = "threshold"

    def __init__(self, tau_s: float = 0.5, tau_i: float | None = None, sparsity: str = "act",
                 intensity: str = "flop_per_byte") -> None:
        if isinstance(tau_s, bool) or not isinstance(tau_s, (int, float)) or math.isnan(tau_s):
            raise SimulationError(f"threshold policy: tau_s must be a number, got {tau_s!r}")
        if tau_i is not None and (isinstance(tau_i, bool) or not isinstance(tau_i, (int, float)) or math.isnan(tau_i)):
            raise SimulationError(f"threshold policy: tau_i must be a number or None, got {tau_i!r}")
        if sparsity not in _SPARSITY:
            raise SimulationError(f"threshold policy: sparsity must be one of {', '.join(_SPARSITY)}, got {sparsity!r}")
        if intensity not in _INTENSITY:
            raise SimulationError(
                f"threshold policy: intensity must be one of {', '.join(_INTENSITY)}, got {intensity!r}")
        self.tau_s = float(tau_s)
        self.tau_i = None if tau_i is None else float(tau_i)
        self.sparsity = sparsity
        self.intensity = intensity
        self._table: list[int] = []
        self._graph: OpGraph | None = None

    @staticmethod
    def features(graph: OpGraph, sparsity: str = "act", intensity: str = "flop_per_byte") -> tuple[np.ndarray, np.ndarray]:
        """(sparsity, intensity) per operator along the chosen axes."""
        s = graph.sparsity(sparsity)
        i = graph.arrays.intensity if intensity == "flop_per_byte" else graph.arrays.flops
        return s, i

    def placement(self, graph: OpGraph) -> np.ndarray:
        """The rule's placement of every operator (0 = CPU, 1 = GPU), int array."""
        s, inten = self.features(graph, self.sparsity, self.intensity)
        tau_i = float(np.median(inten)) if self.tau_i is None else self.tau_i
        cpu = (s >= self.tau_s) & (inten <= tau_i)
        return np.where(cpu, 0, 1).astype(np.int64)

    def reset(self, ctx: PolicyContext) -> None:
        if ctx.graph is not self._graph:
            self._table = self.placement(ctx.graph).tolist()
            self._graph = ctx.graph

    def decide(self, view: OpView) -> int:
        if view._sim.graph is not self._graph:  # used without reset: build the table now
            self._table = self.placement(view.graph).tolist()
            self._graph = view.graph
        return self._table[view.op]

    def __repr__(self) -> str:
        return (f"ThresholdPolicy(tau_s={self.tau_s}, tau_i={self.tau_i}, sparsity={self.sparsity!r}, "
                f"intensity={self.intensity!r})")


class CallablePolicy:
    """Wraps any callable ``f(view) → action`` as a policy."""

    def __init__(self, fn: Callable[[OpView], float | int], name: str | None = None) -> None:
        if not callable(fn):
            raise SimulationError(f"policy: {fn!r} is not callable")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "callable")

    def decide(self, view: OpView) -> float | int:
        return self.fn(view)

    def __repr__(self) -> str:
        return f"CallablePolicy({self.name})"


class ExternalPolicy:
    """Marker: decisions come from outside, one per ``Simulator.submit`` (Gymnasium envs)."""

    name = "external"

    def decide(self, view: OpView) -> float | int:
        raise SimulationError("external policy: drive the simulator with start() / submit(action)")

    def __repr__(self) -> str:
        return "ExternalPolicy()"


# ---------------------------------------------------------------------------------------------
# static schedules


def _share(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SimulationError(f"schedule: {where} = {value!r} is not a GPU share (a number in [0, 1])")
    v = float(value)
    if not (math.isfinite(v) and 0.0 <= v <= 1.0):
        raise SimulationError(f"schedule: {where} = {value!r} is not a GPU share in [0, 1]")
    return v


class StaticSchedule:
    """A fixed placement (GPU share per operator) and optionally the order on each device.

    ``order = {"cpu": [...], "gpu": [...]}`` lists every operator with a CPU part (share < 1)
    and every operator with a GPU part (share > 0) exactly once, in the order each device runs
    them; it must agree with the dependencies. Checked against the graph at ``reset`` (or with
    :meth:`check`): errors name ``placement``, ``order`` or ``workload``.
    """

    name = "static"

    def __init__(self, placement: Sequence[float] | np.ndarray, order: Mapping[str, Sequence[int]] | None = None,
                 workload: str | None = None, source: str = "<memory>") -> None:
        try:
            raw = list(np.asarray(placement).reshape(-1).tolist()) if isinstance(placement, np.ndarray) else list(placement)
        except TypeError:
            raise SimulationError(f"schedule ({source}): 'placement' must be a list of GPU shares, got {placement!r}") from None
        self.placement: tuple[float, ...] = tuple(_share(v, f"placement[{i}]") for i, v in enumerate(raw))
        self.workload = workload
        self.source = source
        self.order: dict[str, tuple[int, ...]] | None = None
        if order is not None:
            if not isinstance(order, Mapping):
                raise SimulationError(f"schedule ({source}): 'order' must be an object with 'cpu' and 'gpu' lists")
            unknown = sorted(set(order) - {"cpu", "gpu"})
            if unknown:
                raise SimulationError(f"schedule ({source}): 'order' has unknown device(s) {unknown} (known: cpu, gpu)")
            parsed: dict[str, tuple[int, ...]] = {}
            for dev in ("cpu", "gpu"):
                seq = order.get(dev, [])
                if isinstance(seq, (str, bytes)) or not isinstance(seq, (Sequence, np.ndarray)):
                    raise SimulationError(f"schedule ({source}): 'order.{dev}' must be a list of operator indices")
                items = []
                for k, v in enumerate(seq):
                    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                        raise SimulationError(f"schedule ({source}): 'order.{dev}[{k}]' = {v!r} is not an operator index")
                    items.append(int(v))
                parsed[dev] = tuple(items)
            self.order = parsed
        self._table: list[float] = list(self.placement)
        self._checked: OpGraph | None = None

    # -- validation -----------------------------------------------------------------------
    def check(self, graph: OpGraph) -> None:
        """Raise :class:`SimulationError` unless this schedule fits ``graph``."""
        if self._checked is graph:
            return
        src = self.source
        n = len(graph)
        if self.workload is not None and self.workload != graph.name:
            raise SimulationError(f"schedule ({src}): 'workload' is {self.workload!r} but the workload is {graph.name!r}")
        if len(self.placement) != n:
            raise SimulationError(f"schedule ({src}): 'placement' has {len(self.placement)} entries but workload "
                                  f"{graph.name!r} has {n} operators")
        split = graph.arrays.splittable
        for i, s in enumerate(self.placement):
            if 0.0 < s < 1.0 and not split[i]:
                raise SimulationError(f"schedule ({src}): placement[{i}] = {s} splits operator {graph.ops[i].name!r}, "
                                      "which has no split axis (only 0 or 1 allowed)")
        if self.order is not None:
            self._check_order(graph)
        self._checked = graph

    def _check_order(self, graph: OpGraph) -> None:
        src = self.source
        n = len(graph)
        assert self.order is not None
        pos: list[dict[int, int]] = []
        for d, dev in enumerate(("cpu", "gpu")):
            seq = self.order[dev]
            want = {i for i, s in enumerate(self.placement) if (s < 1.0 if d == 0 else s > 0.0)}
            seen: dict[int, int] = {}
            for k, i in enumerate(seq):
                if not 0 <= i < n:
                    raise SimulationError(f"schedule ({src}): 'order.{dev}[{k}]' = {i} is out of range [0, {n})")
                if i in seen:
                    raise SimulationError(f"schedule ({src}): 'order.{dev}' lists operator {i} twice")
                if i not in want:
                    raise SimulationError(f"schedule ({src}): 'order.{dev}' lists operator {i} "
                                          f"({graph.ops[i].name!r}) but its placement {self.placement[i]} "
                                          f"gives it no {dev} part")
                seen[i] = k
            missing = sorted(want - set(seen))
            if missing:
                raise SimulationError(f"schedule ({src}): 'order.{dev}' misses operator(s) {missing[:10]} placed "
                                      f"(partly) on the {dev}")
            for i in seq:
                for p in graph.ops[i].deps:
                    if p in seen and seen[p] > seen[i]:
                        raise SimulationError(f"schedule ({src}): 'order.{dev}' runs {graph.ops[i].name!r} before "
                                              f"its producer {graph.ops[p].name!r}")
            pos.append(seen)
        # Cross-device: the dependencies plus both chains must stay acyclic (else a deadlock).
        succ: list[list[int]] = [[] for _ in range(n)]
        indeg = [0] * n
        for i, op in enumerate(graph.ops):
            for p in op.deps:
                succ[p].append(i)
                indeg[i] += 1
        for dev in ("cpu", "gpu"):
            seq = self.order[dev]
            for a, b in zip(seq, seq[1:]):
                succ[a].append(b)
                indeg[b] += 1
        stack = [i for i in range(n) if indeg[i] == 0]
        seen_n = 0
        while stack:
            i = stack.pop()
            seen_n += 1
            for j in succ[i]:
                indeg[j] -= 1
                if indeg[j] == 0:
                    stack.append(j)
        if seen_n != n:
            raise SimulationError(f"schedule ({src}): 'order' contradicts the dependencies across devices "
                                  "(the two device orders and the graph form a cycle: it would deadlock)")

    # -- policy ---------------------------------------------------------------------------
    def reset(self, ctx: PolicyContext) -> None:
        self.check(ctx.graph)

    def decide(self, view: OpView) -> float:
        return self._table[view.op]

    # -- JSON -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The schedule's JSON document."""
        doc: dict[str, Any] = {"schema_version": SCHEDULE_VERSION, "kind": SCHEDULE_KIND, "workload": self.workload,
                               "n_ops": len(self.placement), "placement": list(self.placement)}
        if self.order is not None:
            doc["order"] = {k: list(v) for k, v in self.order.items()}
        return doc

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the schedule JSON atomically."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_dict(cls, doc: Any, source: str = "<memory>") -> StaticSchedule:
        """Parse a schedule document (see the module docstring for the layout)."""
        if not isinstance(doc, dict):
            raise SimulationError(f"schedule ({source}): top level must be a JSON object")
        if doc.get("schema_version") != SCHEDULE_VERSION:
            raise SimulationError(f"schedule ({source}): 'schema_version' is {doc.get('schema_version')!r}; "
                                  f"this version reads {SCHEDULE_VERSION}")
        if doc.get("kind", SCHEDULE_KIND) != SCHEDULE_KIND:
            raise SimulationError(f"schedule ({source}): 'kind' is {doc.get('kind')!r}, expected {SCHEDULE_KIND!r}")
        if "placement" not in doc:
            raise SimulationError(f"schedule ({source}): missing field 'placement'")
        placement = doc["placement"]
        if not isinstance(placement, list):
            raise SimulationError(f"schedule ({source}): 'placement' must be a list of GPU shares")
        n_ops = doc.get("n_ops")
        if n_ops is not None and n_ops != len(placement):
            raise SimulationError(f"schedule ({source}): 'n_ops' is {n_ops!r} but 'placement' has {len(placement)} entries")
        workload = doc.get("workload")
        if workload is not None and not isinstance(workload, str):
            raise SimulationError(f"schedule ({source}): 'workload' must be a string, got {workload!r}")
        return cls(placement, order=doc.get("order"), workload=workload, source=source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> StaticSchedule:
        """Read a schedule JSON file."""
        p = Path(path)
        doc = read_json(p, "schedule file", SimulationError)  # the one bounded reader (size, nesting)
        return cls.from_dict(doc, source=str(p))

    def __repr__(self) -> str:
        return f"StaticSchedule(n_ops={len(self.placement)}, order={'yes' if self.order else 'no'}, source={self.source!r})"


# ---------------------------------------------------------------------------------------------
# registry

_REGISTRY: dict[str, Callable[..., Any] | str] = {}


def register_policy(name: str, factory: Callable[..., Any] | str, *, overwrite: bool = False) -> None:
    """Make ``make_policy(name, **kw)`` call ``factory(**kw)``.

    ``factory`` may be a ``"module:attr"`` string, imported on first use (so registering a
    policy from an upper layer costs no import of that layer).
    """
    if not isinstance(name, str) or not name or os.sep in name or name.endswith(".json"):
        raise SimulationError(f"policy: invalid policy name {name!r}")
    if name in _REGISTRY and not overwrite:
        raise SimulationError(f"policy: {name!r} is already registered (pass overwrite=True to replace it)")
    if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
        raise SimulationError(f"policy: factory for {name!r} must be callable or 'module:attr', got {factory!r}")
    _REGISTRY[name] = factory


def policy_names() -> list[str]:
    """Registered policy names, sorted."""
    return sorted(_REGISTRY)


def _resolve(name: str) -> Callable[..., Any]:
    f = _REGISTRY[name]
    if isinstance(f, str):
        mod, _, attr = f.partition(":")
        try:
            obj: Any = importlib.import_module(mod)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise SimulationError(f"policy: {name!r} is registered as {f!r}, which cannot be imported: {exc}") from None
        _REGISTRY[name] = obj
        return obj
    return f


def _looks_like_path(text: str) -> bool:
    return text.endswith(".json") or os.sep in text or "/" in text


def make_policy(spec: Any = "gpu", **kwargs: Any) -> Any:
    """A policy from a registered name, a schedule JSON path, a policy object or any callable.

    Unknown names raise :class:`SimulationError` listing the known ones.
    """
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if isinstance(spec, str):
        if spec in _REGISTRY:
            factory = _resolve(spec)
            try:
                return factory(**kwargs)
            except TypeError as exc:
                raise SimulationError(f"policy {spec!r}: bad parameters {sorted(kwargs)}: {exc}") from None
        if _looks_like_path(spec) or Path(spec).is_file():
            if kwargs:
                raise SimulationError(f"policy: a schedule file takes no parameters, got {sorted(kwargs)}")
            return StaticSchedule.load(spec)
        raise SimulationError(f"policy: unknown policy {spec!r} (known: {', '.join(policy_names())}; "
                              "or a path to a schedule .json)")
    if kwargs:
        raise SimulationError(f"policy: parameters {sorted(kwargs)} given with a policy object")
    if spec is None:
        return ExternalPolicy()
    if hasattr(spec, "decide") and callable(spec.decide):
        return spec
    if isinstance(spec, (list, tuple, np.ndarray)):
        return StaticSchedule(spec)
    if callable(spec):
        return CallablePolicy(spec)
    raise SimulationError(f"policy: expected a name, a schedule path, a policy or a callable, got {spec!r}")


def policy_name(policy: Any) -> str:
    """A short name for tables and JSON."""
    src = getattr(policy, "source", None)
    if isinstance(policy, StaticSchedule) and src and src != "<memory>":
        return str(src)
    return str(getattr(policy, "name", type(policy).__name__))


register_policy("cpu", CpuOnly)
register_policy("gpu", GpuOnly)
register_policy("random", RandomPolicy)
register_policy("threshold", ThresholdPolicy)
register_policy("external", ExternalPolicy)
# Upper-layer policies, imported on first use (the core never imports sparoa_sim.agents eagerly).
register_policy("greedy", "sparoa_sim.agents.heuristics.baselines:Greedy")
register_policy("heft", "sparoa_sim.agents.heuristics.baselines:Heft")
register_policy("coexec", "sparoa_sim.agents.heuristics.baselines:CoExec")
register_policy("threshold-best", "sparoa_sim.agents.heuristics.baselines:ThresholdBest")
register_policy("oracle", "sparoa_sim.agents.exact.oracle:Oracle")
