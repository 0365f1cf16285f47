"""Helpers of the engine tests: tiny hand-made graphs and checks of a recorded trace."""

from __future__ import annotations

from collections import defaultdict

from sparoa_sim.ir.graph import Op, OpGraph
from sparoa_sim.hwmodels.kinds import OpKind


def chain(n: int = 3, flops: float = 2e8, nbytes: float = 4e5, split: bool = True, name: str = "chain") -> OpGraph:
    """A chain of ``n`` conv-like operators."""
    ops = [Op(name=f"op{i}", kind=OpKind.CONV, macs=flops / 2, flops=flops, bytes_in=nbytes, bytes_out=nbytes,
              bytes_w=1e5, deps=(i - 1,) if i else (), out_shape=(1, 64, 28, 28),
              split_axis="channel" if split else None) for i in range(n)]
    return OpGraph(name=name, ops=tuple(ops))


def diamond(flops: float = 2e8, nbytes: float = 4e5) -> OpGraph:
    """a -> (b, c) -> d."""
    spec = [("a", ()), ("b", (0,)), ("c", (0,)), ("d", (1, 2))]
    ops = [Op(name=nm, kind=OpKind.CONV, macs=flops / 2, flops=flops, bytes_in=nbytes, bytes_out=nbytes, bytes_w=1e5,
              deps=deps, out_shape=(1, 64, 28, 28), split_axis="channel") for nm, deps in spec]
    return OpGraph(name="diamond", ops=tuple(ops))


def fork(n_gpu: int = 5, flops: float = 4e8, nbytes: float = 4e5) -> OpGraph:
    """src -> cpu_op; src -> g1 -> ... -> g<n_gpu>; (cpu_op, last g) -> join."""
    spec = [("src", ()), ("cpu_op", (0,))] + [(f"g{k + 1}", (k + 1 if k else 0,)) for k in range(n_gpu)]
    spec[2] = ("g1", (0,))
    for k in range(1, n_gpu):
        spec[2 + k] = (f"g{k + 1}", (2 + k - 1,))
    spec.append(("join", (1, 1 + n_gpu)))
    ops = [Op(name=nm, kind=OpKind.CONV, macs=flops / 2, flops=flops, bytes_in=nbytes, bytes_out=nbytes, bytes_w=1e5,
              deps=deps, out_shape=(1, 64, 28, 28)) for nm, deps in spec]
    return OpGraph(name="fork", ops=tuple(ops))


def memory_bound_pair(nbytes: float = 2e8) -> OpGraph:
    """A source and two independent memory-bound adds reading it, then a sink joining them."""
    spec = [("src", OpKind.ADD, ()), ("m1", OpKind.ADD, (0,)), ("m2", OpKind.ADD, (0,)), ("join", OpKind.ADD, (1, 2))]
    ops = [Op(name=nm, kind=k, flops=1e3, bytes_in=1e3 if nm == "src" or nm == "join" else nbytes,
              bytes_out=1e3 if nm != "m1" and nm != "m2" else nbytes, deps=deps, out_shape=(1, 8))
           for nm, k, deps in spec]
    return OpGraph(name="membound", ops=tuple(ops))


def single(flops: float = 5e8, nbytes: float = 1e5, kind: OpKind = OpKind.CONV) -> OpGraph:
    """One compute-heavy operator."""
    return OpGraph(name="single", ops=(Op(name="only", kind=kind, macs=flops / 2, flops=flops, bytes_in=nbytes,
                                          bytes_out=nbytes, bytes_w=1e4, out_shape=(1, 64, 8, 8)),))


def check_trace(graph: OpGraph, trace, n_jobs: int, tol: float = 1e-12) -> dict:
    """Assert the engine's invariants on a recorded trace; return per-(job, op) finish times.

    Every operator of every job runs exactly once (a split one once per device); no operator
    (part) starts before each producer's output is on its device (finished there, or copied
    there); no two slices overlap on one device or on the host dispatch thread.
    """
    n = len(graph)
    parts: dict[tuple[int, int], list] = defaultdict(list)
    per_track: dict[int, list] = defaultdict(list)
    copies: dict[tuple[int, int, int], float] = {}
    merges: dict[tuple[int, int], float] = {}
    for ev in trace.events:
        track, kind, op, job, t0, t1 = ev[:6]
        assert t1 >= t0 - tol
        if kind == 0:
            parts[(job, op)].append((track, t0, t1, ev[6]))
            per_track[track].append((t0, t1))
        elif kind == 1:
            per_track[2].append((t0, t1))
        elif kind == 2:
            key = (job, op, ev[7])
            assert key not in copies, f"output {op} of job {job} copied twice to device {ev[7]}"
            copies[key] = t1
        elif kind == 3:
            merges[(job, op)] = t1
    assert len({j for j, _ in parts}) == n_jobs
    finish: dict[tuple[int, int], float] = {}
    home: dict[tuple[int, int], int] = {}
    for j in range(n_jobs):
        for i in range(n):
            ps = parts[(j, i)]
            assert ps, f"job {j} op {i} never ran"
            share = ps[0][3]
            if 0.0 < share < 1.0:
                assert sorted(p[0] for p in ps) == [0, 1], f"split op {i} of job {j} ran {len(ps)} parts"
                h = 1 if share >= 0.5 else 0
                finish[(j, i)] = max(max(p[2] for p in ps), merges[(j, i)])
                home[(j, i)] = h
            else:
                assert len(ps) == 1, f"job {j} op {i} ran {len(ps)} times"
                assert ps[0][0] == int(share)
                finish[(j, i)] = ps[0][2]
                home[(j, i)] = int(share)
    for (j, i), ps in parts.items():
        for dev, t0, _t1, _s in ps:
            for p in graph.ops[i].deps:
                avail = finish[(j, p)] if home[(j, p)] == dev else copies[(j, p, dev)]
                if home[(j, p)] != dev:
                    assert avail >= finish[(j, p)] - tol
                assert t0 >= avail - tol, f"job {j} op {i} on {dev} starts {t0} before input {p} is there ({avail})"
    for track, slices in per_track.items():
        slices.sort()
        for (a0, a1), (b0, b1) in zip(slices, slices[1:]):
            assert b0 >= a1 - tol, f"overlap on track {track}: [{a0}, {a1}] and [{b0}, {b1}]"
    return finish
