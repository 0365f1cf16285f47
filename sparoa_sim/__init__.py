"""SparOA-sim: a simulation-first digital twin for CPU-GPU hybrid DNN inference on edge devices.

``import sparoa_sim`` is light: it imports neither torch nor the environments; the Gymnasium ids
``SparOA-v0`` and ``SparOAThreshold-v0`` are registered (idempotently) with string entry points,
so nothing heavy loads before ``gym.make`` — and ``gym.make("sparoa_sim:SparOA-v0")`` works in a
fresh process. Registration imports only ``gymnasium.envs.registration`` (light; no torch).
"""

from __future__ import annotations

from sparoa_sim import compat as _compat

_compat.install()  # old module paths (before the sub-packages) keep importing; see sparoa_sim.compat

from sparoa_sim.errors import (  # noqa: E402
    CalibrationError,
    GraphError,
    PolicyError,
    ProfileError,
    SimulationError,
    SparOAError,
)
from sparoa_sim.ir.graph import Op, OpGraph, fuse, load_graph, save_graph
from sparoa_sim.ir.synthetic import SyntheticConfig, generate
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


register_envs()

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
