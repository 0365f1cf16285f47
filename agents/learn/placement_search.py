"""Training the load-aware placement policy: iterated local search on the exact evaluator, distilled.

Training states are fixed background loads; at each, the reference problem is exact
(:class:`~sparoa_sim.agents.learn.fast_ref.FastRef`, the engine's reference-setting latency).
Training alternates two steps within the budget:

- **search** (per state, round robin): iterated local search over schedules — a placement and
  one list order of all operators (which fixes both device orders). Random moves (flip one
  operator's device keeping the order or re-ranking it, move one operator to another place its
  dependencies allow) are kept when not worse, until ``2n`` moves in a row fail to improve; then
  a kick of a few flips and moves from the best schedule, and again;
- **distillation** (imitation): the policy's parameters are fitted to the best schedules of all
  states at once (ridge least squares on ``[1, load_cpu, load_gpu]`` of logits ±4, and of priority
  offsets that impose each best list order — or none, leaving the policy's upward-rank order), and
  the policy's *own* argmax schedule at every state is scored; the parameters are kept only when
  that mean score (latency / the teacher's) improves.

It starts by imitating the best heuristic at each state (HEFT, a single device, greedy, ...),
with offsets that reproduce the teacher's exact order, so the policy's own schedule is the
teacher's at step 0 and the kept policy is never worse than it. With one state the fit is exact;
with several, the linear model may not reproduce every state's best schedule — what the policy
itself achieves is what is reported. The reported latency is the
policy's argmax schedule's — never a search sample's, never the teacher's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sparoa_sim.agents.exact.refsched import RefProblem
from sparoa_sim.agents.learn.budget_clock import now
from sparoa_sim.agents.learn.fast_ref import FastRef
from sparoa_sim.agents.learn.placement_policy import LoadAwarePolicy, decode, global_order, upward_rank
from sparoa_sim.errors import PolicyError
from sparoa_sim.sim.policies import StaticSchedule

__all__ = ["SearchResult", "SearchSettings", "TrainingState", "descend", "explicit_priorities", "slide",
           "train_placement"]

_LOGIT = 4.0  # |logit| the distilled placement targets take
_SPACING = 2.0  # priority-offset spacing of an explicit order (> 1, the range of normalised ranks)


@dataclass(frozen=True)
class SearchSettings:
    """The search's knobs: kick size (flips), distillation period (local optima), ridge weight."""

    kick_min: int = 2
    kick_max: int = 4
    distill_every: int = 4
    ridge: float = 1e-3

    def __post_init__(self) -> None:
        if not (isinstance(self.kick_min, int) and isinstance(self.kick_max, int) and 1 <= self.kick_min <= self.kick_max):
            raise PolicyError(f"search: kick sizes must be integers with 1 <= kick_min <= kick_max, got "
                              f"{self.kick_min!r}, {self.kick_max!r}")
        if not (isinstance(self.distill_every, int) and self.distill_every >= 1):
            raise PolicyError(f"search: distill_every must be a positive integer, got {self.distill_every!r}")
        if not (math.isfinite(self.ridge) and self.ridge >= 0.0):
            raise PolicyError(f"search: ridge must be a non-negative number, got {self.ridge!r}")


@dataclass(frozen=True)
class TrainingState:
    """One training state: the reference problem at a fixed load and the teacher's schedule there."""

    problem: RefProblem
    teacher: StaticSchedule
    teacher_name: str
    teacher_latency_s: float


@dataclass
class SearchResult:
    """What training produced: the policy, its own argmax latency per state, and the history."""

    policy: LoadAwarePolicy
    latency_s: list[float]
    score: float
    rounds: int = 0
    evaluations: int = 0
    train_s: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    best_search_s: list[float] = field(default_factory=list)


class _Budget:
    def __init__(self, seconds: float | None, evaluations: int | None) -> None:
        self.t0 = now()
        self.seconds = seconds
        self.evaluations = evaluations
        self.used = 0

    def out(self) -> bool:
        if self.evaluations is not None and self.used >= self.evaluations:
            return True
        return self.seconds is not None and now() - self.t0 >= self.seconds


class _State:
    """Search data of one training state: the evaluator and the best schedule found (placement and
    one global list order, which fixes both device orders)."""

    def __init__(self, ts: TrainingState, budget: _Budget) -> None:
        p = ts.problem
        self.ts = ts
        self.p = p
        self.fast = FastRef(p)
        self.budget = budget
        self.phi = np.array([1.0, p.load[0], p.load[1]])
        self.best = math.inf
        self.best_bits: list[bool] = [False] * p.n
        self.best_topo: list[int] = list(range(p.n))

    def score(self, bits: Sequence[bool], topo: Sequence[int]) -> float:
        """Exact latency of placement ``bits`` with device orders taken from the list ``topo``."""
        self.budget.used += 1
        return self.fast.makespan(bits, topo, [i for i in topo if not bits[i]], [i for i in topo if bits[i]])

    def ranked(self, bits: Sequence[bool]) -> list[int]:
        """The policy's order rule without offsets: list order by upward rank under ``bits``."""
        return list(decode(self.p.deps, self.p.cons, bits, upward_rank(self.p, bits)).topo)

    def offer(self, lat: float, bits: Sequence[bool], topo: Sequence[int]) -> bool:
        if lat < self.best:
            self.best, self.best_bits, self.best_topo = lat, list(bits), list(topo)
            return True
        return False

    def _insert(self, topo: list[int], rng: np.random.Generator) -> list[int] | None:
        """``topo`` with one operator moved to another place its dependencies allow (None: no room)."""
        return slide(topo, self.p.deps, self.p.cons, rng)

    def descend(self, bits: list[bool], topo: list[int], rng: np.random.Generator) -> tuple[list[bool], list[int], float]:
        """:func:`descend` from (``bits``, ``topo``) on this state, re-ranking on a tenth of the flips."""
        return descend(self.score, bits, topo, rng, deps=self.p.deps, cons=self.p.cons, out=self.budget.out,
                       rerank=self.ranked)


def slide(topo: list[int], deps: Sequence[Sequence[int]], cons: Sequence[Sequence[int]],
          rng: np.random.Generator) -> list[int] | None:
    """``topo`` with one random operator moved to another place its dependencies allow (None: no room)."""
    k = int(rng.integers(len(topo)))
    op = topo[k]
    rest = topo[:k] + topo[k + 1:]
    pos = {o: j for j, o in enumerate(rest)}
    lo = max((pos[q] + 1 for q in deps[op]), default=0)
    hi = min((pos[c] for c in cons[op]), default=len(rest))
    if hi - lo < 1:
        return None
    j = int(rng.integers(lo, hi))
    j = j + 1 if j >= k else j  # never back to where it was
    if j > hi:
        return None
    return rest[:j] + [op] + rest[j:]


def descend(score: Callable[[Sequence[bool], Sequence[int]], float], bits: list[bool], topo: list[int],
            rng: np.random.Generator, *, deps: Sequence[Sequence[int]], cons: Sequence[Sequence[int]],
            out: Callable[[], bool], rerank: Callable[[Sequence[bool]], list[int]] | None = None,
            val: float | None = None) -> tuple[list[bool], list[int], float]:
    """The local search shared with the oracle's start (:mod:`sparoa_sim.agents.exact.localsearch`):
    random moves — flip one operator's device (keeping the order; re-ranking it by ``rerank`` on a
    tenth of the flips, where given), move one operator in the list order (:func:`slide`) — accepted
    when not worse under ``score``; stops after ``2n`` moves in a row that do not improve, or when
    ``out()``. ``val``: the start's score, if known (scored otherwise)."""
    if val is None:
        val = score(bits, topo)
    n = len(bits)
    fails = 0
    while fails < 2 * n and not out():
        r = rng.random()
        if r < 0.5:
            i = int(rng.integers(n))
            trial_bits = bits.copy()
            trial_bits[i] = not trial_bits[i]
            trial_topo = rerank(trial_bits) if rerank is not None and r < 0.1 else topo
        else:
            trial_bits = bits
            moved = slide(topo, deps, cons, rng)
            if moved is None:
                fails += 1
                continue
            trial_topo = moved
        v = score(trial_bits, trial_topo)
        fails = 0 if v < val else fails + 1
        if v <= val:
            bits, topo, val = trial_bits, trial_topo, v
    return bits, topo, val


def explicit_priorities(topo: Sequence[int]) -> np.ndarray:
    """Priority offsets that make the list schedule follow ``topo`` exactly, whatever the ranks."""
    n = len(topo)
    off = np.empty(n)
    off[list(topo)] = _SPACING * (n - np.arange(n))
    return off


_explicit = explicit_priorities


def _teacher_point(ts: TrainingState) -> tuple[list[bool], list[int]]:
    """(GPU flags, list order) of exactly the teacher's schedule."""
    sched, p = ts.teacher, ts.problem
    if sched.order is None or any(0.0 < s < 1.0 for s in sched.placement):
        raise PolicyError(f"search: the teacher {ts.teacher_name!r} must be a whole-operator schedule with an order")
    return [s >= 1.0 for s in sched.placement], global_order(p.deps, sched.order["cpu"], sched.order["gpu"])


def _fit(phis: np.ndarray, targets: np.ndarray, ridge: float) -> np.ndarray:
    """Per-operator ridge least squares of ``targets`` (K states × n) on ``[1, load_cpu, load_gpu]``:
    the (3 × n) coefficients; the intercept is not penalised."""
    reg = np.diag([0.0, ridge, ridge])
    return np.linalg.lstsq(phis.T @ phis + reg, phis.T @ targets, rcond=None)[0]


def train_placement(states: Sequence[TrainingState], workload: str, *, settings: SearchSettings | None = None,
                    time_budget_s: float | None = 60.0, max_evaluations: int | None = None, seed: int = 0,
                    progress: Callable[[int], None] | None = None, meta: dict | None = None) -> SearchResult:
    """Train a :class:`LoadAwarePolicy` on ``states`` (one per fixed load; one workload) within the
    budget (wall seconds and/or exact evaluations; at least one)."""
    if not states:
        raise PolicyError("search: give at least one training state")
    if time_budget_s is None and max_evaluations is None:
        raise PolicyError("search: give a time budget or a number of evaluations")
    cfg = settings or SearchSettings()
    budget = _Budget(time_budget_s, max_evaluations)
    rng = np.random.default_rng(seed)
    n = states[0].problem.n
    if any(s.problem.n != n or s.problem.name != states[0].problem.name for s in states):
        raise PolicyError("search: every training state must be the same workload")
    work = [_State(s, budget) for s in states]
    phis = np.stack([w.phi for w in work])
    deps = states[0].problem.deps
    best_score, best_lat = math.inf, [math.inf] * len(work)
    best_coef: tuple[np.ndarray, np.ndarray] | None = None
    result = SearchResult(policy=None, latency_s=[], score=math.inf)  # type: ignore[arg-type]

    def own(cl: np.ndarray, cp: np.ndarray) -> bool:
        """Score the parameters' own argmax schedules; keep them if their mean score improves."""
        nonlocal best_score, best_lat, best_coef
        lats = []
        for w in work:
            bits = [bool(v) for v in (w.phi @ cl) > 0.0]
            prio = np.asarray(upward_rank(w.p, bits)) + w.phi @ cp
            lats.append(w.score(bits, decode(w.p.deps, w.p.cons, bits, prio).topo))
        sc = float(np.mean([lat / w.ts.teacher_latency_s for lat, w in zip(lats, work)]))
        if sc < best_score:
            best_score, best_lat, best_coef = sc, lats, (cl.copy(), cp.copy())
            return True
        return False

    # step 0: imitate the teachers (their placements and exact orders)
    for w in work:
        bits, topo = _teacher_point(w.ts)
        w.offer(w.ts.teacher_latency_s, bits, topo)
    _distill(work, phis, cfg, own)
    rounds = 0
    while not budget.out():
        rounds += 1
        for w in work:
            if budget.out():
                break
            bits, topo = w.best_bits.copy(), w.best_topo.copy()
            if rounds > 1:  # a kick: a few flips and moves away from the best schedule
                for i in rng.choice(n, size=min(n, int(rng.integers(cfg.kick_min, cfg.kick_max + 1))), replace=False):
                    bits[int(i)] = not bits[int(i)]
                for _ in range(int(rng.integers(0, cfg.kick_max))):
                    topo = w._insert(topo, rng) or topo
            bits, topo, val = w.descend(bits, topo, rng)
            w.offer(val, bits, topo)
        if rounds % cfg.distill_every == 0 or budget.out():
            _distill(work, phis, cfg, own)
        if progress is not None:
            progress(1)
        result.history.append({"round": rounds, "elapsed_s": now() - budget.t0, "score": best_score,
                               "search_score": float(np.mean([w.best / w.ts.teacher_latency_s for w in work]))})
    assert best_coef is not None
    cl, cp = best_coef
    policy = LoadAwarePolicy(workload, deps, bias=cl[0], w_load=cl[1:].T, prio=cp[0], prio_load=cp[1:].T, meta=meta)
    result.policy, result.latency_s, result.score = policy, list(best_lat), best_score
    result.rounds, result.evaluations, result.train_s = rounds, budget.used, now() - budget.t0
    result.best_search_s = [w.best for w in work]
    return result


def _distill(work: list[_State], phis: np.ndarray, cfg: SearchSettings,
             own: Callable[[np.ndarray, np.ndarray], bool]) -> None:
    """Imitation of the best schedules: fit the parameters to them (ranked order, and their explicit
    orders where one state is trained) and keep what scores better as the policy's own."""
    targets = np.stack([np.where(w.best_bits, _LOGIT, -_LOGIT) for w in work])
    cl = _fit(phis, targets, cfg.ridge)
    own(cl, np.zeros((3, targets.shape[1])))
    own(cl, _fit(phis, np.stack([_explicit(w.best_topo) for w in work]), cfg.ridge))
