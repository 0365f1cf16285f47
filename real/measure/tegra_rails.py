"""Which tegrastats rails make up a Jetson module's total power, per module (docs/architecture.md §7).

One table, :data:`MODULE_RAILS`, with its source per row (research note
``docs/research/tegrastats_samples.md``, which quotes NVIDIA's rail descriptions and design guide):

- modules with an input rail (``VDD_IN``: Orin NX, Orin Nano, Xavier NX, TX2; ``POM_5V_IN``:
  Nano) report it: it is the module's input, the other rails are parts of it;
- AGX Orin (P3701) has no input rail: the total is ``VDD_GPU_SOC + VDD_CPU_CV + VIN_SYS_5V0``.
  ``VDDQ_VDD2_1V8AO`` (JetPack 5 only) is *inside* ``VIN_SYS_5V0`` by NVIDIA's description and
  is not added again; ``NC`` channels are not connected;
- AGX Xavier (P2888): ``GPU + CPU + SOC + CV + VDDRQ + SYS5V``, the monitors on the module's two
  supply inputs (Jetson AGX Xavier Series Product Design Guide DG-09840-001_v2.5, §5.6.2).

Neither figure includes the carrier board (NVMe, USB devices, fan, the carrier's regulators).
:func:`board_power` picks the rule for a parsed sample and says which one it used, or why none
applies, naming the rails it saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["IGNORED_RAILS", "MODULE_RAILS", "BoardPower", "RailRule", "board_power"]


@dataclass(frozen=True)
class RailRule:
    """How one module family's total power is read from its rails."""

    modules: str  # the modules the rule is for
    rails: tuple[str, ...]  # one input rail, or the rails summed
    scope: str  # "module input" | "module, sum of rails"
    source: str  # where the rule comes from


_NOTE = "docs/research/tegrastats_samples.md"

#: Per module family, in the order tried (an input rail first: where present it is the total).
MODULE_RAILS: tuple[RailRule, ...] = (
    RailRule("Orin NX, Orin Nano (P3767), Xavier NX (P3668), TX2 (P3310/P3489)", ("VDD_IN",), "module input",
             f"{_NOTE} §2, §3, §5, §6: VDD_IN is the module input (NVIDIA forum thread 200883 for Xavier NX; "
             "jetson_stats for Orin NX, forum thread 242804); the other rails are parts of it"),
    RailRule("Jetson Nano (P3448)", ("POM_5V_IN",), "module input",
             f"{_NOTE} §6: 'POM_5V_IN measures the overall 5V input ... You don't need to add POM_5V_GPU and "
             "POM_5V_CPU' (NVIDIA forum thread 73608, as quoted in rbonghi/jetson_stats#51)"),
    RailRule("AGX Orin (P3701), JetPack 5/6/7", ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"), "module, sum of rails",
             f"{_NOTE} §1: NVIDIA's rail descriptions (VDDQ_VDD2_1V8AO 'is also included in VIN_SYS_5V0'); "
             "the sum is an inference, as jetson_stats' total_power() (forum threads 217088, 81016)"),
    RailRule("AGX Xavier (P2888), JetPack 4", ("GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"), "module, sum of rails",
             f"{_NOTE} §4: Jetson AGX Xavier Series Product Design Guide DG-09840-001_v2.5 §5.6.2 (monitors on "
             "SYS_VIN_HV branches and SYS_VIN_MV); the sum is an inference"),
)

#: Rails never added: not connected, or already inside another rail (AGX Orin, JetPack 5).
IGNORED_RAILS: Mapping[str, str] = {
    "NC": "not connected",
    "VDDQ_VDD2_1V8AO": "inside VIN_SYS_5V0 (NVIDIA: 'VDDQ_VDD2_1V8AO power is also included in VIN_SYS_5V0 power')",
}


@dataclass(frozen=True)
class BoardPower:
    """A sample's module power in watts and the rule that gave it; ``watts`` None with a ``reason``."""

    watts: float | None
    rails: tuple[str, ...] = ()
    scope: str = ""
    modules: str = ""
    reason: str = ""


def board_power(rails: Mapping[str, float]) -> BoardPower:
    """Module power of one parsed tegrastats sample (see the module doc), or why there is none."""
    for rule in MODULE_RAILS:
        if all(r in rails for r in rule.rails):
            return BoardPower(sum(rails[r] for r in rule.rails), rule.rails, rule.scope, rule.modules)
    seen = sorted(rails)
    for rule in MODULE_RAILS:  # part of a known set: name what is missing
        have = [r for r in rule.rails if r in rails]
        if len(rule.rails) > 1 and len(have) >= 2:
            missing = [r for r in rule.rails if r not in rails]
            return BoardPower(None, reason=f"rails of {rule.modules} without {', '.join(missing)} (seen: "
                                           f"{', '.join(seen)}): the module total cannot be formed")
    return BoardPower(None, reason=("no known total rail (VDD_IN, POM_5V_IN, or the AGX Orin / AGX Xavier sets) "
                                    f"among the rails seen: {', '.join(seen) if seen else 'none'}"))
