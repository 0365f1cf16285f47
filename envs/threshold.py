"""``SparOAThreshold-v0``: choose the threshold rule's two thresholds, one step per episode.

Observation (layout ``THRESHOLD_OBS_VERSION`` = 1, names in ``THRESHOLD_OBS_LAYOUT``): a
summary of the episode's workload and its hardware context, every feature in [0, 1] or
[−1, 1]:

====  ========================  =============================================================
 0    log_n_ops                 log10(operators) / 4
 1    log_flops                 log10(1 + batch · total FLOPs) / 13
 2    log_bytes                 log10(1 + batch · activation bytes + weight bytes) / 12
 3–16 flops_<kind>              share of the FLOPs in each kind (conv … other)
 17–21 act_sparsity_bin<k>      fraction of operators with activation sparsity in bin k of 5
 22–26 intensity_q<p>           10/25/50/75/90 % quantiles of the intensity axis, on the
                                action's log scale
 27   splittable                fraction of operators with a split axis
 28   w_sparsity_mean           mean weight sparsity
 29   act_sparsity_flops        FLOP-weighted mean activation sparsity
 30   power_mode                index of the power mode / (number of modes − 1)
 31   peak_ratio                clip(log10(CPU peak / GPU peak FLOP/s) / 3, −1, 1)
 32   bw_ratio                  clip(log10(CPU / GPU memory bandwidth) / 2, −1, 1)
 33   lat_ratio                 clip(log10(Σ CPU / Σ GPU idle operator latency) / 4, −1, 1)
 34   log_t_ref                 clip((log10(T_ref / s) + 5) / 6, 0, 1)
 35   background                mean background share (0 off, the level if fixed)
 36   batch_fill                batch / largest batch option
====  ========================  =============================================================

Action: ``Box(-1, 1, (2,))``: ``τ_s = (a0 + 1)/2``; ``τ_I = 10 ** (lo + (a1 + 1)/2 · (hi − lo))``
with ``(lo, hi) = (−2, 3)`` FLOP/byte for ``intensity="flop_per_byte"`` and ``(2, 11)`` FLOPs for
``intensity="flops"``. Reward: ``−latency(threshold rule)/T_ref`` of the same episode (same
seed as the GPU-only reference); ``info`` carries the thresholds, latency, energy, speed-ups and
the placement.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels.kinds import KINDS
from sparoa_sim.sim.hwstate import BackgroundLoad
from sparoa_sim.sim.policies import ThresholdPolicy
from sparoa_sim.sim.thresholds import INTENSITY_RANGES, from_action
from sparoa_sim.envs.actions import InvalidActionError
from sparoa_sim.envs.episode import Episode, EpisodeFactory
from sparoa_sim.envs.options import EnvOptions
from sparoa_sim.envs.scheduling import (
    captured_state,
    check_render_mode,
    rebuild_from_state,
    reset_options_unsupported,
    restore_rng,
)

__all__ = ["INTENSITY_RANGES", "THRESHOLD_OBS_LAYOUT", "THRESHOLD_OBS_VERSION", "SparOAThresholdEnv",
           "thresholds_from_action"]

THRESHOLD_OBS_VERSION = 1
THRESHOLD_OBS_LAYOUT: tuple[str, ...] = (
    "log_n_ops", "log_flops", "log_bytes", *(f"flops_{k.value}" for k in KINDS),
    *(f"act_sparsity_bin{k}" for k in range(5)), *(f"intensity_q{p}" for p in (10, 25, 50, 75, 90)),
    "splittable", "w_sparsity_mean", "act_sparsity_flops", "power_mode", "peak_ratio", "bw_ratio", "lat_ratio",
    "log_t_ref", "background", "batch_fill",
)
_SIGNED = ("peak_ratio", "bw_ratio", "lat_ratio")
_SPARSITY = ("act", "weight", "max")


def thresholds_from_action(action: Any, intensity: str = "flop_per_byte") -> tuple[float, float]:
    """(τ_s, τ_I) of a ``Box(-1, 1, (2,))`` action (:func:`sparoa_sim.sim.thresholds.from_action`);
    malformed actions raise InvalidActionError."""
    try:
        return from_action(action, intensity)
    except SimulationError as exc:
        raise InvalidActionError(str(exc)) from None


class SparOAThresholdEnv(gym.Env):
    """One step per episode: act with the two thresholds, get −latency/T_ref (see module doc)."""

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(self, render_mode: str | None = None, sparsity: str = "act", intensity: str = "flop_per_byte",
                 **options: Any) -> None:
        check_render_mode(render_mode, self.metadata["render_modes"])
        if sparsity not in _SPARSITY:
            raise SimulationError(f"env option 'sparsity' = {sparsity!r}: expected one of {', '.join(_SPARSITY)}")
        if intensity not in INTENSITY_RANGES:
            raise SimulationError(f"env option 'intensity' = {intensity!r}: expected one of "
                                  f"{', '.join(INTENSITY_RANGES)}")
        if "action_mode" in options:
            raise SimulationError(f"env option 'action_mode' = {options['action_mode']!r} does not apply to "
                                  "SparOAThreshold-v0: its action is always two thresholds, Box(-1, 1, (2,))")
        self._kwargs = dict(options, sparsity=sparsity, intensity=intensity)
        self.options = EnvOptions.from_kwargs(**options)
        self.sparsity = sparsity
        self.intensity = intensity
        self.render_mode = render_mode
        self._factory = EpisodeFactory(self.options)
        self.layout = THRESHOLD_OBS_LAYOUT
        low = np.array([-1.0 if n in _SIGNED else 0.0 for n in THRESHOLD_OBS_LAYOUT], dtype=np.float32)
        self.observation_space = spaces.Box(low, np.ones(len(low), dtype=np.float32), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        self._ep: Episode | None = None
        self._t_ref = math.nan
        self._last: dict[str, Any] | None = None
        self._start_state: dict[str, Any] | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Draw the next episode and observe its workload and hardware context."""
        reset_options_unsupported(options)
        super().reset(seed=seed)
        self._start_state = self.np_random.bit_generator.state
        return self._begin()

    def _begin(self):
        ep = self._factory.draw(self.np_random)
        self._ep = ep
        self._t_ref = self._factory.reference(ep, "gpu").latency_mean_s
        self._last = None
        info = {"workload": ep.graph.name, "platform": ep.platform.name, "mode": ep.mode, "batch": ep.batch,
                "seed": ep.seed, "t_ref_s": self._t_ref}
        return self._summary(ep), info

    def step(self, action: Any):
        """Simulate the threshold rule with the chosen thresholds; the episode ends."""
        ep = self._ep
        if ep is None:
            raise SimulationError("step: call reset() first (one step per episode)")
        tau_s, tau_i = thresholds_from_action(action, self.intensity)
        policy = ThresholdPolicy(tau_s=tau_s, tau_i=tau_i, sparsity=self.sparsity, intensity=self.intensity)
        sim = Simulator(ep.graph, ep.platform, policy, arrivals=ep.arrivals, batching=ep.batching,
                        config=ep.config.replace(record_trace=False), seed=ep.seed, cache=ep.cache)
        res = sim.run()
        cpu = self._factory.reference(ep, "cpu")
        lat = res.latency_mean_s
        reward = -lat / self._t_ref
        info = {"workload": ep.graph.name, "platform": ep.platform.name, "mode": ep.mode, "batch": ep.batch,
                "seed": ep.seed, "tau_s": tau_s,
                "tau_i": tau_i, "latency_mean_s": lat, "energy_per_inference_j": res.energy_per_inference_j,
                "t_ref_s": self._t_ref, "cpu_latency_mean_s": cpu.latency_mean_s,
                "speedup_vs_gpu": self._t_ref / lat, "speedup_vs_cpu": cpu.latency_mean_s / lat,
                "placement": list(res.placement), "cpu_ops": int(sum(1 for s in res.placement if s == 0.0))}
        self._last = info
        obs = self._summary(ep)
        self._ep = None
        return obs, float(reward), True, False, info

    def render(self):
        """``ansi``: the last step's thresholds and outcome."""
        if self.render_mode is None:
            return None
        if self._last is None:
            return "no step taken yet\n"
        i = self._last
        return (f"{i['workload']} on {i['platform']} ({i['mode']}): tau_s = {i['tau_s']:.3f}, "
                f"tau_i = {i['tau_i']:.4g} ({self.intensity}) -> {i['cpu_ops']} ops on the CPU, latency "
                f"{i['latency_mean_s'] * 1e3:.3f} ms ({i['speedup_vs_gpu']:.3f}x GPU-only)\n")

    # ------------------------------------------------------------------------------------
    # pickling: options and the random state at the start of the pending episode

    def __getstate__(self) -> dict[str, Any]:
        return {**captured_state(self, self._ep is not None), "last": self._last}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if rebuild_from_state(self, state):
            self._begin()
        restore_rng(self, state)
        self._last = state.get("last")

    # ------------------------------------------------------------------------------------
    def _summary(self, ep: Episode) -> np.ndarray:
        g = ep.graph
        a = g.arrays
        b = ep.batch
        n = len(g)
        flops = a.flops
        total = float(flops.sum())
        out: list[float] = [math.log10(n) / 4.0, math.log10(1.0 + b * total) / 13.0,
                            math.log10(1.0 + b * float((a.bytes_in + a.bytes_out).sum()) + float(a.bytes_w.sum())) / 12.0]
        share = np.bincount(np.asarray(a.kind, dtype=np.int64), weights=flops, minlength=len(KINDS))
        out += (share / total if total > 0 else share).tolist()
        hist, _ = np.histogram(a.act_sparsity, bins=5, range=(0.0, 1.0))
        out += (hist / n).tolist()
        _, inten = ThresholdPolicy.features(g, self.sparsity, self.intensity)
        lo, hi = INTENSITY_RANGES[self.intensity]
        q = np.percentile(np.log10(np.maximum(inten, 10.0 ** lo)), [10, 25, 50, 75, 90])
        out += ((q - lo) / (hi - lo)).tolist()
        out += [float(a.splittable.mean()), float(a.w_sparsity.mean()),
                float((a.act_sparsity * flops).sum() / total) if total > 0 else 0.0]
        plat, mode, prec = ep.platform, ep.mode, self.options.precision
        out.append(ep.mode_index / (ep.n_modes - 1) if ep.n_modes > 1 else 0.0)
        out.append(math.log10(plat.peak_flops("cpu", mode, prec) / plat.peak_flops("gpu", mode, prec)) / 3.0)
        out.append(math.log10(plat.mem_bw("cpu", mode) / plat.mem_bw("gpu", mode)) / 2.0)
        t = ep.cache.tables(g, plat, b, mode, prec)
        out.append(math.log10(max(sum(t.lat[0]), 1e-30) / max(sum(t.lat[1]), 1e-30)) / 4.0)
        out.append((math.log10(self._t_ref) + 5.0) / 6.0)
        bg = ep.config.background_on
        out.append(float(np.mean(bg.levels)) if isinstance(bg, BackgroundLoad) else 0.0)
        out.append(b / max(self.options.batch))
        obs = np.asarray(out, dtype=np.float32)
        return np.clip(obs, self.observation_space.low, self.observation_space.high)
