"""What a pass of the hybrid executor returns, and how it fails.

:class:`RunResult` holds the output and every operator slice (:class:`OpTiming`) and copy
(:class:`TransferTiming`) with times from the run's start; :meth:`RunResult.trace` writes it in
the twin's Chrome/Perfetto trace format so real and simulated runs open side by side. Devices
are indexed as the engine indexes them (:data:`CPU`, :data:`GPU`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparoa_sim.errors import SparOAError
from sparoa_sim.sim.trace import SimTrace

__all__ = [
    "CPU",
    "DEV_NAMES",
    "DeviceUnavailableError",
    "ExecutorError",
    "GPU",
    "OpTiming",
    "RunResult",
    "TransferTiming",
]

#: Device indices, as in the engine.
CPU, GPU = 0, 1
#: Device names by index (trace and timing records).
DEV_NAMES = ("cpu", "gpu")


class ExecutorError(SparOAError, RuntimeError):
    """An operator failed while the executor ran it, or the executor cannot run a placement."""

    def __init__(self, message: str, op_index: int | None = None, op_name: str | None = None) -> None:
        super().__init__(message)
        self.op_index = op_index
        self.op_name = op_name


class DeviceUnavailableError(ExecutorError):
    """A placement puts work on the GPU but this host has no CUDA device (and no fallback)."""


# ---------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class OpTiming:
    """One operator (or one part of a split operator) on one device; seconds from run start."""

    op: int
    name: str
    device: str  # "cpu" | "gpu"
    start: float
    end: float
    share: float  # the operator's GPU share as executed (0 or 1 when it could not be split)
    sparse: bool = False  # ran the CSR kernel


@dataclass(frozen=True)
class TransferTiming:
    """A copy of a value to the other device (``merge``: a split part to its home device)."""

    op: int  # producing operator; n_ops for the request's input
    name: str
    src: str
    dst: str
    start: float
    end: float
    nbytes: int
    kind: str = "transfer"  # "transfer" | "merge"
    staged_s: float = 0.0  # of which: the host's copy into pinned memory (CUDA, host → GPU)


@dataclass(frozen=True)
class RunResult:
    """The output of one pass and what each device did, with timings from the run's start."""

    output: Any
    ops: tuple[OpTiming, ...]
    transfers: tuple[TransferTiming, ...]
    wall_s: float
    batch: int
    placement: tuple[float, ...]
    devices: Mapping[str, str] = field(default_factory=dict)  # role → torch device it ran on
    workload: str = ""
    precision: Mapping[str, Any] = field(default_factory=dict)  # precision_record: tf32 flags, dtypes

    def busy_s(self, device: str) -> float:
        """Seconds the device spent in operators (sum of its slices)."""
        return sum(t.end - t.start for t in self.ops if t.device == device)

    def trace(self, policy: str = "placement", job: int = 0) -> SimTrace:
        """The run as a :class:`~sparoa_sim.sim.trace.SimTrace` (same Chrome format as the twin's)."""
        names = _op_names(self)
        events: list[tuple] = []
        for t in sorted(self.ops, key=lambda t: (t.start, t.op)):
            events.append((DEV_NAMES.index(t.device), 0, t.op, job, t.start, t.end, t.share, 0))
        for x in sorted(self.transfers, key=lambda x: (x.start, x.op)):
            events.append((3, 3 if x.kind == "merge" else 2, x.op, job, x.start, x.end, float(x.nbytes),
                           DEV_NAMES.index(x.dst)))
        return SimTrace(events=tuple(events), op_names=names, job_requests=((0,),), job_batches=(self.batch,),
                        workload=self.workload, platform=f"real: {self.devices.get('cpu', 'cpu')} + "
                        f"{self.devices.get('gpu', 'gpu')}", policy=policy)

    def save_trace(self, path: str | Path, policy: str = "placement") -> Path:
        """Write the Chrome/Perfetto trace JSON atomically."""
        return self.trace(policy).save(path)


def _op_names(result: RunResult) -> tuple[str, ...]:
    n = max([t.op for t in result.ops] + [x.op for x in result.transfers], default=-1) + 1
    names = ["op"] * n
    for t in result.ops:
        names[t.op] = t.name
    for x in result.transfers:
        if x.name != "input":
            names[x.op] = x.name
    return tuple(names)
