"""Hardware twin: device specs, latency/energy/transfer models, power modes, calibration.

Imports numpy and scipy only; knows nothing of graphs, SimPy or torch (docs/architecture.md §1).
"""

from sparoa_sim.hwmodels.contention import bandwidth_demand, bandwidth_shares, concurrent_bw
from sparoa_sim.hwmodels.energy import device_power, idle_energy, op_energy, prediction_energy
from sparoa_sim.hwmodels.errors import CalibrationError, ProfileError, SparOAError
from sparoa_sim.hwmodels.kinds import KINDS, OpKind, kind_code, parse_kind
from sparoa_sim.hwmodels.latency import Prediction, bytes_scale, predict, retime, roofline
from sparoa_sim.hwmodels.noise import jitter, lognormal_factors, noise_sigmas
from sparoa_sim.hwmodels.ops import OpArrays
from sparoa_sim.hwmodels.params import LatencyParams, ParamSpec
from sparoa_sim.hwmodels.platform import (
    CPU,
    DEVICE_KINDS,
    GPU,
    ORIGINS,
    PRECISIONS,
    DeviceEnergy,
    DeviceSpec,
    EnergyCoefficients,
    Interconnect,
    Memory,
    PerPrecision,
    Platform,
    PowerMode,
    Tagged,
)
from sparoa_sim.hwmodels.profile_io import (
    as_platform,
    host_profile_path,
    list_platforms,
    load_platform,
    parse_platform,
    platform_to_toml,
    save_platform,
    user_data_dir,
    user_profiles_dir,
)
from sparoa_sim.hwmodels.transfer import transfer_time

__all__ = [
    "CPU",
    "CalibrationError",
    "DEVICE_KINDS",
    "DeviceEnergy",
    "DeviceSpec",
    "EnergyCoefficients",
    "GPU",
    "Interconnect",
    "KINDS",
    "LatencyParams",
    "Memory",
    "ORIGINS",
    "OpArrays",
    "OpKind",
    "PRECISIONS",
    "ParamSpec",
    "PerPrecision",
    "Platform",
    "PowerMode",
    "Prediction",
    "ProfileError",
    "SparOAError",
    "Tagged",
    "as_platform",
    "bandwidth_demand",
    "bandwidth_shares",
    "bytes_scale",
    "concurrent_bw",
    "device_power",
    "host_profile_path",
    "idle_energy",
    "jitter",
    "kind_code",
    "list_platforms",
    "load_platform",
    "lognormal_factors",
    "noise_sigmas",
    "op_energy",
    "parse_kind",
    "parse_platform",
    "platform_to_toml",
    "predict",
    "prediction_energy",
    "retime",
    "roofline",
    "save_platform",
    "transfer_time",
    "user_data_dir",
    "user_profiles_dir",
]
