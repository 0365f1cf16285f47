"""SB3 ``VecEnv`` whose ``SparOA-v0`` environments live in Ray actors (``sparoa train scheduler --ray``).

Each of ``workers`` actors holds a ``DummyVecEnv`` of ``envs_per_worker`` envs; one ``step`` is one
round trip per actor, all actors stepping in parallel while the SB3 learner stays in the driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from sparoa_sim.agents.experiments.distributed import ensure_ray
from sparoa_sim.agents.learn.train_spec import TrainConfig
from sparoa_sim.errors import SparOAError

__all__ = ["RayVecEnv", "training_vec_env"]


def _monitored_env(env_kwargs: dict[str, Any]) -> Any:
    """A Monitor-wrapped ``SparOA-v0`` (importable, so worker processes can build it)."""
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor

    import sparoa_sim  # noqa: F401  (registers the env ids in a fresh process)

    return Monitor(gym.make("SparOA-v0", **env_kwargs))


class _VecWorker:
    """Ray actor body: a ``DummyVecEnv`` of Monitor-wrapped ``SparOA-v0`` envs, stepped as one."""

    def __init__(self, env_kwargs: dict[str, Any], n: int) -> None:
        from stable_baselines3.common.vec_env import DummyVecEnv

        self.venv = DummyVecEnv([partial(_monitored_env, env_kwargs)] * n)
        self.masks = self.venv.has_attr("action_masks")

    def spaces(self) -> tuple[Any, Any, bool]:
        return self.venv.observation_space, self.venv.action_space, self.masks

    def _masks(self) -> np.ndarray | None:
        return np.stack(self.venv.env_method("action_masks")) if self.masks else None

    def reset(self, seeds: list[int | None], options: list[dict[str, Any]]) -> tuple[Any, ...]:
        for i, s in enumerate(seeds):
            self.venv._seeds[i] = s
        self.venv.set_options(options)
        obs = self.venv.reset()
        return obs, list(self.venv.reset_infos), self._masks()

    def step(self, actions: np.ndarray) -> tuple[Any, ...]:
        obs, rew, done, infos = self.venv.step(actions)
        return obs, rew, done, infos, self._masks()

    def call(self, what: str, name: str, indices: list[int], args: tuple, kwargs: dict[str, Any]) -> list[Any]:
        if what == "get_attr":
            return self.venv.get_attr(name, indices)
        if what == "set_attr":
            self.venv.set_attr(name, args[0], indices)
            return []
        if what == "env_is_wrapped":
            return self.venv.env_is_wrapped(args[0], indices)
        return self.venv.env_method(name, *args, indices=indices, **kwargs)

    def close(self) -> None:
        self.venv.close()


class RayVecEnv(VecEnv):
    """SB3 ``VecEnv`` over ``workers`` Ray actors × ``envs_per_worker`` ``SparOA-v0`` envs each.

    Auto-reset and ``terminal_observation`` follow SB3's ``DummyVecEnv`` (it runs inside each
    actor). ``action_masks`` come back with every step and reset, so MaskablePPO costs no extra
    round trip. An actor that dies surfaces as an error on the next step (its episode state is
    gone; restart the run with ``--resume``)."""

    def __init__(self, env_kwargs: dict[str, Any], workers: int, envs_per_worker: int = 1, *,
                 address: str | None = None, num_cpus: int | None = None) -> None:
        if workers < 1 or envs_per_worker < 1:
            raise SparOAError(f"--workers: need at least one worker and one env each, got {workers}×{envs_per_worker}")
        ray = ensure_ray(address, num_cpus)
        self._ray = ray
        cpus = ray.cluster_resources().get("CPU", 0)
        if workers > cpus:  # each worker holds one CPU: the extra ones would wait forever for theirs
            raise SparOAError(f"--workers {workers}: the Ray cluster has {cpus:g} CPU(s) (one per environment "
                              "worker); ask for fewer workers or more envs per worker")
        actor = ray.remote(num_cpus=1, max_restarts=0)(_VecWorker)
        self._k = envs_per_worker
        self._actors = [actor.remote(env_kwargs, envs_per_worker) for _ in range(workers)]
        obs_space, act_space, self._has_masks = ray.get(self._actors[0].spaces.remote())
        super().__init__(workers * envs_per_worker, obs_space, act_space)
        self._refs: list[Any] = []
        self._mask_cache: np.ndarray | None = None

    def _split(self, items: Sequence[Any]) -> list[Sequence[Any]]:
        return [items[w * self._k:(w + 1) * self._k] for w in range(len(self._actors))]

    def _gather(self, refs: list[Any]) -> list[Any]:
        try:
            return self._ray.get(refs)
        except self._ray.exceptions.RayTaskError as exc:  # the env's own exception, as DummyVecEnv would raise it
            if exc.cause is not None:
                raise exc.cause from None
            raise
        except self._ray.exceptions.RayError as exc:  # an actor died
            raise SparOAError(f"RayVecEnv: an environment worker failed: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0]}") from exc

    def reset(self) -> np.ndarray:
        refs = [a.reset.remote(list(s), list(o)) for a, s, o in
                zip(self._actors, self._split(self._seeds), self._split(self._options))]
        outs = self._gather(refs)
        self.reset_infos = [i for o in outs for i in o[1]]
        self._mask_cache = np.concatenate([o[2] for o in outs]) if self._has_masks else None
        self._reset_seeds()
        self._reset_options()
        return np.concatenate([o[0] for o in outs])

    def step_async(self, actions: np.ndarray) -> None:
        self._refs = [a.step.remote(chunk) for a, chunk in zip(self._actors, self._split(np.asarray(actions)))]

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        outs = self._gather(self._refs)
        self._refs = []
        self._mask_cache = np.concatenate([o[4] for o in outs]) if self._has_masks else None
        return (np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs]),
                np.concatenate([o[2] for o in outs]), [i for o in outs for i in o[3]])

    def _call(self, what: str, name: str, indices: Any, *args: Any, **kwargs: Any) -> list[Any]:
        wanted = list(self._get_indices(indices))
        by_actor: dict[int, list[int]] = {}
        for i in wanted:
            by_actor.setdefault(i // self._k, []).append(i % self._k)
        order = sorted(by_actor)
        refs = [self._actors[w].call.remote(what, name, by_actor[w], args, kwargs) for w in order]
        outs = self._gather(refs)
        if what == "set_attr":
            return []
        got = {}
        for w, out in zip(order, outs):
            for local, v in zip(by_actor[w], out):
                got[w * self._k + local] = v
        return [got[i] for i in wanted]  # in the order asked for, as DummyVecEnv answers

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        if method_name == "action_masks" and self._mask_cache is not None and not method_args and not method_kwargs:
            return list(self._mask_cache[list(self._get_indices(indices))])
        self._mask_cache = None  # an arbitrary method may change the envs' state
        return self._call("env_method", method_name, indices, *method_args, **method_kwargs)

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return self._call("get_attr", attr_name, indices)

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        self._mask_cache = None
        self._call("set_attr", attr_name, indices, value)

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return self._call("env_is_wrapped", "", indices, wrapper_class)

    def get_images(self) -> list[Any]:
        return [None] * self.num_envs

    def close(self) -> None:
        if not self._actors:
            return
        try:
            self._ray.get([a.close.remote() for a in self._actors], timeout=30)
        except Exception:  # noqa: BLE001 — closing a dead actor must not mask the run's own error
            pass
        for a in self._actors:
            self._ray.kill(a)
        self._actors = []


def training_vec_env(cfg: TrainConfig, workers: int, ray: str | None, envs_per_worker: int = 1) -> Any:
    """The training env for ``sparoa train scheduler --workers N [--ray [ADDRESS]]``: ``None`` (the
    trainer's single env) for one local worker, a ``SubprocVecEnv`` of N local processes without
    ``--ray``, a :class:`RayVecEnv` of N actors with it (``ray`` is the address, ``""`` = local).
    """
    if ray is not None:
        return RayVecEnv(cfg.env_kwargs(), workers, envs_per_worker, address=ray or None)
    if workers <= 1:
        return None
    from stable_baselines3.common.vec_env import SubprocVecEnv

    return SubprocVecEnv([partial(_monitored_env, cfg.env_kwargs())] * workers, start_method="spawn")
