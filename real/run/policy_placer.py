"""A trained SB3 scheduler placing operators on real hardware, fed the live hardware state (docs/architecture.md §7).

The simplest honest design: a twin :class:`~sparoa_sim.sim.simulator.Simulator` of the batch about to
run is stepped alongside — it proposes the next ready operator and everything the observation
needs (operator features, backlogs, input residency, progress), built by the env's own
:class:`~sparoa_sim.envs.observation.ObservationBuilder` — while the *load* features come from
the live machine (:class:`LiveLoad`: other tenants' CPU share from psutil, GPU utilisation from
NVML where present). The policy decides each operator; the decisions (GPU shares, and the
order the twin released the operators in) become the :class:`~sparoa_sim.sim.policies.StaticSchedule`
the executor runs. With the live load at zero this reproduces the policy's rollout in
``SparOA-v0`` exactly.

SB3 zips are pickles: load policies from trusted directories only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sparoa_sim.sim.arrivals import Batching, ClosedLoop
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.errors import PolicyError
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.hwmodels import Platform, load_platform
from sparoa_sim.sim.hwstate import BackgroundLoad
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.sim.config import SimConfig

__all__ = ["LiveLoad", "SB3Placer"]

_MAX_LEVEL = 0.95  # a background share must stay below 1 (BackgroundLoad's rule)


class LiveLoad:
    """Background load as the scheduler sees it: (CPU share taken by *other* processes, GPU share).

    CPU: busy time of the whole machine minus this process's own CPU time since the previous
    sample, over the wall time × logical CPUs (psutil; 0 with source "none" where psutil is
    missing). GPU: NVML utilisation where ``pynvml`` and a CUDA device exist (it includes this
    process's own kernels), else 0 with source "none" (e.g. on a host without a GPU).
    """

    def __init__(self) -> None:
        self.cpu_source = "none"
        self.gpu_source = "none"
        self._ps: Any = None
        self._nvml: Any = None
        try:
            import psutil

            self._ps = psutil
            self._proc = psutil.Process()
            self._ncpu = psutil.cpu_count() or 1
            self.cpu_source = "psutil"
            self._last = self._counters()
        except ImportError:
            pass
        try:
            import torch

            if torch.cuda.is_available():
                import pynvml  # type: ignore[import-not-found]

                pynvml.nvmlInit()
                self._gpu = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
                self._nvml = pynvml
                self.gpu_source = "nvml"
        except Exception:  # noqa: BLE001 - no pynvml, no driver: the GPU load is reported absent
            self._nvml = None

    def _counters(self) -> tuple[float, float, float]:
        t = self._ps.cpu_times()
        busy = sum(getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal"))
        own = self._proc.cpu_times()
        return time.monotonic(), busy, own.user + own.system

    def sample(self) -> tuple[float, float]:
        """(CPU, GPU) background shares in [0, 1] since the previous sample."""
        cpu = gpu = 0.0
        if self._ps is not None:
            now = self._counters()
            dt = (now[0] - self._last[0]) * self._ncpu
            if dt > 0:
                cpu = min(max((now[1] - self._last[1] - (now[2] - self._last[2])) / dt, 0.0), 1.0)
            self._last = now
        if self._nvml is not None:
            gpu = min(max(self._nvml.nvmlDeviceGetUtilizationRates(self._gpu).gpu / 100.0, 0.0), 1.0)
        return cpu, gpu

    def describe(self) -> dict[str, str]:
        return {"cpu": self.cpu_source, "gpu": self.gpu_source}


@dataclass
class SB3Placer:
    """Per-batch placements from a training directory (``policy.zip`` + ``metadata.json``).

    ``graph``: the operators the executor runs; ``platform``/``mode``: the twin (default: the
    training's); ``load``: a callable returning the (CPU, GPU) background shares (default
    :class:`LiveLoad`). :meth:`place` returns the schedule of one batch; ``decisions`` and
    ``decide_s`` count the policy queries and the time they took.
    """

    directory: str | os.PathLike[str]
    graph: OpGraph
    platform: Platform | str | None = None
    mode: str | None = None
    load: Callable[[], tuple[float, float]] | None = None
    decisions: int = 0
    decide_s: float = 0.0
    last_load: tuple[float, float] = (0.0, 0.0)
    _refs: dict[int, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from sparoa_sim.agents.learn.scheduler import load_scheduler
        from sparoa_sim.envs.observation import observation_layout
        from sparoa_sim.envs.options import EnvOptions

        self.model, self.meta = load_scheduler(self.directory)
        try:
            self.options = EnvOptions.from_kwargs(**self.meta.get("env_kwargs", {}))
        except Exception as exc:  # noqa: BLE001 - a metadata file from another version
            raise PolicyError(f"{Path(self.directory) / 'metadata.json'}: bad 'env_kwargs': {exc}") from None
        plat = self.platform if self.platform is not None else self.meta.get("platform")
        self.platform = plat if isinstance(plat, Platform) else load_platform(plat)
        self.mode = self.platform.mode(self.mode if self.mode is not None else self.meta.get("mode")).name
        self.discrete = self.options.action_mode == "discrete"
        self.maskable = type(self.model).__name__ == "MaskablePPO"
        want = self.model.observation_space.shape
        have = (len(observation_layout(self.options.thresholds is not None)),)
        if want != have:
            raise PolicyError(f"{self.directory}: the policy observes shape {want}, layout 1 gives {have}")
        if self.load is None:
            live = LiveLoad()
            self.load = live.sample
            self.load_sources = live.describe()
        else:
            self.load_sources = {"cpu": "given", "gpu": "given"}

    def _config(self, load: tuple[float, float]) -> SimConfig:
        if self.options.reference:
            return SimConfig(mode=self.mode, precision=self.options.precision, reference=True, record_trace=False)
        cpu = min(load[0], _MAX_LEVEL)  # the twin's background: the live CPU share, held for the batch
        bg = BackgroundLoad(levels=(cpu,), mean_hold_s=1e6, initial=0, devices=("cpu",)) if cpu > 0 else None
        return SimConfig(mode=self.mode, precision=self.options.precision, noise=False, background=bg,
                         record_trace=False)

    def _sim(self, policy: Any, batch: int, config: SimConfig) -> Simulator:
        return Simulator(self.graph, self.platform, policy, arrivals=ClosedLoop(batch),
                         batching=Batching.fixed(batch), config=config, seed=0)

    def _reference(self, batch: int, config: SimConfig) -> tuple[float, float]:
        """GPU-only latency and energy per inference of the batch (the env's T_ref, E_ref)."""
        key = batch if self.options.reference else (batch, config.background)
        hit = self._refs.get(key)
        if hit is None:
            res = self._sim("gpu", batch, config).run()
            if len(self._refs) >= 256:  # live loads rarely repeat exactly: keep the cache bounded
                self._refs.clear()
            hit = self._refs[key] = (res.latency_mean_s, res.energy_per_inference_j)
        return hit

    def place(self, batch: int = 1) -> StaticSchedule:
        """Query the policy for every operator of a ``batch``-sized pass under the live load."""
        from sparoa_sim.envs.actions import continuous_share, discrete_device
        from sparoa_sim.envs.observation import ObservationBuilder

        t0 = time.perf_counter()
        load = self.load()
        self.last_load = load
        config = self._config(load)
        t_ref, e_ref = self._reference(batch, config)
        sim = self._sim("external", batch, config)
        names = self.platform.mode_names
        builder = ObservationBuilder(sim, t_ref, e_ref, names.index(self.mode), len(names), max(self.options.batch),
                                     self.options.thresholds)
        shares = [0.0] * len(self.graph)
        order: dict[str, list[int]] = {"cpu": [], "gpu": []}
        view = sim.start()
        while view is not None:
            obs = builder.build(view, *load)
            kw = {}
            if self.maskable:
                mask = builder.finite(view.batch)[view.op].copy()
                kw["action_masks"] = mask if mask.any() else np.ones(2, dtype=bool)
            action, _ = self.model.predict(obs, deterministic=True, **kw)
            if self.discrete:
                share = float(discrete_device(np.asarray(action).reshape(-1).astype(np.int64)))
            else:
                share = continuous_share(np.asarray(action, dtype=np.float64).reshape(-1), view.splittable,
                                         self.options.dead_zone, self.options.split_levels)
            op = int(view.op)
            shares[op] = share
            if share < 1.0:
                order["cpu"].append(op)
            if share > 0.0:
                order["gpu"].append(op)
            self.decisions += 1
            view = sim.submit(share)
        self.decide_s += time.perf_counter() - t0
        return StaticSchedule(shares, order=order, workload=self.graph.name, source=str(self.directory))
