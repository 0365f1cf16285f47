"""What a simulation models, as one frozen value: power mode, precision and the stochastic effects.

``reference=True`` is the *reference setting* shared with the oracle and the gap measurements
(docs/architecture.md §4, §6): latency noise, background load, DRAM contention and the dispatch thread's
interference with CPU operators are all off, so every operator takes exactly its predicted
time. Host dispatch itself (a serial launch resource), transfers and the host I/O copies stay.

A deterministic background load (:class:`~sparoa_sim.sim.hwstate.LoadTrace`, e.g. ``LoadTrace.fixed(gpu=0.8)``:
the GPU shared with another job) is an input of the problem, not a stochastic effect, so it stays on
in the reference setting: each operator then takes its predicted time at that load (what the oracle
schedules with ``load=``). The Markov-modulated :class:`~sparoa_sim.sim.hwstate.BackgroundLoad` is off
there, even with one level (as it always was).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from sparoa_sim.errors import SimulationError
from sparoa_sim.hwmodels.platform import PRECISIONS
from sparoa_sim.sim.hwstate import BackgroundLoad, LoadTrace

__all__ = ["SimConfig"]


@dataclass(frozen=True)
class SimConfig:
    """Simulation options.

    Attributes:
        mode: power mode name or alias (None = the profile's default).
        precision: ``fp32``, ``fp16`` or ``fp16_tc``.
        reference: the reference setting (overrides the four switches below to off).
        noise: multiplicative log-normal latency jitter with the profile's σ per device.
        background: background load of other tenants: a Markov-modulated ``BackgroundLoad``
            (stochastic: off in the reference setting), a deterministic ``LoadTrace`` (stays on in
            the reference setting) or None (no other tenants).
        contention: shared-DRAM contention between memory-bound operators on both devices.
        dispatch_interference: while the host dispatch thread launches a kernel it takes one of
            the CPU's cores, so a running CPU operator slows to (1 − 1/cores) of its rate.
        host_io: a request's input starts in host memory and its outputs must end there, so a
            GPU source operator waits for an input copy and a GPU sink for an output copy.
        record_trace: keep every operator, launch and transfer slice for traces and Gantt charts.
        request_sparsity: each request draws its operators' activation sparsity from the spread the graph
            records (``sim.request_sparsity``; off: every request runs at the recorded mean).
    """

    mode: str | None = None
    precision: str = "fp32"
    reference: bool = False
    noise: bool = True
    background: BackgroundLoad | LoadTrace | None = field(default_factory=BackgroundLoad)
    contention: bool = True
    dispatch_interference: bool = True
    host_io: bool = True
    record_trace: bool = True
    request_sparsity: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise SimulationError(f"precision: unknown precision {self.precision!r} (known: {', '.join(PRECISIONS)})")
        if self.background is not None and not isinstance(self.background, (BackgroundLoad, LoadTrace)):
            raise SimulationError(f"background must be a BackgroundLoad, a LoadTrace or None, got {self.background!r}")
        if self.mode is not None and not isinstance(self.mode, str):
            raise SimulationError(f"mode must be a power-mode name, got {self.mode!r}")
        for switch in ("reference", "noise", "contention", "dispatch_interference", "host_io", "record_trace"):
            v = getattr(self, switch)
            if not isinstance(v, (bool, np.bool_)):  # "false" is truthy: a string must not switch anything on
                raise SimulationError(f"{switch} must be true or false, got {v!r}")
            object.__setattr__(self, switch, bool(v))

    @property
    def noise_on(self) -> bool:
        """Latency noise in force (off in the reference setting)."""
        return self.noise and not self.reference

    @property
    def background_on(self) -> BackgroundLoad | LoadTrace | None:
        """The background load in force: a ``LoadTrace`` always (None when it is all zero: exactly no
        background), a ``BackgroundLoad`` outside the reference setting, else None."""
        bg = self.background
        if isinstance(bg, LoadTrace):
            return None if bg.idle else bg
        return None if self.reference else bg

    @property
    def contention_on(self) -> bool:
        """DRAM contention in force (off in the reference setting)."""
        return self.contention and not self.reference

    @property
    def interference_on(self) -> bool:
        """Dispatch-thread interference in force (off in the reference setting)."""
        return self.dispatch_interference and not self.reference

    @classmethod
    def reference_setting(cls, **changes) -> SimConfig:
        """The reference setting (noise, stochastic background load, contention, interference off)."""
        return cls(reference=True, **changes)

    def replace(self, **changes) -> SimConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)
