"""The engine's execution-time predictor: per-graph tables from one vectorised ``predict`` call.

The hardware twin predicts a whole graph on both devices in one numpy pass; the engine's hot
path then reads plain Python lists indexed by operator (much faster than numpy scalars). Tables
are built once per (graph, platform, batch, mode, precision) at load 0 and contention 1 and
kept in a :class:`PredictionCache` that simulators and environments can share across resets.
Re-timing under load ``ℓ`` and bandwidth factor ``c`` uses the same roofline as
``hwmodels.retime``: ``t_launch + roofline(t_compute / (1 − ℓ), t_memory / c)``.

Host dispatch is per operator: issuing operator ``i`` to device ``d`` costs
``td[d][i] = t_dispatch[d] · f_d(kind_i) · max(1, kernels[i])`` seconds of host time (docs/architecture.md
§3, §4.1: the launch thread pays for every kernel eager PyTorch launches, and at least one call for a
view; ``f_d`` is the profile's per-kind ``dispatch_factor``, 1 where absent — the prediction's ``dispatch``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparoa_sim.hwmodels import OpArrays, Platform, bandwidth_demand, predict
from sparoa_sim.hwmodels.contention import concurrent_bw
from sparoa_sim.hwmodels.energy import coefficients
from sparoa_sim.hwmodels.kinds import OpKind, kind_code
from sparoa_sim.hwmodels.latency import Prediction, bytes_scale
from sparoa_sim.ir.graph import OpGraph

__all__ = ["GraphTables", "PredTables", "PredictionCache", "SplitPart", "critical_path", "dispatch_seconds",
           "duration_at", "launch_overheads"]

_SOFT = 1e-6  # sharpness below which the roofline is a hard max (as in hwmodels.latency)


def duration_at(tl: float, tc: float, tm: float, sharp: float, load: float, c: float) -> float:
    """Latency of a kernel with compute time ``tc`` and memory time ``tm`` (at load 0, c = 1)
    under background load ``load`` and bandwidth factor ``c`` (scalar ``hwmodels.retime``)."""
    a = tc / (1.0 - load)
    m = tm / c
    if sharp <= _SOFT:
        return tl + (a if a > m else m)
    hard = a if a > m else m
    if hard <= 0.0:
        return tl
    p = 1.0 / sharp
    return tl + hard * ((a / hard) ** p + (m / hard) ** p) ** (1.0 / p)


def _fifo_order(sources: tuple[int, ...], cons: list[tuple[int, ...]], indeg: list[int]) -> tuple[int, ...]:
    """Kahn's order with a FIFO queue (sources first, consumers in ``cons`` order): the order in
    which the engine's dispatcher releases the operators of a job placed wholly on one device."""
    left = indeg[:]
    order = list(sources)
    for op in order:  # the list grows while it is walked: a FIFO queue
        for c in cons[op]:
            left[c] -= 1
            if left[c] == 0:
                order.append(c)
    return tuple(order)


class GraphTables:
    """Structure of a graph as Python lists: producers, consumers, sources, sinks, sizes."""

    __slots__ = ("graph", "n", "deps", "cons", "indeg", "sources", "is_sink", "n_sinks", "names", "splittable",
                 "split_axis", "out_bytes", "input_bytes", "fifo_order", "kernels")

    def __init__(self, graph: OpGraph) -> None:
        a = graph.arrays
        n = len(graph)
        self.graph = graph
        self.n = n
        self.deps: list[tuple[int, ...]] = [tuple(int(d) for d in op.deps) for op in graph.ops]
        self.cons: list[tuple[int, ...]] = [tuple(int(c) for c in a.consumers_of(i)) for i in range(n)]
        self.indeg: list[int] = [len(d) for d in self.deps]
        self.sources: tuple[int, ...] = tuple(i for i in range(n) if not self.deps[i])
        self.is_sink: list[bool] = [not c for c in self.cons]
        self.n_sinks = sum(self.is_sink)
        self.names: tuple[str, ...] = tuple(op.name for op in graph.ops)
        self.splittable: list[bool] = [bool(x) for x in a.splittable]
        self.split_axis: tuple[str | None, ...] = tuple(op.split_axis for op in graph.ops)
        self.out_bytes: list[float] = [float(x) for x in a.bytes_out]
        # The request's input: what the source operators read (the largest of them, per sample).
        self.input_bytes = max((float(a.bytes_in[i]) for i in self.sources), default=0.0)
        self.fifo_order: tuple[int, ...] = _fifo_order(self.sources, self.cons, self.indeg)
        #: Device kernels each operator launches (``Op.kernels``; 0 for a pure view).
        self.kernels: tuple[int, ...] = tuple(int(op.kernels) for op in graph.ops)


def dispatch_seconds(t_dispatch: float, kernels: int | float) -> float:
    """Host time to issue an operator of ``kernels`` kernels: ``t_dispatch · max(1, kernels)``
    (a pure view still costs one framework call; docs/architecture.md §4.1)."""
    return t_dispatch * (kernels if kernels > 1 else 1)


def launch_overheads(pred: Prediction, n: int) -> tuple[list[float], list[float]]:
    """Per-operator (cpu, gpu) overhead inside latency: the prediction's per-operator ``launch``
    (n, 2) where it has one (kernels counted, docs/architecture.md §3), else its per-device ``t_launch``."""
    per_op = getattr(pred, "launch", None)
    tl = np.broadcast_to(np.asarray(pred.t_launch if per_op is None else per_op, dtype=np.float64), (n, 2))
    return tl[:, 0].tolist(), tl[:, 1].tolist()


@dataclass(frozen=True)
class SplitPart:
    """One device's part of a split operator: latency terms (``tl`` its launch overhead),
    bandwidth demand, dynamic energy."""

    lat: float
    tl: float
    tc: float
    tm: float
    demand: float
    e_dyn: float


class PredTables:
    """Per-operator predictions of one graph at one (batch, mode, precision), as lists.

    Index ``[d][i]`` = device ``d`` (0 CPU, 1 GPU), operator ``i``. Transfer lists have ``n + 1``
    entries: operator outputs, then the request's input (index ``n``). ``t_dispatch[d]`` is the
    host time per kernel; ``td[d][i]`` the host time to issue operator ``i`` (see the module doc).
    """

    def __init__(self, gt: GraphTables, platform: Platform, batch: int, mode: str | None, precision: str) -> None:
        graph = gt.graph
        ops = graph.hw_ops
        m = platform.mode(mode)
        pred = predict(platform, ops, batch=batch, mode=m, precision=precision)
        self.gt = gt
        self.platform = platform
        self.batch = batch
        self.mode = m.name
        self.precision = precision
        self.pred = pred
        self.lat = (pred.latency[:, 0].tolist(), pred.latency[:, 1].tolist())
        self.tc = (pred.t_compute[:, 0].tolist(), pred.t_compute[:, 1].tolist())
        self.tm = (pred.t_memory[:, 0].tolist(), pred.t_memory[:, 1].tolist())
        self.tl = launch_overheads(pred, gt.n)
        self.sharp = (float(pred.sharpness[0]), float(pred.sharpness[1]))
        self.t_dispatch = (float(pred.t_dispatch[0]), float(pred.t_dispatch[1]))
        per_op = getattr(pred, "dispatch", None)  # t_dispatch · dispatch_factor(kind) · max(1, kernels)
        self.td = (tuple([dispatch_seconds(td, k) for k in gt.kernels] for td in self.t_dispatch) if per_op is None
                   else (per_op[:, 0].tolist(), per_op[:, 1].tolist()))
        dem = bandwidth_demand(pred)
        self.demand = (dem[:, 0].tolist(), dem[:, 1].tolist())
        ef, eb, ps = coefficients(platform, m)
        self.eps_flop = (float(ef[0]), float(ef[1]))
        self.eps_byte = (float(eb[0]), float(eb[1]))
        e_dyn = ef * pred.work * pred.eps_scale + eb * pred.bytes  # FP32-equivalent work (energy.py)
        self.e_dyn = (e_dyn[:, 0].tolist(), e_dyn[:, 1].tolist())
        self.p_static = (float(ps[0]), float(ps[1]))
        self.board_idle_w = float(m.energy.board_idle_w)
        scale = bytes_scale(precision, ops.elem_bytes)
        self.bytes_scale = scale
        xb = [b * batch * scale for b in gt.out_bytes] + [gt.input_bytes * batch * scale]
        self.xfer_bytes = xb
        self.t_sync = float(platform.interconnect.t_sync)
        self.copy_bw = float(platform.copy_bw(m))
        self.xfer_s = [self.t_sync + b / self.copy_bw for b in xb]
        self.cores = int(m.cpu_cores)
        self.shared_dram = bool(platform.interconnect.shared_dram)
        self.bw_cap = float(concurrent_bw(platform, m))
        self.fastest = [min(c, g) for c, g in zip(self.lat[0], self.lat[1])]
        self._splits: dict[tuple[int, float], tuple[SplitPart, SplitPart]] = {}
        self._at_load: dict[tuple[int, float], list[float]] = {}

    def duration(self, d: int, i: int, load: float, c: float) -> float:
        """Latency of operator ``i`` on device ``d`` under load and contention (no noise)."""
        if load == 0.0 and c == 1.0:
            return self.lat[d][i]
        if c == 1.0:
            return self.at_load(d, load)[i]
        return duration_at(self.tl[d][i], self.tc[d][i], self.tm[d][i], self.sharp[d], load, c)

    def at_load(self, d: int, load: float) -> list[float]:
        """Latency of every operator on device ``d`` under background ``load`` and no contention.

        Loads take few distinct values (the background levels, plus the dispatch thread's core),
        so the lists are cached; each entry equals ``duration_at`` exactly.
        """
        key = (d, load)
        hit = self._at_load.get(key)
        if hit is None:
            tl, sharp, tm = self.tl[d], self.sharp[d], self.tm[d]
            hit = [duration_at(tl[i], tc, tm[i], sharp, load, 1.0) for i, tc in enumerate(self.tc[d])]
            self._at_load[key] = hit
        return hit

    def split(self, i: int, share: float) -> tuple[SplitPart, SplitPart]:
        """(CPU part, GPU part) of operator ``i`` run with ``share`` of its work on the GPU.

        Along ``channel`` each part computes its share of the output channels: FLOPs, weights,
        output bytes and parallel units scale, both read the whole input. Along ``batch`` each
        part takes its share of the samples: FLOPs, input and output bytes and units scale, both
        read all the weights. Each part launches the operator's kernels (with their overhead).
        """
        key = (i, share)
        hit = self._splits.get(key)
        if hit is not None:
            return hit
        ops = self.gt.graph.hw_ops
        axis = self.gt.split_axis[i] or "channel"
        parts = []
        for d, f in ((0, 1.0 - share), (1, share)):
            one = _scaled(ops, i, f, axis)
            p = predict(self.platform, one, batch=self.batch, mode=self.mode, precision=self.precision)
            lat = float(p.latency[0, d])
            tl = launch_overheads(p, 1)[d][0]
            busy = lat - tl
            nbytes = float(p.bytes[0, d])
            parts.append(SplitPart(
                lat=lat, tl=tl, tc=float(p.t_compute[0, d]), tm=float(p.t_memory[0, d]),
                demand=nbytes / busy if busy > 0 else 0.0,
                e_dyn=self.eps_flop[d] * float(p.work[0, d] * p.eps_scale[0, d]) + self.eps_byte[d] * nbytes,
            ))
        out = (parts[0], parts[1])
        self._splits[key] = out
        return out

    def merge_s(self, i: int, minor_share: float) -> tuple[float, float]:
        """(seconds, bytes) of copying the minor part's share of operator ``i``'s output."""
        nbytes = self.xfer_bytes[i] * minor_share
        return self.t_sync + nbytes / self.copy_bw, nbytes


_PER_CHANNEL = frozenset(kind_code(k) for k in (OpKind.DWCONV, OpKind.ACT, OpKind.ADD, OpKind.MUL, OpKind.POOL,
                                                OpKind.ATTENTION))


def _scaled(ops: OpArrays, i: int, f: float, axis: str) -> OpArrays:
    """Operator ``i`` alone with the fraction ``f`` of its work (see :meth:`PredTables.split`)."""
    one = ops.take([i])
    w = one.bytes_w if axis == "batch" else one.bytes_w * f
    # a channel split of conv/linear reads the whole input (every output channel needs every input
    # channel); one of a per-channel kind (depthwise, element-wise, pooling, attention by heads)
    # reads its own share
    whole_input = axis != "batch" and int(one.kind[0]) not in _PER_CHANNEL
    bi = one.bytes_in if whole_input else one.bytes_in * f
    return OpArrays(kind=one.kind, flops=one.flops * f, macs=one.macs * f, bytes_in=bi, bytes_out=one.bytes_out * f,
                    bytes_w=w, act_sparsity=one.act_sparsity, w_sparsity=one.w_sparsity, units=one.units * f,
                    elem_bytes=one.elem_bytes, kernels=one.kernels, act_reuse=one.act_reuse)


class PredictionCache:
    """Graph tables and prediction tables, kept across simulator resets (one per caller).

    Keyed by the identity of the graph and platform objects (both immutable; the cache holds
    references so identities stay valid) and by (batch, mode, precision).
    """

    def __init__(self) -> None:
        self._graphs: dict[int, GraphTables] = {}
        self._preds: dict[tuple[int, int, int, str, str], PredTables] = {}
        self._keep: dict[int, object] = {}

    def graph(self, graph: OpGraph) -> GraphTables:
        """Structure tables of ``graph``."""
        gt = self._graphs.get(id(graph))
        if gt is None or gt.graph is not graph:
            gt = GraphTables(graph)
            self._graphs[id(graph)] = gt
        return gt

    def tables(self, graph: OpGraph, platform: Platform, batch: int, mode: str, precision: str) -> PredTables:
        """Prediction tables at one batch size (computed on first use)."""
        key = (id(graph), id(platform), int(batch), mode, precision)
        t = self._preds.get(key)
        if t is None or t.gt.graph is not graph or t.platform is not platform:
            t = PredTables(self.graph(graph), platform, int(batch), mode, precision)
            self._preds[key] = t
            self._keep[id(platform)] = platform
        return t

    def clear(self) -> None:
        """Forget everything."""
        self._graphs.clear()
        self._preds.clear()
        self._keep.clear()


def critical_path(gt: GraphTables, per_op: list[float]) -> float:
    """Longest path through the DAG with the given per-operator times (no transfers)."""
    finish = [0.0] * gt.n
    best = 0.0
    for i in range(gt.n):
        start = max((finish[d] for d in gt.deps[i]), default=0.0)
        finish[i] = start + per_op[i]
        if finish[i] > best:
            best = finish[i]
    return best

