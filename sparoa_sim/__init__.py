"""SparOA-sim: a simulation-first digital twin for CPU-GPU hybrid DNN inference on edge devices.

``import sparoa_sim`` is light: it imports neither torch nor the environments; Gymnasium ids
are registered with string entry points so nothing heavy loads before ``gym.make``.
"""

from __future__ import annotations

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

__all__ = [
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
    "save_graph",
]
