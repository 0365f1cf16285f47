"""SparOA-sim: a simulation-first digital twin for CPU-GPU hybrid DNN inference on edge devices.

``import sparoa_sim`` is light: it imports neither torch nor the environments; the Gymnasium ids
``SparOA-v0`` and ``SparOAThreshold-v0`` are registered (idempotently) with string entry points,
so nothing heavy loads before ``gym.make`` — and ``gym.make("sparoa_sim:SparOA-v0")`` works in a
fresh process. Gymnasium itself is not imported here: the ids are registered now if it already
is, else right after it is first imported (a one-shot import hook).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

from sparoa_sim.errors import (
    CalibrationError,
    GraphError,
    PolicyError,
    ProfileError,
    SimulationError,
    SparOAError,
)
from sparoa_sim.graph import Op, OpGraph, fuse, load_graph, save_graph
from sparoa_sim.synthetic import SyntheticConfig, generate
from sparoa_sim.workloads import list_workloads, load_workload

__version__ = "0.1.0"

#: Gymnasium ids and their entry points (imported by ``gym.make`` only).
ENV_IDS: dict[str, str] = {
    "SparOA-v0": "sparoa_sim.envs.scheduling:SparOAEnv",
    "SparOAThreshold-v0": "sparoa_sim.envs.threshold:SparOAThresholdEnv",
}


def register_envs() -> None:
    """Register the environments with Gymnasium (a no-op for ids already registered)."""
    try:
        from gymnasium.envs.registration import register, registry
    except ImportError:  # pragma: no cover - gymnasium is a dependency; the core works without it
        return
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in registry:
            register(id=env_id, entry_point=entry_point)


class _RegisterAfterGymnasium(importlib.abc.MetaPathFinder):
    """One-shot import hook: the core layer does not import gymnasium (DESIGN §1), yet
    ``import sparoa_sim; import gymnasium as gym; gym.make("SparOA-v0")`` must work, so the ids
    are registered the moment gymnasium finishes importing."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "gymnasium":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec("gymnasium")
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module) -> None:
            run(module)
            register_envs()

        spec.loader.exec_module = exec_module
        return spec


if "gymnasium" in sys.modules:
    register_envs()
elif not any(isinstance(f, _RegisterAfterGymnasium) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterGymnasium())

__all__ = [
    "ENV_IDS",
    "CalibrationError",
    "GraphError",
    "Op",
    "OpGraph",
    "PolicyError",
    "ProfileError",
    "SimulationError",
    "SparOAError",
    "SyntheticConfig",
    "__version__",
    "fuse",
    "generate",
    "list_workloads",
    "load_graph",
    "load_workload",
    "register_envs",
    "save_graph",
]
