"""Per-request activation sparsity (SparOA's "input data characteristics"), opt-in for the engine.

A graph that records the spread of each operator's activation sparsity across inputs
(``Op.act_sparsity_std``: ``sparoa extract --inputs``) describes requests that differ: each request
draws its operators' sparsity from that spread (``ir.sparsity.draw_act_sparsity``), and a batch's
operators run as fast as the kernel the twin picks for the batch's mean sparsity allows
(``hwmodels.latency.predict``: an activation-sparse CPU kernel's work falls with it).

:class:`RequestSparsity` gives the :class:`~sparoa_sim.sim.predtables.PredTables` one batch runs
with: a copy of the engine's tables whose per-operator latencies, roofline parts, bandwidth
demand and energy come from that draw. Draws depend on the seed and the request index alone
(common random numbers, as ``sim.randomness.batch_noise``), never on the policy or the order of
events. A graph without spread returns the engine's tables themselves: runs stay bit for bit
what they were. Split operators' parts keep the recorded mean (the tables' ``split``).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence

import numpy as np

from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels import bandwidth_demand, predict
from sparoa_sim.hwmodels.energy import coefficients
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.ir.sparsity import MIN_DRAW_STD, draw_act_sparsity
from sparoa_sim.sim.predtables import PredTables, launch_overheads

__all__ = ["SPARSITY_SPAWN_KEY", "RequestSparsity"]

#: Spawn key of the per-request sparsity stream under the run's seed: apart from the engine's
#: own substreams (``sim.randomness.STREAMS``, keys 0-4), so turning draws on changes no other draw.
SPARSITY_SPAWN_KEY = 1019


class RequestSparsity:
    """Per-request sparsity draws of one graph and the prediction tables a batch of requests runs with."""

    def __init__(self, graph: OpGraph, seed: int | None) -> None:
        a = graph.arrays
        self.graph = graph
        self.mean = np.asarray(a.act_sparsity, dtype=np.float64)
        self.std = np.asarray(a.act_sparsity_std, dtype=np.float64)
        self.varies = bool(np.any(self.std > MIN_DRAW_STD))
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise SimulationError(f"request sparsity: field 'seed' must be an integer or None, got {seed!r}")
        base = np.random.SeedSequence(None if seed is None else int(seed))
        self._ss = np.random.SeedSequence(base.entropy, spawn_key=(SPARSITY_SPAWN_KEY,))

    def draw(self, request: int) -> np.ndarray:
        """Request ``request``'s activation sparsity per operator, (n,) (the mean where there is no spread)."""
        if isinstance(request, bool) or not isinstance(request, (int, np.integer)) or request < 0:
            raise SimulationError(f"request sparsity: field 'request' must be a non-negative integer, got {request!r}")
        if not self.varies:
            return self.mean.copy()
        ss = np.random.SeedSequence(self._ss.entropy, spawn_key=(*self._ss.spawn_key, int(request)))
        return draw_act_sparsity(self.mean, self.std, np.random.default_rng(ss), 1)[0]

    def batch_draw(self, requests: Sequence[int]) -> np.ndarray:
        """A batch's sparsity per operator: the mean of its requests' draws (its operators read every
        request's activations, so the zeros they skip add up)."""
        if not requests:
            raise SimulationError("request sparsity: a batch needs at least one request")
        return np.mean([self.draw(r) for r in requests], axis=0)

    def tables(self, base: PredTables, requests: Sequence[int]) -> PredTables:
        """The tables the batch ``requests`` runs with: ``base`` itself where nothing varies, else a copy
        predicted at the batch's drawn sparsity (same platform, batch, mode and precision)."""
        if base.gt.graph is not self.graph:
            raise SimulationError(f"request sparsity: tables of graph {base.gt.graph.name!r}, draws of "
                                  f"{self.graph.name!r}")
        if not self.varies:
            return base
        ops = dataclasses.replace(self.graph.hw_ops, act_sparsity=self.batch_draw(requests))
        pred = predict(base.platform, ops, batch=base.batch, mode=base.mode, precision=base.precision)
        t = copy.copy(base)
        t.pred = pred
        t.lat = (pred.latency[:, 0].tolist(), pred.latency[:, 1].tolist())
        t.tc = (pred.t_compute[:, 0].tolist(), pred.t_compute[:, 1].tolist())
        t.tm = (pred.t_memory[:, 0].tolist(), pred.t_memory[:, 1].tolist())
        t.tl = launch_overheads(pred, base.gt.n)
        dem = bandwidth_demand(pred)
        t.demand = (dem[:, 0].tolist(), dem[:, 1].tolist())
        ef, eb, _ = coefficients(base.platform, base.platform.mode(base.mode))
        e_dyn = ef * pred.work * pred.eps_scale + eb * pred.bytes
        t.e_dyn = (e_dyn[:, 0].tolist(), e_dyn[:, 1].tolist())
        t.fastest = [min(c, g) for c, g in zip(t.lat[0], t.lat[1])]
        t._at_load = {}  # noqa: SLF001 - a fresh cache for the new latencies (splits keep the mean)
        return t
