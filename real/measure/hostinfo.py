"""What identifies the measuring machine, and the device a measurement runs on.

:func:`host_info` is recorded in every measurement table (CPU model, cores, torch version, GPU,
board, allocator setting), so a table says where it was taken; :func:`resolve_device` turns a
``--device`` string into a torch device with a clear error.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

from sparoa_sim.errors import CalibrationError
from sparoa_sim.real.measure.allocator import ALLOCATOR_NOTE, keep_freed_memory

__all__ = ["host_info", "resolve_device"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _board() -> str | None:
    """The board name where the device tree gives one (Jetson: "NVIDIA Jetson AGX Orin …")."""
    try:
        return Path("/proc/device-tree/model").read_text(encoding="utf-8", errors="replace").strip("\x00\n ") or None
    except OSError:
        return None


def host_info(device: str = "cpu") -> dict[str, Any]:
    """What identifies the measuring machine: CPU model, core and thread counts, torch, GPU."""
    cuda_name = torch.cuda.get_device_name(torch.device(device)) if torch.device(device).type == "cuda" else (
        torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    )
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count() or 1,
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "cuda_device": cuda_name,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "board": _board(),
        "allocator": ALLOCATOR_NOTE if keep_freed_memory() else "default",
    }


def resolve_device(device: str) -> torch.device:
    """``device`` as a torch CPU or CUDA device; a :class:`CalibrationError` when it is neither or absent."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise CalibrationError(f"--device: {device!r} is not a device ({exc}); use cpu or cuda") from None
    if dev.type not in ("cpu", "cuda"):
        raise CalibrationError(f"--device: {device!r} is not supported (cpu, cuda)")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CalibrationError(f"--device: {device!r} asked for, but no CUDA device is available on this host")
    return dev
