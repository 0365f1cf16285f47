"""One exception hierarchy for user-facing errors; messages name the file, field and value."""

from __future__ import annotations

from sparoa_sim.hwmodels.errors import CalibrationError, ProfileError, SparOAError

__all__ = [
    "SparOAError",
    "GraphError",
    "ProfileError",
    "CalibrationError",
    "SimulationError",
    "PolicyError",
]


class GraphError(SparOAError, ValueError):
    """A malformed operator graph, graph file, workload name or model factory."""


class SimulationError(SparOAError, ValueError):
    """Bad arguments to the simulator (policy, schedule, rate, batch size, arrival trace)."""


class PolicyError(SparOAError, ValueError):
    """A policy file or checkpoint that does not fit the workload or observation layout."""
