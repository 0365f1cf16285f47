"""Single-device runs of one request without the event queue: the reference figures, fast.

Every reset of ``SparOA-v0`` needs the GPU-only figures of its episode (``T_ref``, ``E_ref``)
and every episode end the CPU-only ones, under the episode's seed. With every operator on one
device and one request there is nothing to schedule: the dispatcher releases the operators in
Kahn's FIFO order (``GraphTables.fifo_order``) and their start times follow the reference
setting's timing rules (docs/architecture.md §4.3, stated once in :mod:`sparoa_sim.sim.reference`)
specialised to one device: launches back to back, ``td[i] = t_dispatch · max(1, kernels[i])``
each; a kernel after its launch, the previous kernel and, for a source under ``host_io``, the
input's copy; a CPU operator after the previous one. The walk is the env's per-reset hot path, so it is written out
flat rather than through the rules' term functions, and tests hold it to them
(``least_solution``) as well as to the engine. The only dynamics
left are the device's background load path (Markov-modulated, drawn from the run's substream, or
a ``LoadTrace``) and the noise factors, each exactly as the engine draws or applies it. :func:`single_device_figures` walks that
timeline in plain Python (no SimPy events), with the engine's own arithmetic for re-timing, so
its figures equal :meth:`Simulator.run` under the ``cpu`` / ``gpu`` policy (the tests compare
them over workloads, platforms, modes, noise and background settings and seeds). It answers
None where its assumptions do not hold (a stream of requests, host-dispatched CPU operators),
and the caller falls back to the engine.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sparoa_sim.sim.arrivals import ClosedLoop
from sparoa_sim.sim.randomness import RunStreams, batch_noise
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels.noise import noise_sigmas
from sparoa_sim.sim.hwstate import MAX_LOAD, LoadTrace, shared_load_path

__all__ = ["single_device_figures"]

_DEVICES = {"cpu": 0, "gpu": 1}


def _load_changes(bg, ss: np.random.SeedSequence):
    """(time, level) of each change of one device's background level (its path drawn from substream ``ss``),
    as the engine's process applies them (the first at t = 0)."""
    t = 0.0
    last = None
    for hold, level in shared_load_path(bg, ss):
        if level != last:
            yield t, level
            if len(set(bg.levels)) == 1:
                return  # one distinct level: it never changes again (the path would jump forever unseen)
            last = level
        t = t + hold


def _trace_changes(steps: list[tuple[float, float]]):
    """(time, share) of each step of a :class:`LoadTrace` device path, at the times the engine's
    ``trace_process`` reaches them (``now + (t − now)``)."""
    now = 0.0
    for t, share in steps:
        if t > now:
            now = now + (t - now)
        yield now, share


def single_device_figures(sim: Simulator, device: str, seed: int) -> tuple[float, float] | None:
    """(latency s, energy per inference J) of one request of ``sim``'s workload with every operator
    on ``device`` ("cpu" | "gpu") under ``seed`` — what ``sim.run(seed)`` returns under that
    device's policy — or None where this walk does not apply."""
    d = _DEVICES.get(device)
    if d is None:
        raise SimulationError(f"single_device_figures: device must be 'cpu' or 'gpu', got {device!r}")
    arr = sim.arrivals
    if not isinstance(arr, ClosedLoop) or arr.n_requests != 1 or len(sim.streams) > 1:
        return None  # a stream of requests, or co-running models sharing the devices: use the engine
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        return None
    cfg = sim.config
    t = sim.tables(1)
    td = t.t_dispatch[d]  # per kernel; operator i's launch takes t.td[d][i]
    if d == 0 and td > 0.0:
        return None  # CPU launches through the host thread interfere with CPU kernels: use the engine
    gt = sim.cache.graph(sim.graph)
    n = gt.n
    kids = RunStreams(int(seed))  # the substreams this walk reads, each built when first read
    sigma, sigma_on = _sigmas(sim.platform)
    z = batch_noise(kids.noise_key(), sigma, n, 0) if cfg.noise_on and sigma_on else None
    bg = cfg.background_on
    if isinstance(bg, LoadTrace):
        changes = _trace_changes(bg.changes(d))
    else:
        changes = (_load_changes(bg, kids[d])
                   if bg is not None and ("cpu", "gpu")[d] in bg.devices else iter(()))
    nxt_t, nxt_level = next(changes, (math.inf, 0.0))

    base = t.lat[d]
    p_static = t.p_static[d]
    host_io = cfg.host_io and d == 1
    xfer_s = t.xfer_s
    x_in = xfer_s[n] if host_io else 0.0
    xfer_energy = t.eps_byte[1] * t.xfer_bytes[n] if host_io else 0.0
    order, tds, e_dyn, srcs, sinks = _walk_tables(t, gt, d, host_io)
    zs = _ONES[n] if z is None else z[d::2]  # noise factor per operator (1.0 · x = x: as the engine's z = None)
    launching = d == 1 and td > 0.0
    eps_home = t.eps_byte[0]
    xfer_bytes = t.xfer_bytes
    at_load = t.at_load
    launch = 0.0
    prev_end = 0.0
    completion = 0.0
    energy = 0.0
    load = 0.0
    lat_now = base
    if not launching and not host_io:  # back to back on one device: the loop below less launches and copies
        for op, edyn in zip(order, e_dyn):
            start = prev_end
            if nxt_t <= start:  # load changes while the device waits
                load, lat_now, nxt_t, nxt_level = _wait(changes, start, nxt_t, nxt_level, load, lat_now, base,
                                                        at_load, d)
            zk = zs[op]
            end = start + zk * lat_now[op]
            if nxt_t < end:
                end, load, lat_now, nxt_t, nxt_level = _run_through(changes, start, end, zk, op, nxt_t, nxt_level,
                                                                    load, lat_now, base, at_load, d)
            energy += edyn + p_static * (end - start)
            prev_end = end
            if end > completion:
                completion = end
        return completion, energy + xfer_energy + t.board_idle_w * completion
    for op, tdo, edyn, src, sink in zip(order, tds, e_dyn, srcs, sinks):
        # §4.3 on one device: a GPU kernel after its launch (launches back to back, td[op] each), the
        # previous kernel and, for a source under host_io, the input's copy; a CPU operator after
        # the previous one (its producers ran before it on the same device).
        start = prev_end
        if launching:
            launch = launch + tdo
            if launch > start:
                start = launch
        if src and x_in > start:
            start = x_in
        if nxt_t <= start:  # load changes while the device waits
            load, lat_now, nxt_t, nxt_level = _wait(changes, start, nxt_t, nxt_level, load, lat_now, base, at_load, d)
        zk = zs[op]
        end = start + zk * lat_now[op]  # every operator's latency at the load in force (base at load 0)
        if nxt_t < end:
            end, load, lat_now, nxt_t, nxt_level = _run_through(changes, start, end, zk, op, nxt_t, nxt_level, load,
                                                                lat_now, base, at_load, d)
        energy += edyn + p_static * (end - start)
        prev_end = end
        if sink:  # the sink's output copied home (host_io)
            xfer_energy += eps_home * xfer_bytes[op]
            end = end + xfer_s[op]
        if end > completion:
            completion = end
    # the engine's sum: device energies (the idle device's is 0), copies, board idle over the makespan
    return completion, energy + xfer_energy + t.board_idle_w * completion


def _wait(changes: Any, start: float, nxt_t: float, nxt_level: float, load: float, lat_now: list[float],
          base: list[float], at_load: Any, d: int) -> tuple[float, list[float], float, float]:
    """The load changes up to ``start`` (the device waiting for its next operator): (load, its latencies, the
    next change)."""
    while nxt_t <= start:
        load = min(nxt_level, MAX_LOAD)
        lat_now = base if load == 0.0 else at_load(d, load)
        nxt_t, nxt_level = next(changes, (math.inf, 0.0))
    return load, lat_now, nxt_t, nxt_level


def _run_through(changes: Any, start: float, end: float, zk: float, op: int, nxt_t: float, nxt_level: float,
                 load: float, lat_now: list[float], base: list[float], at_load: Any,
                 d: int) -> tuple[float, float, list[float], float, float]:
    """Operator ``op`` started at ``start`` and the load changes before its ``end``: re-timed at each change
    while it runs (the engine's ``Executors.retime``): (its end, the load, its latencies, the next change)."""
    dur = zk * lat_now[op]  # as the caller computed it (its end = start + dur)
    t_seg, frac = start, 1.0
    while nxt_t < end:
        new_load = min(nxt_level, MAX_LOAD)
        if new_load != load:
            load = new_load
            if dur > 0.0:
                frac -= (nxt_t - t_seg) / dur
                if frac < 0.0:
                    frac = 0.0
            lat_now = base if load == 0.0 else at_load(d, load)
            dur = zk * lat_now[op]
            t_seg = nxt_t
            end = nxt_t + frac * dur
        nxt_t, nxt_level = next(changes, (math.inf, 0.0))
    return end, load, lat_now, nxt_t, nxt_level


#: Per platform (by identity, the platform kept with its entry): its noise σ per device and whether any is > 0.
_SIGMAS: dict[int, tuple[Any, np.ndarray, bool]] = {}


def _sigmas(platform: Any) -> tuple[np.ndarray, bool]:
    """``noise_sigmas(platform)`` and whether any σ is positive, computed once per platform object (a
    platform is a frozen value)."""
    hit = _SIGMAS.get(id(platform))
    if hit is None or hit[0] is not platform:
        sigma = noise_sigmas(platform)
        sigma.flags.writeable = False
        if len(_SIGMAS) >= 64:
            _SIGMAS.pop(next(iter(_SIGMAS)))
        hit = _SIGMAS[id(platform)] = (platform, sigma, bool(np.any(sigma > 0)))
    return hit[1], hit[2]


#: Per (tables, device, host_io): the walk's per-operator inputs in Kahn's FIFO order (bounded).
_WALKS: dict[tuple[int, int, bool], tuple[Any, ...]] = {}


class _Ones(dict):
    """``n`` → a list of ``n`` ones (the noise factors of a run without noise)."""

    def __missing__(self, n: int) -> list[float]:
        v = self[n] = [1.0] * n
        return v


_ONES = _Ones()


def _walk_tables(t: Any, gt: Any, d: int, host_io: bool) -> tuple[list[int], list[float], list[float], list[bool],
                                                                   list[bool]]:
    """(order, host time, dynamic energy, source under ``host_io``, sink under ``host_io``) per operator of
    ``t`` on device ``d``, in the dispatcher's FIFO order: the walk's loop reads them in step (kept)."""
    key = (id(t), d, host_io)
    hit = _WALKS.get(key)
    if hit is None or hit[0] is not t:
        order = list(gt.fifo_order)
        hit = (t, order, [t.td[d][i] for i in order], [t.e_dyn[d][i] for i in order],
               [host_io and not gt.deps[i] for i in order], [host_io and bool(gt.is_sink[i]) for i in order])
        if len(_WALKS) >= 64:
            _WALKS.pop(next(iter(_WALKS)))
        _WALKS[key] = hit
    return hit[1:]
