"""Hardware twin: device specs, latency/energy/transfer models, power modes, calibration.

Imports numpy and scipy only; knows nothing of graphs, SimPy or torch (DESIGN §1).
"""

from sparoa_sim.hwmodels.errors import CalibrationError, ProfileError, SparOAError
from sparoa_sim.hwmodels.kinds import KINDS, OpKind, kind_code, parse_kind

__all__ = [
    "CalibrationError",
    "KINDS",
    "OpKind",
    "ProfileError",
    "SparOAError",
    "kind_code",
    "parse_kind",
]
