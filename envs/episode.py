"""What one episode simulates, drawn from the options (domain randomisation), and its simulators.

:class:`EpisodeFactory` loads the named workloads and platforms once, draws an
:class:`Episode` per reset from the env's ``np_random`` (workload, platform, power mode, batch
size, the simulation seed and the scenario of a mix, always in that order, so a seeded env replays
exactly), and keeps
the simulators and prediction tables across episodes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sparoa_sim.sim.arrivals import Arrivals, Batching, ClosedLoop, Poisson, parse_arrival
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.errors import SimulationError
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.hwmodels import Platform, load_platform
from sparoa_sim.sim.hwstate import BackgroundLoad
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.singledevice import single_device_figures
from sparoa_sim.ir.synthetic import generate
from sparoa_sim.scenarios import StreamSpec, load_scenario
from sparoa_sim.scenarios.engine import engine_inputs
from sparoa_sim.hwmodels.profile_io import shipped_profile_names
from sparoa_sim.workloads import WORKLOAD_DIR, load_workload, workload_path

from sparoa_sim.envs.observation import OperatorFeatures, operator_features
from sparoa_sim.envs.options import RANDOM, SYNTHETIC, EnvOptions
from sparoa_sim.envs.reference import REFERENCES, Reference

__all__ = ["Episode", "EpisodeFactory"]

_SEED_HIGH = 2**31 - 1
_FIXED_HOLD_S = 1e6  # a "fixed" background never moves within an episode

# Shared by every environment of the process where all its workloads and platforms are shipped ones
# (immutable package data): the platforms by name, their prediction tables, the operator features by
# value. A second env (a vector env's copies, a fresh env per evaluation) then starts with them warm.
_PLATFORMS: dict[str, Platform] = {}
_TABLES = PredictionCache()
_FEATURES: dict[tuple[Any, ...], OperatorFeatures] = {}


def _shipped(workloads: tuple[str, ...], platforms: tuple[str, ...]) -> bool:
    """Whether every workload (bar the synthetic generator) and every platform is shipped by name."""
    if any(not isinstance(p, str) or p not in shipped_profile_names() for p in platforms):
        return False
    return all(w == SYNTHETIC or (isinstance(w, str) and workload_path(w).parent == WORKLOAD_DIR) for w in workloads)


def _shared_platform(name: str) -> Platform:
    plat = _PLATFORMS.get(name)
    if plat is None:
        plat = _PLATFORMS[name] = load_platform(name)
    return plat


@dataclass(frozen=True)
class Episode:
    """One episode's draw: what is simulated, under which seed."""

    graph: OpGraph
    graph_key: tuple[Any, ...]
    platform: Platform
    platform_index: int
    mode: str
    mode_index: int
    n_modes: int
    batch: int
    seed: int
    config: SimConfig
    arrivals: Arrivals
    batching: Batching
    cache: PredictionCache
    scenario_index: int | None = None
    sim_kwargs: dict[str, Any] = field(default_factory=dict)


class EpisodeFactory:
    """Draws episodes and hands out (cached) simulators and reference figures for them."""

    def __init__(self, options: EnvOptions, record_trace: bool = False, max_sims: int = 16) -> None:
        self.options = options
        self.record_trace = bool(record_trace)
        o = options
        self.graphs: dict[str, OpGraph] = {w: load_workload(w) for w in o.workloads if w != SYNTHETIC}
        #: Whether this env shares platforms, tables and features with the process's other envs.
        self.shared = _shipped(tuple(o.workloads), tuple(o.platform))
        self.platforms: tuple[Platform, ...] = tuple(_shared_platform(p) if self.shared else load_platform(p)
                                                     for p in o.platform)
        for plat in self.platforms:
            if o.mode not in (None, RANDOM):
                plat.mode(o.mode)  # raises ProfileError naming the profile and the known modes
        self.arrivals = parse_arrival(o.arrival, o.requests)
        a = self.arrivals
        if isinstance(a, ClosedLoop) and a.concurrency is not None and a.n_requests > a.concurrency:
            if max(o.batch) > a.concurrency:
                raise SimulationError(
                    f"env options 'arrival' = {o.arrival!r} and 'batch' = {list(o.batch)}: a closed loop of "
                    f"{a.concurrency} client(s) can never fill a batch of {max(o.batch)}")
        if o.background == "off":
            bg = None
        elif o.background == "fixed":
            bg = BackgroundLoad(levels=(o.background_level,), mean_hold_s=_FIXED_HOLD_S, initial=0)
        else:
            bg = BackgroundLoad()
        self._bg = bg
        #: Per (mode, batch): the episode's SimConfig and Batching (frozen values: drawn once, shared).
        self._drawn_configs: dict[tuple[str, int], tuple[SimConfig, Batching]] = {}
        self.cache = _TABLES if self.shared else PredictionCache()
        self._sims: OrderedDict[tuple[Any, ...], Simulator] = OrderedDict()
        self._max_sims = max_sims
        # bounded by the options: named workloads × platforms × modes × batch sizes
        self._features: dict[tuple[Any, ...], OperatorFeatures] = _FEATURES if self.shared else {}
        self.scenarios = tuple(load_scenario(n) for n in o.scenario or ())
        self._inputs = tuple(engine_inputs(sc, None if sc.primary != StreamSpec() else o.requests)
                             for sc in self.scenarios)
        self.seed_matters = (not o.reference and (o.noise or o.background == RANDOM)) or isinstance(
            self.arrivals, Poisson) or any(sc.stochastic for sc in self.scenarios)
        self._config_key = (o.reference, o.noise, o.background, o.background_level, o.precision, o.arrival,
                            o.requests, o.scenario)

    # ------------------------------------------------------------------------------------
    def draw(self, rng: np.random.Generator) -> Episode:
        """The next episode, drawn from ``rng`` in a fixed order."""
        o = self.options
        w = o.workloads[int(rng.integers(len(o.workloads)))] if len(o.workloads) > 1 else o.workloads[0]
        if w == SYNTHETIC:
            gseed = int(rng.integers(_SEED_HIGH))
            graph = generate(gseed, target_ops=o.synthetic_ops)
            key: tuple[Any, ...] = (SYNTHETIC, gseed, o.synthetic_ops)
            cache = PredictionCache()  # a fresh graph per episode: keep no tables of it
        else:
            graph = self.graphs[w]
            key = ("workload", w)
            cache = self.cache
        pi = int(rng.integers(len(self.platforms))) if len(self.platforms) > 1 else 0
        plat = self.platforms[pi]
        names = plat.mode_names
        if o.mode == RANDOM:
            mode = names[int(rng.integers(len(names)))]
        else:
            mode = plat.mode(o.mode).name
        batch = o.batch[int(rng.integers(len(o.batch)))] if len(o.batch) > 1 else o.batch[0]
        seed = int(rng.integers(_SEED_HIGH))
        si = (int(rng.integers(len(self.scenarios))) if len(self.scenarios) > 1 else 0) if self.scenarios else None
        hit = self._drawn_configs.get((mode, batch))
        if hit is None:
            hit = self._drawn_configs[(mode, batch)] = (
                SimConfig(mode=mode, precision=o.precision, reference=o.reference, noise=o.noise,
                          background=self._bg, record_trace=self.record_trace), Batching.fixed(batch))
        config, batching = hit
        arrivals, extra = self.arrivals, {}
        if si is not None:
            sc, inp = self.scenarios[si], self._inputs[si]
            config = config.replace(background=inp.background)
            extra = {"coruns": inp.coruns, "deadline_s": inp.deadline_s}
            if sc.primary != StreamSpec():
                arrivals, batching = inp.arrivals, inp.batching
        return Episode(graph=graph, graph_key=key, platform=plat, platform_index=pi, mode=mode,
                       mode_index=names.index(mode), n_modes=len(names), batch=batch, seed=seed, config=config,
                       arrivals=arrivals, batching=batching, cache=cache, scenario_index=si, sim_kwargs=extra)

    def scenario_name(self, ep: Episode) -> str | None:
        """The name of ``ep``'s scenario (None without one)."""
        return None if ep.scenario_index is None else self.scenarios[ep.scenario_index].name

    def simulator(self, ep: Episode, policy: str = "external") -> Simulator:
        """A simulator of ``ep`` under ``policy`` (kept across episodes; synthetic ones are not)."""
        key = (ep.graph_key, ep.platform_index, ep.mode, ep.batch, policy, ep.scenario_index)
        sims = self._sims
        sim = sims.get(key)
        if sim is not None and sim.graph is ep.graph:
            sims.move_to_end(key)
            return sim
        config = ep.config if policy == "external" else ep.config.replace(record_trace=False)
        sim = Simulator(ep.graph, ep.platform, policy, arrivals=ep.arrivals, batching=ep.batching, config=config,
                        seed=ep.seed, cache=ep.cache, **ep.sim_kwargs)
        if ep.graph_key[0] != SYNTHETIC:
            sims[key] = sim
            if len(sims) > self._max_sims:
                sims.popitem(last=False)
        return sim

    def features(self, ep: Episode, sim: Simulator) -> Callable[[int], OperatorFeatures]:
        """Per-batch operator features of ``ep`` for the observation (kept across episodes)."""
        if ep.graph_key[0] == SYNTHETIC:  # this episode's graph only: kept for the episode
            prefix: tuple[Any, ...] = ()
            store: dict[tuple[Any, ...], OperatorFeatures] = {}
        else:  # by value: graph, platform, mode, precision and where a request's input lives (shared store)
            prefix = (ep.graph_key, ep.platform.name, ep.mode, ep.config.precision, sim.config.host_io)
            store = self._features

        def get(batch: int) -> OperatorFeatures:
            key = (*prefix, batch)
            f = store.get(key)
            if f is None:
                f = operator_features(sim, batch)
                store[key] = f
            return f

        return get

    def reference(self, ep: Episode, policy: str = "gpu") -> Reference:
        """Mean latency and energy per inference of ``ep`` with every operator on one device."""
        return REFERENCES.get(*self._reference_lookup(ep, policy))

    def prefetch_reference(self, ep: Episode, policy: str) -> None:
        """Compute :meth:`reference` of ``ep`` ahead of its lookup (the same figures whenever computed)."""
        REFERENCES.prefetch(*self._reference_lookup(ep, policy))

    def _reference_lookup(self, ep: Episode, policy: str) -> tuple[tuple[Any, ...], Callable[[], Reference]]:
        """The cache key of ``ep``'s single-device figures on ``policy``'s device and how to compute them."""
        key = (ep.graph_key, self.options.platform[ep.platform_index], ep.mode, ep.batch,
               ep.seed if self.seed_matters else None, self._config_key, policy, ep.scenario_index)

        def compute() -> Reference:
            sim = self.simulator(ep, policy)
            fast = single_device_figures(sim, policy, ep.seed)  # no event queue for one request
            if fast is not None:
                return Reference(*fast)
            res = sim.run(ep.seed)
            return Reference(res.latency_mean_s, res.energy_per_inference_j)

        return key, compute
