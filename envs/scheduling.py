"""``SparOA-v0``: one placement decision per ready operator, driven by the SimPy engine (docs/architecture.md §5).

An episode is one inference (or a short request stream, ``requests``) of a workload drawn from
the options, on a platform in a power mode, with background load — all drawn per reset from
the env's ``np_random``. Between two steps the simulation runs to the next decision point; the
env terminates itself when every request has completed (at most ``n_ops × requests`` steps;
nothing ever truncates it).

Reward per step, with N requests, ``Δt`` the time since the previous decision and ``ΔE`` the
energy spent meanwhile: ``−(n_in_system · Δt)/(N · T_ref) − λ · ΔE/(N · E_ref)``, so the
undiscounted return is exactly ``−(mean latency/T_ref + λ · energy per inference/E_ref)``
(``info["objective"]`` at the end, negated). ``T_ref`` and ``E_ref`` are the GPU-only figures
of the same episode (same seed: common random numbers); a return of −0.8 at λ = 0 means 20 %
faster than GPU-only. Train with γ = 1.

Observation: see :mod:`sparoa_sim.envs.observation` (``env.layout`` lists the feature names).
Actions: see :mod:`sparoa_sim.envs.actions`; a malformed action raises
:class:`~sparoa_sim.envs.actions.InvalidActionError` (a ``ValueError``) and changes nothing.

Pickling (docs/architecture.md §5): SimPy processes cannot be pickled, so a live env pickles as its options,
the random state at the start of the episode and the actions so far, and is rebuilt by replaying
them; it then continues exactly as the original would.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sparoa_sim.errors import SimulationError
from sparoa_sim.envs.actions import InvalidActionError, continuous_share, discrete_device
from sparoa_sim.envs.episode import Episode, EpisodeFactory
from sparoa_sim.envs.observation import (
    OBS_LAYOUT_VERSION,
    ObservationBuilder,
    logt,
    observation_bounds,
    observation_layout,
)
from sparoa_sim.envs.options import EnvOptions
from sparoa_sim.envs.render import ansi_gantt, rgb_gantt

__all__ = ["SparOAEnv"]

_INT64 = np.int64  # what Discrete.sample() returns
_REQUESTS_DONE = observation_layout().index("requests_done")
_TIME = observation_layout().index("time")
_ENERGY = observation_layout().index("energy")


def check_render_mode(render_mode: str | None, modes: list[str]) -> None:
    """Raise a clear error for a render mode the env does not offer."""
    if render_mode is not None and render_mode not in modes:
        raise SimulationError(f"env option 'render_mode' = {render_mode!r}: expected None or one of {modes}")


def reset_options_unsupported(options: dict[str, Any] | None) -> None:
    """Per-reset options are not supported (episodes are configured in the constructor)."""
    if options:
        raise SimulationError(f"reset(options=...): per-reset options {sorted(options)} are not supported; "
                              "pass them to the constructor (gym.make('SparOA-v0', ...))")


def _rng_state(rng: np.random.Generator | None) -> dict[str, Any] | None:
    return None if rng is None else rng.bit_generator.state


def _rng_from(state: dict[str, Any]) -> np.random.Generator:
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    return rng


def captured_state(env: gym.Env, in_episode: bool) -> dict[str, Any]:
    """What both environments pickle: options, the random state at the start of the pending
    episode and now, and the spaces' own generators (``action_space.seed`` survives a copy)."""
    return {"kwargs": env._kwargs, "render_mode": env.render_mode, "spec": env.spec,
            "np_random_seed": env._np_random_seed, "start_state": env._start_state,
            "now_state": _rng_state(env._np_random), "in_episode": in_episode,
            "space_states": tuple(_rng_state(sp._np_random) for sp in (env.action_space, env.observation_space))}


def rebuild_from_state(env: gym.Env, state: dict[str, Any]) -> bool:
    """Re-run ``env.__init__`` from a pickled state and restore the random generator as it was at
    the start of the pickled episode; True when an episode was under way (to be replayed). Call
    :func:`restore_rng` after the replay."""
    env.__init__(render_mode=state["render_mode"], **state["kwargs"])
    env.spec = state["spec"]
    for sp, st in zip((env.action_space, env.observation_space), state.get("space_states", (None, None))):
        if st is not None:
            sp._np_random = _rng_from(st)
    if state["start_state"] is None:
        return False
    env._np_random = _rng_from(state["start_state"])
    env._np_random_seed = state["np_random_seed"]
    env._start_state = state["start_state"]
    return bool(state["in_episode"])


def restore_rng(env: gym.Env, state: dict[str, Any]) -> None:
    """The generator as it was when pickled (after a finished episode, the next reset goes on
    from there instead of drawing that episode again)."""
    if state.get("now_state") is not None:
        env._np_random = _rng_from(state["now_state"])


class SparOAEnv(gym.Env):
    """Per-operator CPU/GPU placement of DNN inference on a simulated Jetson (see module doc)."""

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None, **options: Any) -> None:
        check_render_mode(render_mode, self.metadata["render_modes"])
        self._kwargs = dict(options)
        self.options = EnvOptions.from_kwargs(**options)
        self.render_mode = render_mode
        self._factory = EpisodeFactory(self.options, record_trace=render_mode is not None)
        thresholds = self.options.thresholds is not None
        #: Feature names of the observation, in order (layout version ``OBS_LAYOUT_VERSION``).
        self.layout = observation_layout(thresholds)
        self.layout_version = OBS_LAYOUT_VERSION
        low, high = observation_bounds(thresholds)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        if self.options.action_mode == "discrete":
            self.action_space = spaces.Discrete(2)
        else:
            self.action_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self._discrete = self.options.action_mode == "discrete"
        self._lam = self.options.lam
        # the loads are observed as they are (no delay, no noise): read them without the options
        self._plain_loads = not (self.options.obs_delay_s > 0.0 or self.options.obs_noise > 0.0)
        self._ep: Episode | None = None
        self._sim = None
        self._view = None
        self._builder: ObservationBuilder | None = None
        self._actions: list[int | float] = []
        self._start_state: dict[str, Any] | None = None
        self._last_obs: np.ndarray | None = None
        self.max_decisions = 0

    # ------------------------------------------------------------------------------------
    # Gymnasium API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Draw the next episode and run the simulation to its first decision."""
        reset_options_unsupported(options)
        super().reset(seed=seed)
        self._start_state = self.np_random.bit_generator.state
        return self._begin()

    def step(self, action: Any):
        """Place the pending operator (``action``) and run to the next decision or the end."""
        view = self._view
        if view is None:
            raise SimulationError("step: no decision is pending — call reset() first (or again, after the end)")
        if self._discrete:
            t = type(action)
            d = int(action) if t is _INT64 or t is int else -1  # the common case, checked fast
            if d != 0 and d != 1:
                d = discrete_device(action)  # anything else: checked in full (raises if invalid)
            if not self._all_finite and not self._builder.finite(view.batch)[view.op, d]:
                raise InvalidActionError(f"action: {('CPU', 'GPU')[d]} is masked off for operator {view.op} "
                                         f"({view.name!r}); see action_masks()")
            share = d  # 0 or 1: the engine reads an int as that share
            self._actions.append(d)
        else:
            share = continuous_share(action, view.splittable, self.options.dead_zone, self.options.split_levels)
            self._actions.append(float(np.asarray(action, dtype=np.float64).reshape(-1)[0]))
        sim = self._sim
        view = sim.submit(share)
        prog = sim.progress()  # (now, time in system, energy, ...): read once for the reward and the observation
        tis = prog[1]
        reward = -(tis - self._prev_tis) * self._k_t
        self._prev_tis = tis
        if self._lam:
            e = prog[2]
            reward -= self._lam * (e - self._prev_e) * self._k_e
            self._prev_e = e
        self._view = view
        if view is None:
            obs = self._terminal_observation()
            return obs, reward, True, False, self._final_info()
        if self._plain_loads:  # as _observe, written out (the builder reads the loads in force itself)
            obs = self._last_obs = self._builder.build(view, None, None, prog)
        else:
            lc, lg = self._observed_loads(view)
            obs = self._last_obs = self._builder.build(view, lc, lg, prog)
        return obs, reward, False, False, {}

    def action_masks(self) -> np.ndarray:
        """Valid actions of the pending operator ([CPU, GPU]); a device is masked off only where
        the twin cannot run the operator there (non-finite predicted latency)."""
        view = self._view
        if view is None:
            if self._start_state is None:
                raise SimulationError("action_masks() before reset(): call reset() first")
            return np.ones(2, dtype=bool)
        return self._mask_of(view)

    @property
    def pending_op(self) -> int | None:
        """Index of the operator the next action places (None when no decision is pending)."""
        return None if self._view is None else int(self._view.op)

    def render(self):
        """``ansi``: a text Gantt of the episode so far; ``rgb_array``: the Gantt image."""
        if self.render_mode is None or self._sim is None:
            return None
        trace = self._sim.trace()
        ep = self._ep
        if self.render_mode == "ansi":
            header = (f"{ep.graph.name} on {ep.platform.name} ({ep.mode}), batch {ep.batch}: "
                      f"{len(self._actions)} decisions, t = {self._sim.now * 1e3:.3f} ms")
            return ansi_gantt(trace, self._sim.now, header=header)
        return rgb_gantt(trace)

    def close(self) -> None:
        self._sim = None
        self._view = None
        super().close()

    # ------------------------------------------------------------------------------------
    # episode mechanics

    def _begin(self):
        ep = self._factory.draw(self.np_random)
        ref = self._factory.reference(ep, "gpu")
        # the CPU-only figures of the final info, computed now, while the single-device walk that just gave the
        # GPU-only ones is warm (the same values whenever computed: a pure function of the episode)
        self._factory.prefetch_reference(ep, "cpu")
        sim = self._factory.simulator(ep, "external")
        view = sim.start(ep.seed)
        if view is None:  # pragma: no cover - every graph has at least one operator
            raise SimulationError(f"workload {ep.graph.name!r}: no decision to take")
        self._ep = ep
        self._sim = sim
        self._view = view
        self._actions = []
        n = sim.n_requests
        self._t_ref = ref.latency_mean_s
        self._e_ref = ref.energy_per_inference_j
        self._k_t = 1.0 / (n * self._t_ref)
        self._k_e = 1.0 / (n * self._e_ref) if self._e_ref > 0 else 0.0
        self._prev_tis = 0.0
        self._prev_e = 0.0
        self.max_decisions = len(ep.graph) * n
        features = self._factory.features(ep, sim)
        self._builder = ObservationBuilder(sim, self._t_ref, self._e_ref, ep.mode_index, ep.n_modes,
                                           max(self.options.batch), self.options.thresholds, features)
        self._all_finite = all(features(b).all_finite for b in self.options.batch)
        info = {"workload": ep.graph.name, "platform": ep.platform.name, "mode": ep.mode, "batch": ep.batch,
                "scenario": self._factory.scenario_name(ep), "seed": ep.seed, "n_ops": len(ep.graph), "t_ref_s": self._t_ref, "e_ref_j": self._e_ref,
                "max_decisions": self.max_decisions}
        return self._observe(view), info

    def _mask_of(self, view) -> np.ndarray:
        mask = self._builder.finite(view.batch)[view.op].copy()
        if not mask.any():  # pragma: no cover - the twin always predicts finite latency somewhere
            mask[:] = True
        return mask

    def _observed_loads(self, view) -> tuple[float, float]:
        o = self.options
        if o.obs_delay_s > 0.0:
            when = max(view.now - o.obs_delay_s, 0.0)  # before t = 0 the levels were those set at t = 0
            lc = lg = 0.0
            for t, dev, level in self._sim.load_history():
                if t > when:
                    break
                if dev == "cpu":
                    lc = level
                else:
                    lg = level
        else:
            lc, lg = view.load
        if o.obs_noise > 0.0:
            z = self.np_random.normal(0.0, o.obs_noise, 2)
            lc = min(max(lc + float(z[0]), 0.0), 1.0)
            lg = min(max(lg + float(z[1]), 0.0), 1.0)
        return lc, lg

    def _observe(self, view) -> np.ndarray:
        if self._plain_loads:
            lc, lg = view.load
        else:
            lc, lg = self._observed_loads(view)
        obs = self._builder.build(view, lc, lg)
        self._last_obs = obs
        return obs

    def _terminal_observation(self) -> np.ndarray:
        """After the last request: the threshold features, progress complete, time and energy."""
        b = self._builder
        obs = np.zeros(b.n, dtype=np.float32)
        if self.options.thresholds is not None:
            obs[-2:] = b.buf[-2:]
        obs[_REQUESTS_DONE] = 1.0
        obs[_TIME] = logt(self._sim.now * b.inv_t)
        obs[_ENERGY] = logt(self._sim.energy_so_far * b.inv_e)
        return obs

    def _final_info(self) -> dict[str, Any]:
        ep = self._ep
        figures = self._sim.one_request_figures()  # one request: the figures without the Results
        if figures is None:
            res = self._sim.results()
            figures = (res.latency_mean_s, res.latency_p95_s, res.energy_per_inference_j, res.decisions, res.placement)
        lat, p95, e, decisions, placement = figures
        cpu = self._factory.reference(ep, "cpu")
        objective = lat / self._t_ref + (self._lam * e / self._e_ref if self._lam else 0.0)
        return {
            "workload": ep.graph.name, "platform": ep.platform.name, "mode": ep.mode, "batch": ep.batch,
            "scenario": self._factory.scenario_name(ep), "seed": ep.seed, "n_ops": len(ep.graph), "max_decisions": self.max_decisions,
            "latency_mean_s": lat, "latency_p95_s": p95,
            "energy_per_inference_j": e, "t_ref_s": self._t_ref, "e_ref_j": self._e_ref,
            "cpu_latency_mean_s": cpu.latency_mean_s, "speedup_vs_gpu": self._t_ref / lat if lat > 0 else math.inf,
            "speedup_vs_cpu": cpu.latency_mean_s / lat if lat > 0 else math.inf, "objective": objective,
            "decisions": decisions, "placement": list(placement),
        }

    # ------------------------------------------------------------------------------------
    # pickling: (options, seed state, actions so far), rebuilt by replay

    def __getstate__(self) -> dict[str, Any]:
        return {**captured_state(self, self._ep is not None), "actions": list(self._actions)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if rebuild_from_state(self, state):
            self._begin()
            for a in state["actions"]:
                self.step(a if self._discrete else np.asarray([a], dtype=np.float64))
        restore_rng(self, state)
