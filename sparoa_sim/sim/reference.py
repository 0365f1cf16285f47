"""The reference setting's timing rules, stated once (docs/architecture.md §4).

In the reference setting (``SimConfig(reference=True)``) one inference of a workload is a
deterministic function of a whole-operator placement and the order of operators on each
device. These are its rules. Each right-hand side is the *latest* of a few terms; ``iss`` is
the moment an operator is *issued* (a GPU operator's launch end, a CPU operator's end):

- release: ``ready[i] = max(iss[p] for producers p)`` (0 for a source) — the dispatcher places it;
- GPU launch: ``L[i] = max(ready[i], L[prev] + td[prev])`` — the host launches one operator at
  a time, in GPU order, ``td[i] = t_dispatch · max(1, kernels[i])`` each (its kernels);
- GPU kernel: ``st[i] = max(L[i] + td[i], en[prev], arrival of each CPU producer's copy, the
  request's input copy x_in for a source under host_io)`` (GPU producers need nothing: the
  stream is in order);
- CPU operator: ``st[i] = max(en[prev], en[p] for CPU producers, arrival of each GPU
  producer's copy)``;
- end: ``en[i] = st[i] + latency``; issue: ``iss[i] = L[i] + td[i]`` (GPU) or ``en[i]`` (CPU);
- copies: ``p``'s output is copied to device ``d`` once it exists and the first consumer on
  ``d`` has been released, ``xs_d[p] = max(en[p], min(ready[c] for consumers c on d))``, and
  arrives ``x[p]`` later;
- completion: the latest end, plus the copy home ``x[i]`` of a GPU sink's output (host_io).

The term functions below return the terms of one right-hand side as a list; they only add,
so they work on numbers (seconds, integer ticks) and on solver expressions alike:
:func:`least_solution` takes the latest of each list (``agents.exact.refsched.evaluate``),
the single-device walk (:mod:`sparoa_sim.sim.singledevice`) does the same along one device,
and the oracle's CP-SAT model (``agents.exact.oracle``) adds ``lhs >= term`` for each term
under the literals of the placement case. The engine implements the same rules as events; a
property test holds it to :func:`least_solution` on random graphs, placements and orders.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sparoa_sim.errors import SimulationError

__all__ = [
    "RefTimes", "completion_terms", "copy_arrival", "copy_start_terms", "cpu_start_terms", "end_time",
    "first_need", "gpu_start_terms", "input_copy", "issue_time", "latest", "launch_terms", "least_solution",
    "output_copy", "release_terms", "topological_order",
]


# --- the rules, one right-hand side each -------------------------------------------------------

def release_terms(producer_issues: Sequence[Any]) -> list[Any]:
    """Terms of ``ready[i]``: the issue time of every producer (none for a source: ready at 0)."""
    return list(producer_issues)


def launch_terms(*, ready: Any = None, prev_launch: Any = None, td: Any = 0) -> list[Any]:
    """Terms of a GPU operator's launch start: its release, and the previous GPU launch's end
    (``td``: the *previous* operator's launch time)."""
    out = []
    if ready is not None:
        out.append(ready)
    if prev_launch is not None:
        out.append(prev_launch + td)
    return out


def gpu_start_terms(*, launch: Any = None, td: Any = 0, prev_end: Any = None, copies_in: Sequence[Any] = (),
                    input_arrival: Any = None) -> list[Any]:
    """Terms of a GPU kernel's start: its launch's end (``td``: its own launch time), the previous
    kernel's end, the arrival of each CPU producer's copy (:func:`copy_arrival`), the request's
    input (:func:`input_copy`)."""
    out = []
    if launch is not None:
        out.append(launch + td)
    if prev_end is not None:
        out.append(prev_end)
    out.extend(copies_in)
    if input_arrival is not None:
        out.append(input_arrival)
    return out


def cpu_start_terms(*, prev_end: Any = None, inputs: Sequence[Any] = ()) -> list[Any]:
    """Terms of a CPU operator's start: the previous CPU operator's end, and each input's
    availability (a CPU producer's end, a GPU producer's copy arrival)."""
    out = [] if prev_end is None else [prev_end]
    out.extend(inputs)
    return out


def end_time(start: Any, latency: Any) -> Any:
    """An operator's end: it takes exactly its predicted latency."""
    return start + latency


def issue_time(on_gpu: bool, *, launch: Any, td: Any, end: Any) -> Any:
    """When an operator's consumers may be released: a GPU operator's launch end (``td``: its own
    launch time; stream semantics), a CPU operator's end."""
    return launch + td if on_gpu else end


def first_need(consumer_releases: Sequence[Any]) -> Any:
    """When a copy to a device is first needed: the earliest release of a consumer there
    (``inf``: never)."""
    return min(consumer_releases, default=math.inf)


def copy_start_terms(end: Any, need: Any) -> list[Any]:
    """Terms of a copy's start: the producer's end and the first need on the other device."""
    return [end, need]


def copy_arrival(copy_start: Any, x: Any) -> Any:
    """When a copied output is on the other device (``x`` = its transfer time)."""
    return copy_start + x


def input_copy(host_io: bool, is_source: bool, x_in: Any) -> Any:
    """The request's input arrives on the GPU at ``x_in`` for a GPU source under host_io (else None)."""
    return x_in if host_io and is_source else None


def output_copy(host_io: bool, on_gpu: bool, is_sink: bool, x_out: Any) -> Any:
    """The copy home of a GPU sink's output under host_io (else None)."""
    return x_out if host_io and on_gpu and is_sink else None


def completion_terms(end: Any, out_copy: Any = None) -> list[Any]:
    """Terms of the job's completion contributed by one operator: its end, and its output's
    copy home (:func:`output_copy`) after it."""
    return [end] if out_copy is None else [end, end + out_copy]


def latest(terms: Sequence[Any], default: Any) -> Any:
    """The latest of ``terms`` (``default`` when there are none): a right-hand side's value."""
    return max(terms) if terms else default


# --- their least solution -----------------------------------------------------------------------

@dataclass(frozen=True)
class RefTimes:
    """The timing :func:`least_solution` computes (per operator; units those of the durations)."""

    gpu: tuple[bool, ...]
    ready: tuple[float, ...]
    launch: tuple[float, ...]  # launch start of a GPU operator (0 for a CPU one)
    issue: tuple[float, ...]
    start: tuple[float, ...]
    end: tuple[float, ...]
    xs_gpu: tuple[float, ...]  # start of the copy of the output to the GPU (inf: never needed there)
    xs_cpu: tuple[float, ...]
    makespan: float


def topological_order(deps: Sequence[Sequence[int]], cons: Sequence[Sequence[int]],
                      seqs: Sequence[Sequence[int]]) -> list[int]:
    """A topological order of the dependencies plus each device's chain (error on a cycle)."""
    n = len(deps)
    succ: list[list[int]] = [list(c) for c in cons]
    indeg = [len(d) for d in deps]
    for seq in seqs:
        for a, b in zip(seq, seq[1:]):
            succ[a].append(b)
            indeg[b] += 1
    stack = [i for i in range(n - 1, -1, -1) if indeg[i] == 0]
    out: list[int] = []
    while stack:
        i = stack.pop()
        out.append(i)
        for j in succ[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                stack.append(j)
    if len(out) != n:
        raise SimulationError("order contradicts the dependencies (device orders and graph form a cycle)")
    return out


def least_solution(deps: Sequence[Sequence[int]], cons: Sequence[Sequence[int]], gpu: Sequence[bool],
                   seqs: tuple[Sequence[int], Sequence[int]], durations: tuple[Sequence[Any], Sequence[Any], Sequence[Any], Any],
                   host_io: bool) -> RefTimes:
    """The rules' least solution for one placement (``gpu[i]``) and per-device orders
    (``seqs`` = CPU order, GPU order): iterated from zero until nothing moves (monotone, bounded).

    ``durations`` = (CPU latencies, GPU latencies, copy times (n + 1: each output, then the
    request's input), GPU launch times (per operator: ``t_dispatch · max(1, kernels)``)), in
    seconds or integer ticks.
    """
    lc, lg, x, td = durations
    n = len(deps)
    if len(td) != n:
        raise SimulationError(f"least_solution: {len(td)} launch times for {n} operators")
    topo = topological_order(deps, cons, seqs)
    prev = [-1] * n
    for seq in seqs:
        for a, b in zip(seq, seq[1:]):
            prev[b] = a
    x_in = x[n]
    zero = 0 * x_in
    ready = [zero] * n
    launch = [zero] * n
    st = [zero] * n
    en = [zero] * n
    iss = [zero] * n
    xs_g = [zero] * n
    xs_c = [zero] * n
    for _ in range(2 * n + 4):
        for i in topo:
            r = latest(release_terms([iss[q] for q in deps[i]]), zero)
            ready[i] = r
            pv = prev[i]
            if gpu[i]:
                li = latest(launch_terms(ready=r, prev_launch=launch[pv] if pv >= 0 else None,
                                         td=td[pv] if pv >= 0 else 0), zero)
                s = latest(gpu_start_terms(launch=li, td=td[i], prev_end=en[pv] if pv >= 0 else None,
                                           copies_in=[copy_arrival(xs_g[q], x[q]) for q in deps[i] if not gpu[q]],
                                           input_arrival=input_copy(host_io, not deps[i], x_in)), zero)
                launch[i] = li
            else:
                s = latest(cpu_start_terms(prev_end=en[pv] if pv >= 0 else None,
                                           inputs=[copy_arrival(xs_c[q], x[q]) if gpu[q] else en[q] for q in deps[i]]),
                           zero)
            st[i] = s
            en[i] = end_time(s, lg[i] if gpu[i] else lc[i])
            iss[i] = issue_time(gpu[i], launch=launch[i], td=td[i], end=en[i])
        changed = False
        for i in range(n):
            for d, xs in ((True, xs_g), (False, xs_c)):
                v = latest(copy_start_terms(en[i], first_need([ready[c] for c in cons[i] if gpu[c] == d])), zero)
                if v != xs[i]:
                    xs[i] = v
                    changed = True
        if not changed:
            break
    else:  # pragma: no cover - the iteration is monotone and bounded
        raise SimulationError("reference evaluation did not converge")
    mk = zero
    for i in range(n):
        mk = latest([mk] + completion_terms(en[i], output_copy(host_io, gpu[i], not cons[i], x[i])), zero)
    return RefTimes(gpu=tuple(gpu), ready=tuple(ready), launch=tuple(launch), issue=tuple(iss), start=tuple(st),
                    end=tuple(en), xs_gpu=tuple(xs_g), xs_cpu=tuple(xs_c), makespan=mk)
