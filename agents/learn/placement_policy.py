"""A load-aware placement policy: per-operator logits and priorities, linear in the hardware state.

For background load ``s = (load_cpu, load_gpu)`` operator ``i`` has a placement logit
``bias[i] + w_load[i]·s`` (GPU when positive) and a priority offset ``prio[i] + prio_load[i]·s``.
The schedule at ``s`` is the argmax placement plus the order of a priority list schedule
(repeatedly the ready operator of highest priority; ties by index), the priority being the
operator's upward rank under that placement at that load (HEFT's critical-path-first order,
normalised to [0, 1]) plus its offset — so each device's order respects the dependencies, and an
offset spacing above 1 imposes an explicit order. The schedule is a function of the parameters
and the state (with the hardware model's latencies at that load), reproducible from the saved JSON
(:meth:`LoadAwarePolicy.save`). :class:`LoadAwarePlanner` is the policy as an engine policy: it
re-plans each operator's device from the live load the engine's view reports; operators flagged
``split`` are co-executed there (CoDL's proportional split, as the ``coexec`` baseline does) when heavy.
"""

from __future__ import annotations

import heapq
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparoa_sim.errors import PolicyError
from sparoa_sim.ir.topo import toposort
from sparoa_sim.hwmodels.fileio import read_json
from sparoa_sim.hwmodels.fileio import atomic_write_text
from sparoa_sim.sim.policies import PolicyContext, StaticSchedule

__all__ = ["POLICY_KIND", "POLICY_VERSION", "SPLIT_MIN_LATENCY_S", "SPLIT_MIN_SHARE", "LoadAwarePlanner",
           "LoadAwarePolicy", "Plan", "decode", "global_order", "proportional_share", "upward_rank"]

POLICY_KIND = "sparoa-load-aware-policy"
POLICY_VERSION = 1
#: A ``split`` operator is co-executed only when its faster device needs at least this long, and only with a GPU
#: share within ``SPLIT_MIN_SHARE`` of neither 0 nor 1 (the ``coexec`` baseline's defaults, so a copy is exact).
SPLIT_MIN_LATENCY_S = 2e-4
SPLIT_MIN_SHARE = 0.05


@dataclass(frozen=True)
class Plan:
    """A decoded schedule: GPU flags, one global order, and each device's order (subsequences of it)."""

    gpu: tuple[bool, ...]
    topo: tuple[int, ...]
    cpu: tuple[int, ...]
    gpu_seq: tuple[int, ...]

    def schedule(self, workload: str | None = None) -> StaticSchedule:
        """The plan as a whole-operator :class:`StaticSchedule` with per-device orders."""
        return StaticSchedule([1.0 if g else 0.0 for g in self.gpu], {"cpu": list(self.cpu), "gpu": list(self.gpu_seq)},
                              workload=workload)


def decode(deps: Sequence[Sequence[int]], cons: Sequence[Sequence[int]], gpu: Sequence[bool],
           prio: Sequence[float]) -> Plan:
    """Placement ``gpu`` with the priority list order: the ready operator of highest ``prio`` next."""
    n = len(deps)
    left = [len(d) for d in deps]
    heap = [(-float(prio[i]), i) for i in range(n) if left[i] == 0]
    heapq.heapify(heap)
    topo: list[int] = []
    while heap:
        _, i = heapq.heappop(heap)
        topo.append(i)
        for c in cons[i]:
            left[c] -= 1
            if left[c] == 0:
                heapq.heappush(heap, (-float(prio[c]), c))
    if len(topo) != n:
        raise PolicyError(f"decode: the dependencies have a cycle ({n - len(topo)} operators never ready)")
    g = tuple(bool(v) for v in gpu)
    return Plan(g, tuple(topo), tuple(i for i in topo if not g[i]), tuple(i for i in topo if g[i]))


def upward_rank(problem: Any, gpu: Sequence[bool]) -> list[float]:
    """Each operator's upward rank under placement ``gpu`` — its latency plus the longest path to an
    exit (a copy where a consumer is on the other device) — divided by the largest (so in [0, 1])."""
    n = problem.n
    lat = (problem.lat_cpu, problem.lat_gpu)
    xfer, cons = problem.xfer, problem.cons
    rank = [0.0] * n
    for i in range(n - 1, -1, -1):
        d = bool(gpu[i])
        tail = 0.0
        for c in cons[i]:
            v = rank[c] + (xfer[i] if bool(gpu[c]) != d else 0.0)
            if v > tail:
                tail = v
        rank[i] = lat[d][i] + tail
    top = max(rank, default=0.0)
    return [r / top for r in rank] if top > 0.0 else rank


def global_order(deps: Sequence[Sequence[int]], cpu: Sequence[int],
                 gpu: Sequence[int]) -> list[int]:
    """One order of all operators consistent with the dependencies and both device orders (so that
    priorities ``1 - position/n`` decode back to exactly these device orders)."""
    chained = [list(d) for d in deps]
    for seq in (cpu, gpu):
        for a, b in zip(seq, seq[1:]):
            chained[b].append(a)
    out = toposort(chained)  # Kahn, smallest index first
    if out is None:
        raise PolicyError("global_order: the device orders contradict the dependencies")
    return out


def _vec(values: Any, n: int, what: str, width: int | None = None) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise PolicyError(f"load-aware policy: {what!r} must be numbers") from None
    shape = (n,) if width is None else (n, width)
    if a.shape != shape or not np.all(np.isfinite(a)):
        raise PolicyError(f"load-aware policy: {what!r} must be {shape} finite numbers, got shape {a.shape}")
    return a


@dataclass(frozen=True, eq=False)
class LoadAwarePolicy:
    """Per-operator placement logits and priorities, each ``bias + weights · (load_cpu, load_gpu)``."""

    workload: str
    deps: tuple[tuple[int, ...], ...]
    bias: np.ndarray
    w_load: np.ndarray
    prio: np.ndarray
    prio_load: np.ndarray
    meta: dict[str, Any] | None = None  # where it was trained (platform, mode, loads); informative only
    # in the engine (LoadAwarePlanner) only: per operator, the weight on the live finish-time advantage
    # of the GPU (ms, from the devices' backlogs the view reports) added to the logit; None = zeros
    w_finish: np.ndarray | None = None
    # in the engine only: per operator, 1 = co-execute it (GPU share t_cpu / (t_cpu + t_gpu) from the live
    # predicted latencies, see proportional_share) when heavy and splittable, else placed whole; None = zeros
    split: np.ndarray | None = None
    # in the engine only: a logit of exactly 0 places on the GPU (the baselines' tie rule) rather than the CPU
    gpu_on_tie: bool = False

    def __post_init__(self) -> None:
        n = len(self.deps)
        object.__setattr__(self, "w_finish", np.zeros(n) if self.w_finish is None else
                           _vec(self.w_finish, n, "w_finish"))
        object.__setattr__(self, "split", np.zeros(n) if self.split is None else _vec(self.split, n, "split"))
        if not np.all((self.split == 0.0) | (self.split == 1.0)):
            raise PolicyError("load-aware policy: 'split' must hold 0 or 1 per operator")
        if not isinstance(self.gpu_on_tie, bool):
            raise PolicyError(f"load-aware policy: 'gpu_on_tie' must be true or false, got {self.gpu_on_tie!r}")
        deps = tuple(tuple(int(q) for q in d) for d in self.deps)
        for i, d in enumerate(deps):
            if any(not 0 <= q < i for q in d):
                raise PolicyError(f"load-aware policy: deps[{i}] = {list(d)} must name earlier operators")
        object.__setattr__(self, "deps", deps)
        object.__setattr__(self, "bias", _vec(self.bias, n, "bias"))
        object.__setattr__(self, "w_load", _vec(self.w_load, n, "w_load", 2))
        object.__setattr__(self, "prio", _vec(self.prio, n, "prio"))
        object.__setattr__(self, "prio_load", _vec(self.prio_load, n, "prio_load", 2))
        cons: list[list[int]] = [[] for _ in range(n)]
        for i, d in enumerate(deps):
            for q in d:
                cons[q].append(i)
        object.__setattr__(self, "_cons", tuple(tuple(c) for c in cons))

    @property
    def n(self) -> int:
        return len(self.deps)

    @property
    def cons(self) -> tuple[tuple[int, ...], ...]:
        return self._cons  # type: ignore[attr-defined]

    def logits(self, load: Sequence[float]) -> np.ndarray:
        """Placement logits at ``load`` (GPU where positive)."""
        return self.bias + self.w_load @ np.asarray(load, dtype=np.float64)

    def priorities(self, load: Sequence[float]) -> np.ndarray:
        """List-scheduling priorities at ``load`` (higher first)."""
        return self.prio + self.prio_load @ np.asarray(load, dtype=np.float64)

    def placement(self, load: Sequence[float]) -> list[float]:
        """The argmax placement at ``load``: 1.0 (GPU) where the logit is positive, else 0.0."""
        return [1.0 if v > 0.0 else 0.0 for v in self.logits(load)]

    def plan(self, problem: Any) -> Plan:
        """Argmax placement and priority order at the load of ``problem`` (a
        :class:`~sparoa_sim.agents.exact.refsched.RefProblem` of this workload at a fixed load)."""
        if problem.n != self.n:
            raise PolicyError(f"load-aware policy: trained for {self.n} operators, the problem has {problem.n}")
        load = problem.load
        gpu = self.logits(load) > 0.0
        prio = np.asarray(upward_rank(problem, gpu)) + self.priorities(load)
        return decode(self.deps, self.cons, gpu, prio)

    def schedule(self, problem: Any) -> StaticSchedule:
        """The policy's schedule on ``problem`` (whole operators, per-device orders)."""
        return self.plan(problem).schedule(self.workload)

    # -- JSON -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The policy's JSON document (parameters as lists)."""
        return {"kind": POLICY_KIND, "version": POLICY_VERSION, "workload": self.workload,
                "features": ["load_cpu", "load_gpu"], "deps": [list(d) for d in self.deps],
                "bias": self.bias.tolist(), "w_load": self.w_load.tolist(), "prio": self.prio.tolist(),
                "prio_load": self.prio_load.tolist(), "meta": self.meta or {},
                **({"w_finish": self.w_finish.tolist()} if self.w_finish.any() else {}),
                **({"split": self.split.tolist()} if self.split.any() else {}),
                **({"gpu_on_tie": True} if self.gpu_on_tie else {})}

    @classmethod
    def from_dict(cls, doc: Any, source: str = "<memory>") -> LoadAwarePolicy:
        """Parse :meth:`to_dict`'s document; PolicyError naming the field otherwise."""
        if not isinstance(doc, dict) or doc.get("kind") != POLICY_KIND:
            raise PolicyError(f"{source}: 'kind' is not {POLICY_KIND!r}")
        if doc.get("version") != POLICY_VERSION:
            raise PolicyError(f"{source}: 'version' is {doc.get('version')!r}; this version reads {POLICY_VERSION}")
        for f in ("workload", "deps", "bias", "w_load", "prio", "prio_load"):
            if f not in doc:
                raise PolicyError(f"{source}: missing field {f!r}")
        if not isinstance(doc["workload"], str):
            raise PolicyError(f"{source}: 'workload' must be a string, got {doc['workload']!r}")
        deps = doc["deps"]
        if not isinstance(deps, list) or not all(isinstance(d, list) and all(isinstance(q, int) and not
                                                                             isinstance(q, bool) for q in d)
                                                 for d in deps):
            raise PolicyError(f"{source}: 'deps' must be a list of lists of operator indices")
        try:
            return cls(doc["workload"], tuple(tuple(d) for d in deps), doc["bias"], doc["w_load"], doc["prio"],
                       doc["prio_load"], meta=doc.get("meta") if isinstance(doc.get("meta"), dict) else None,
                       w_finish=doc.get("w_finish"), split=doc.get("split"),
                       gpu_on_tie=doc.get("gpu_on_tie", False))
        except PolicyError as exc:
            raise PolicyError(f"{source}: {exc}") from None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON document atomically (no pickle)."""
        return atomic_write_text(path, json.dumps(self.to_dict(), allow_nan=False) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LoadAwarePolicy:
        """Read a policy written by :meth:`save`."""
        p = Path(path)
        doc = read_json(p, "load-aware policy file", PolicyError)  # the one bounded reader (size, nesting)
        return cls.from_dict(doc, source=str(p))


def _gpu_advantage(view: Any) -> float:
    """How much sooner (s) the operator would finish on the GPU than on the CPU, from now: each device's
    backlog, host dispatch and input copies, plus its predicted latency (what the view reports)."""
    tc, tg = view.pred_latency
    bc, bg = view.backlog
    xc, xg = view.transfer_in
    td = view.t_dispatch
    return (max(bc + td[0], xc) + tc) - (max(view.host_backlog + td[1], bg, xg) + tg)


def proportional_share(view: Any) -> float | None:
    """CoDL's split of a heavy splittable operator: the GPU share ``t_cpu / (t_cpu + t_gpu)`` from the live
    predicted latencies (each device's work in proportion to its speed); None where the operator is not
    splittable, light (faster device under ``SPLIT_MIN_LATENCY_S``) or the share is near 0 or 1."""
    if not view.splittable:
        return None
    tc, tg = view.pred_latency
    if min(tc, tg) < SPLIT_MIN_LATENCY_S:
        return None
    share = tc / (tc + tg)
    return share if SPLIT_MIN_SHARE <= share <= 1.0 - SPLIT_MIN_SHARE else None


class LoadAwarePlanner:
    """The policy in the engine: each operator goes where the policy's argmax placement at the
    live background load (``view.load``) puts it, so a run under changing loads follows the
    state. No static order (the engine dispatches in release order); placements per load are cached.
    Operators with a nonzero ``w_finish`` also weigh the live finish-time advantage of the GPU; operators
    flagged ``split`` are co-executed by :func:`proportional_share` where it gives a share."""

    name = "load-aware"
    order = None

    def __init__(self, policy: LoadAwarePolicy) -> None:
        self.policy = policy
        self._cache: dict[tuple[float, float], list[float]] = {}
        self._logits: dict[tuple[float, float], list[float]] = {}

    def reset(self, ctx: PolicyContext) -> None:
        if len(ctx.graph) != self.policy.n or ctx.graph.name != self.policy.workload:
            raise PolicyError(f"load-aware policy: trained for {self.policy.workload!r} ({self.policy.n} operators), "
                              f"the workload is {ctx.graph.name!r} ({len(ctx.graph)} operators)")

    def placement_at(self, load: tuple[float, float]) -> list[float]:
        """The argmax placement at ``load`` (cached)."""
        hit = self._cache.get(load)
        if hit is None:
            hit = self._cache[load] = self.policy.placement(load)
        return hit

    def decide(self, view: Any) -> float:
        op = view.op
        pol = self.policy
        if pol.split[op]:
            share = proportional_share(view)
            if share is not None:
                return share
        wf = pol.w_finish[op]
        if wf == 0.0 and not pol.gpu_on_tie:
            return self.placement_at(view.load)[op]
        load = view.load
        row = self._logits.get(load)
        if row is None:
            row = self._logits[load] = [float(v) for v in pol.logits(load)]
        logit = row[op]
        if wf != 0.0:
            logit += wf * 1e3 * _gpu_advantage(view)
        return 1.0 if logit > 0.0 or (pol.gpu_on_tie and logit == 0.0) else 0.0

    def __repr__(self) -> str:
        return f"LoadAwarePlanner(workload={self.policy.workload!r}, n_ops={self.policy.n})"
