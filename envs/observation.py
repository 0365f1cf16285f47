"""The observation of ``SparOA-v0``: one flat float32 vector with a versioned layout.

Layout version 1 (``OBS_LAYOUT_VERSION``; names in ``OBS_LAYOUT``). Times are normalised by
``T_ref`` (the GPU-only mean latency of the episode) on a log scale,
``logt(r) = clip((log10 r + 6) / 8, 0, 1)`` for ``r = t / T_ref`` (0 for r ≤ 1e-6, 1 for
r ≥ 100); every feature lies in [0, 1] except index 22, in [-1, 1].

Operator (static per operator, batch and power mode):

====  ==========================  ===========================================================
 0    op_log_flops                log10(1 + batch · FLOPs) / 13
 1    op_log_bytes                log10(1 + batch · (bytes_in + bytes_out) + bytes_w) / 11
 2    op_log_intensity            (log10(FLOP/byte + 1e-3) + 3) / 7, clipped
 3    op_act_sparsity             fraction of zeros in the input activations
 4    op_w_sparsity               fraction of zeros in the weights
 5    op_splittable               1 if the operator has a split axis
 6–19 kind_<k>                    one-hot kind: conv, dwconv, linear, matmul, attention, norm,
                                  act, pool, add, mul, concat, softmax, reshape, other
 20   op_lat_cpu_idle             logt(predicted CPU latency on an idle machine)
 21   op_lat_gpu_idle             logt(predicted GPU latency on an idle machine)
 22   op_cpu_gpu_log_ratio        clip(log10(CPU latency / GPU latency) / 4, −1, 1)
====  ==========================  ===========================================================

State (per decision):

====  ==========================  ===========================================================
 23   lat_cpu_now                 logt(predicted CPU latency under the current load)
 24   lat_gpu_now                 logt(predicted GPU latency under the current load)
 25   backlog_cpu                 logt(predicted seconds queued or running on the CPU)
 26   backlog_gpu                 logt(same on the GPU)
 27   host_backlog                logt(kernel launches queued on the host dispatch thread)
 28   inputs_on_cpu               share of the input bytes on the CPU, or made there once placed
 29   inputs_on_gpu               same on the GPU (1 for an operator without inputs)
 30   transfer_to_cpu             logt(time to copy the missing inputs to the CPU)
 31   transfer_to_gpu             logt(same to the GPU)
 32   load_cpu                    observed background share of the CPU (delayed, noisy)
 33   load_gpu                    observed background share of the GPU
 34   host_busy                   1 while the host dispatch thread launches a kernel
 35   contention                  DRAM bandwidth factor in force (1 = no contention)
 36   power_mode                  index of the power mode / (number of modes − 1)
 37   batch_fill                  batch size of this operator's batch / largest batch option
 38   progress                    fraction of this batch's operators placed before this one
 39   requests_done               requests completed / N
 40   requests_in_system          requests arrived and not complete / N
 41   ready_queue                 other operators waiting for a decision / 16, clipped
 42   time                        logt(simulation time)
 43   energy                      logt-scale of energy so far / (N · E_ref)
====  ==========================  ===========================================================

Optional (``thresholds`` given): 44 ``tau_s`` (τ_s), 45 ``tau_i`` (τ_I on the scale of
index 2).
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable
from typing import Any
from dataclasses import dataclass

import numpy as np

from sparoa_sim.hwmodels.kinds import KINDS
from sparoa_sim.sim.view import input_residency

__all__ = ["OBS_LAYOUT", "OBS_LAYOUT_VERSION", "THRESHOLD_FEATURES", "ObservationBuilder", "OperatorFeatures",
           "logt", "log_intensity", "observation_bounds", "observation_layout", "operator_features"]

OBS_LAYOUT_VERSION = 1
_STATIC = ("op_log_flops", "op_log_bytes", "op_log_intensity", "op_act_sparsity", "op_w_sparsity",
           "op_splittable", *(f"kind_{k.value}" for k in KINDS), "op_lat_cpu_idle", "op_lat_gpu_idle",
           "op_cpu_gpu_log_ratio")
_DYNAMIC = ("lat_cpu_now", "lat_gpu_now", "backlog_cpu", "backlog_gpu", "host_backlog", "inputs_on_cpu",
            "inputs_on_gpu", "transfer_to_cpu", "transfer_to_gpu", "load_cpu", "load_gpu", "host_busy",
            "contention", "power_mode", "batch_fill", "progress", "requests_done", "requests_in_system",
            "ready_queue", "time", "energy")
#: Feature names of layout version 1, without the optional thresholds.
OBS_LAYOUT: tuple[str, ...] = _STATIC + _DYNAMIC
THRESHOLD_FEATURES: tuple[str, ...] = ("tau_s", "tau_i")
_N_STATIC = len(_STATIC)
_RATIO = _STATIC.index("op_cpu_gpu_log_ratio")
_LOG10 = math.log10
_F32 = np.dtype(np.float32)
_IDLE = _STATIC.index("op_lat_cpu_idle")  # indices 20-21: the idle latencies on the episode's T_ref scale
#: Packs indices 20 onwards (idle latencies, ratio, the dynamic fields) as native floats, as numpy's float32.
_PACK_TAIL = struct.Struct(f"{_N_STATIC - _IDLE + len(_DYNAMIC)}f").pack
_frombuffer = np.frombuffer
_MEMO_MAX = 4096  # distinct seconds values a builder keeps the logt of


def observation_layout(thresholds: bool = False) -> tuple[str, ...]:
    """Feature names, in order (with the two threshold features at the end when asked)."""
    return OBS_LAYOUT + (THRESHOLD_FEATURES if thresholds else ())


def observation_bounds(thresholds: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) float32 arrays of the observation Box."""
    n = len(observation_layout(thresholds))
    low = np.zeros(n, dtype=np.float32)
    low[_RATIO] = -1.0
    return low, np.ones(n, dtype=np.float32)


def logt(r: float) -> float:
    """Log-scale a ratio to ``T_ref``: 0 at ≤ 1e-6, 1 at ≥ 100."""
    if r <= 1e-6:
        return 0.0
    v = (_LOG10(r) + 6.0) * 0.125
    return v if v < 1.0 else 1.0


def log_intensity(x: np.ndarray | float) -> np.ndarray:
    """Arithmetic intensity (FLOP/byte) on the [0, 1] scale of feature 2 (1e-3 … 1e4)."""
    return np.clip((np.log10(np.asarray(x, dtype=float) + 1e-3) + 3.0) / 7.0, 0.0, 1.0)


def _logt_array(r: np.ndarray) -> np.ndarray:
    v = (np.log10(np.maximum(r, 1e-300)) + 6.0) * 0.125  # ≥ 1e-300: no log of 0 (nor of a negative)
    return np.where(r <= 1e-6, 0.0, np.minimum(v, 1.0))


@dataclass(frozen=True)
class OperatorFeatures:
    """What the observation needs of every operator at one batch size, independent of ``T_ref``:
    the static rows (indices 20–21 left 0), idle latencies (n, 2), input bytes, finiteness; and
    for the per-step packing, each row's indices 0–19 as float32 bytes (``prefix``, a bytearray:
    ``prefix + bytes`` is a fresh writable buffer), index 22 as floats (``ratio``) and the outputs each
    operator reads (``inputs``: its producers; a source, the request's input, index n, under ``host_io``)."""

    table: np.ndarray
    lat: np.ndarray
    in_total: list[float]
    finite: np.ndarray
    prefix: tuple[bytearray, ...] = ()
    ratio: tuple[float, ...] = ()
    inputs: tuple[tuple[int, ...], ...] = ()

    @functools.cached_property
    def all_finite(self) -> bool:
        """Whether every operator has a finite predicted latency on both devices (no mask needed; computed once:
        every reset reads it)."""
        return bool(self.finite.all())


def operator_features(sim, batch: int) -> OperatorFeatures:
    """Compute :class:`OperatorFeatures` of ``sim``'s graph at ``batch`` (vectorised)."""
    a = sim.graph.arrays
    t = sim.tables(batch)
    n = len(a.flops)
    tab = np.zeros((n, _N_STATIC), dtype=np.float64)
    tab[:, 0] = np.log10(1.0 + batch * a.flops) / 13.0
    tab[:, 1] = np.log10(1.0 + batch * (a.bytes_in + a.bytes_out) + a.bytes_w) / 11.0
    tab[:, 2] = log_intensity(a.intensity)
    tab[:, 3] = a.act_sparsity
    tab[:, 4] = a.w_sparsity
    tab[:, 5] = a.splittable
    tab[np.arange(n), 6 + np.asarray(a.kind, dtype=np.int64)] = 1.0
    lat = np.stack([np.asarray(t.lat[0], dtype=float), np.asarray(t.lat[1], dtype=float)], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log10(np.maximum(lat[:, 0], 1e-30) / np.maximum(lat[:, 1], 1e-30)) / 4.0
    tab[:, _RATIO] = np.clip(np.nan_to_num(ratio), -1.0, 1.0)
    tab = np.clip(tab, -1.0, 1.0).astype(np.float32)
    # bytes of each operator's inputs (a source reads the request's input, index n, under host_io)
    xb = t.xfer_bytes
    host_io = sim.config.host_io
    in_total = [float(sum(xb[p] for p in op.deps)) if op.deps else (xb[n] if host_io else 0.0)
                for op in sim.graph.ops]
    deps = sim.cache.graph(sim.graph).deps
    return OperatorFeatures(table=tab, lat=lat, in_total=in_total, finite=np.isfinite(lat),
                            prefix=tuple(bytearray(r.tobytes()) for r in tab[:, :_IDLE]),
                            ratio=tuple(tab[:, _RATIO].tolist()),
                            inputs=tuple(d if d else ((n,) if host_io else ()) for d in deps))


class ObservationBuilder:
    """Fills the observation of one episode's pending operators (static rows precomputed)."""

    def __init__(self, sim, t_ref: float, e_ref: float, mode_index: int, n_modes: int, max_batch: int,
                 thresholds: tuple[float, float] | None = None,
                 features: Callable[[int], OperatorFeatures] | None = None) -> None:
        self.sim = sim
        if features is None:  # computed once per batch size
            memo: dict[int, OperatorFeatures] = {}

            def features(batch: int) -> OperatorFeatures:
                f = memo.get(batch)
                if f is None:
                    f = memo[batch] = operator_features(sim, batch)
                return f

        self._features = features
        self._finite: dict[int, np.ndarray] = {}
        self.inv_t = 1.0 / t_ref if t_ref > 0 else 0.0
        self.inv_e = 1.0 / (sim.n_requests * e_ref) if e_ref > 0 else 0.0
        self.inv_n = 1.0 / sim.n_requests
        self.mode_feat = mode_index / (n_modes - 1) if n_modes > 1 else 0.0
        self.max_batch = float(max_batch)
        self.n = len(OBS_LAYOUT) + (2 if thresholds else 0)
        self.buf = np.zeros(self.n, dtype=np.float32)
        if thresholds:
            self.buf[-2] = thresholds[0]
            self.buf[-1] = float(log_intensity(thresholds[1]))
        self._static: dict[int, tuple[np.ndarray, list[float], np.ndarray]] = {}
        #: Per batch, per operator: (its indices 0–19 as float32 bytes, the idle latencies of the episode
        #: (indices 20, 21) and index 22 as floats, its input bytes, the outputs it reads).
        self._packed: dict[int, list[tuple[bytearray, float, float, float, float, tuple[int, ...]]]] = {}
        self._tail = self.buf[len(OBS_LAYOUT):].tobytes()  # the threshold features, if any
        self._n_ops = sim.cache.graph(sim.graph).n  # as OpView.progress divides by
        #: What build() reads of the run (set from ``OpView.bound`` at the first build of each run).
        self._bound: tuple[Any, Any, Any] | None = None
        #: Seconds → their logt on this builder's T_ref scale (latencies and copy times: few distinct values).
        self._memo: dict[float, float] = {}

    def static_table(self, batch: int) -> np.ndarray:
        """Per-operator static features at ``batch`` (rows of indices 0–22), computed once."""
        hit = self._static.get(batch)
        if hit is None:
            hit = self._build_static(batch)
            self._static[batch] = hit
        return hit[0]

    def finite(self, batch: int) -> np.ndarray:
        """(n_ops, 2) bool: where the twin predicts a finite latency (the action mask)."""
        hit = self._finite.get(batch)
        if hit is None:
            hit = self._finite[batch] = self._features(batch).finite
        return hit

    def _build_static(self, batch: int) -> tuple[np.ndarray, list[float], np.ndarray]:
        f = self._features(batch)
        tab = f.table.copy()
        tab[:, 20:22] = _logt_array(f.lat * self.inv_t)
        return tab, f.in_total, f.finite

    def _pack_parts(self, batch: int) -> list[tuple[bytearray, float, float, float, float, tuple[int, ...]]]:
        """What :meth:`build` packs per operator at ``batch`` (the values of :meth:`static_table`), one row per
        operator: (indices 0–19 as float32 bytes, indices 20, 21 and 22 as floats, its input bytes, the outputs
        it reads)."""
        f = self._features(batch)
        idle = _logt_array(f.lat * self.inv_t).astype(np.float32).tolist()  # as assigned into the float32 table
        rows = [(pre, ic, ig, ratio, total, inputs)
                for pre, (ic, ig), ratio, total, inputs in zip(f.prefix, idle, f.ratio, f.in_total, f.inputs)]
        self._packed[batch] = rows
        return rows

    def _bind(self, bound: tuple[Any, Any, Any]) -> None:
        """Keep references to what :meth:`build` reads of the run the view is bound to (``OpView.bound``)."""
        state, host, rates = bound
        self._bound = bound
        self._state = state
        self._host = host
        self._rates = rates
        self._at = [(None, -1.0, None), (None, -1.0, None)]  # per device: (tables, load, latencies at it)

    def _at_load(self, d: int, t: Any, load: float) -> list[float]:
        """``t.at_load(d, load)``, kept as device ``d``'s last list (see :meth:`build`)."""
        lat = t.at_load(d, load)
        self._at[d] = (t, load, lat)
        return lat

    def _remember(self, x: float, r: float) -> float:
        """``logt(r)`` for ``r = x · inv_t`` > 1e-6 (the expression of :meth:`build`), kept for ``x``."""
        memo = self._memo
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        v = (_LOG10(r) + 6.0) * 0.125
        v = memo[x] = v if v < 1.0 else 1.0
        return v

    def build(self, view, load_cpu: float | None, load_gpu: float | None,
              progress: tuple[float, float, float, int, int] | None = None) -> np.ndarray:
        """The observation of the pending operator ``view``, with the observed loads (None, None: the
        background shares in force now, ``OpView.load``, read here): a fresh
        writable float32 array, the operator's precomputed static bytes and the rest packed in one
        ``struct`` call from the per-decision values (those of ``OpView.decision_state``, read here in
        the same order of operations) and the run's progress (``Simulator.progress()``, read here unless
        the caller passes it)."""
        job = view.job_state
        op = view.op
        t = job.tables
        batch = t.batch
        rows = self._packed.get(batch)
        if rows is None:
            rows = self._pack_parts(batch)
        prefix, idle_c, idle_g, ratio, total, inputs = rows[op]
        bound = view.bound
        if bound is not self._bound:
            self._bind(bound)
        state = self._state
        if load_cpu is None:  # = OpView.load
            load_cpu, load_gpu = self._rates.bg
        # OpView.decision_state, written out: the predicted latencies under the current load
        # (t.at_load(d, load)[op], the list kept while the load holds), then where the inputs live and
        # what bringing the missing ones would take
        load_c, load_g = state.load
        if load_c == 0.0:
            pc = t.lat[0][op]
        else:
            a = self._at[0]
            pc = (a[2] if a[0] is t and a[1] == load_c else self._at_load(0, t, load_c))[op]
        if load_g == 0.0:
            pg = t.lat[1][op]
        else:
            a = self._at[1]
            pg = (a[2] if a[0] is t and a[1] == load_g else self._at_load(1, t, load_g))[op]
        if inputs:
            on_c, on_g, xc, xg = input_residency(inputs, job.res, job.share, t.xfer_bytes, t.xfer_s)
        else:
            on_c = on_g = xc = xg = 0.0
        b = state.backlog
        bc = b[0]
        bg = b[1]
        host = self._host
        hb = host.backlog
        if total > 0.0:
            fc, fg = on_c / total, on_g / total
        else:
            fc = fg = 1.0
        now, _, energy, n_in_system, n_done = self.sim.progress() if progress is None else progress
        inv_t = self.inv_t
        # logt of each time, written out (the function's expression: same values bit for bit; no
        # comprehension: on CPython 3.11 its frame costs as much as the nine values). The latencies and
        # copy times take few distinct values: each one's logt is kept (``memo``, keyed by the seconds).
        memo = self._memo  # (a kept logt of 0.0 is falsy: computed again, the same value)
        lc = 0.0 if (r := pc * inv_t) <= 1e-6 else (memo.get(pc) or self._remember(pc, r))
        lg = 0.0 if (r := pg * inv_t) <= 1e-6 else (memo.get(pg) or self._remember(pg, r))
        lxc = 0.0 if (r := xc * inv_t) <= 1e-6 else (memo.get(xc) or self._remember(xc, r))
        lxg = 0.0 if (r := xg * inv_t) <= 1e-6 else (memo.get(xg) or self._remember(xg, r))
        if 0.0 > bc:  # = max(bc, 0.0), as decision_state
            bc = 0.0
        if 0.0 > bg:
            bg = 0.0
        if 0.0 > hb:
            hb = 0.0
        lbc = 0.0 if (r := bc * inv_t) <= 1e-6 else (v if (v := (_LOG10(r) + 6.0) * 0.125) < 1.0 else 1.0)
        lbg = 0.0 if (r := bg * inv_t) <= 1e-6 else (v if (v := (_LOG10(r) + 6.0) * 0.125) < 1.0 else 1.0)
        lhb = 0.0 if (r := hb * inv_t) <= 1e-6 else (v if (v := (_LOG10(r) + 6.0) * 0.125) < 1.0 else 1.0)
        lnow = 0.0 if (r := now * inv_t) <= 1e-6 else (v if (v := (_LOG10(r) + 6.0) * 0.125) < 1.0 else 1.0)
        le = 0.0 if (r := energy * self.inv_e) <= 1e-6 else (v if (v := (_LOG10(r) + 6.0) * 0.125) < 1.0 else 1.0)
        fill = batch / self.max_batch
        in_sys = n_in_system * self.inv_n
        ready = len(state.ready) / 16.0
        cont = self._rates.contention
        body = _PACK_TAIL(
            idle_c, idle_g, ratio,
            lc, lg, lbc, lbg, lhb, fc, fg, lxc, lxg, load_cpu, load_gpu, 1.0 if host.busy else 0.0,
            1.0 if 1.0 < cont else cont, self.mode_feat, 1.0 if 1.0 < fill else fill, job.placed / self._n_ops,
            n_done * self.inv_n, 1.0 if 1.0 < in_sys else in_sys, 1.0 if 1.0 < ready else ready, lnow, le)
        tail = self._tail
        return _frombuffer(prefix + body + tail if tail else prefix + body, _F32)
