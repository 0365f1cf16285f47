"""Sustained memory bandwidth, STREAM-style (copy and triad), on the CPU or a CUDA device.

The twin's memory roofline is anchored on this figure; arrays are sized past the last-level
cache so it is DRAM's bandwidth, not a cache's.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sparoa_sim.errors import CalibrationError
from sparoa_sim.hwmodels.measurements import Bandwidth, StreamFigure
from sparoa_sim.real.measure.hostinfo import resolve_device
from sparoa_sim.real.measure.timing import figure, make_clock, quiet_runtime, time_calls

__all__ = ["measure_bandwidth"]


def _llc_bytes() -> int | None:
    """Size of the last-level cache from sysfs, if the kernel exposes it."""
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    best = None
    for idx in sorted(base.glob("index*")):
        try:
            text = (idx / "size").read_text().strip().upper()
        except OSError:
            continue
        m = re.match(r"(\d+)([KMG]?)", text)
        if m:
            size = int(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)]
            best = max(best or 0, size)
    return best


def _default_stream_bytes(cuda: bool = False) -> int:
    """Per-array size: twice the CPU's last-level cache, 64 MiB to 256 MiB (256 MiB on CUDA),
    and never more than 1/16 of the memory (three arrays are live for the triad).

    The cap keeps the measurement cheap and its memory churn small: on virtual machines whose
    guest reclaims freed memory, touching and freeing GiBs slows what runs next for seconds. A
    host whose last-level cache is not far below 256 MiB should pass ``nbytes`` explicitly.
    """
    if cuda:
        return 256 * 2**20
    llc = _llc_bytes() or 32 * 2**20
    size = min(256 * 2**20, max(64 * 2**20, 2 * llc))
    with contextlib.suppress(ValueError, OSError, AttributeError):
        size = min(size, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 16)
    return int(size)


def _stream_figure(half_a: list[float], half_b: list[float], moved: float) -> StreamFigure:
    f = figure(half_a, half_b)
    return StreamFigure(
        bytes_per_s=moved / f.time_s, bytes_per_s_a=moved / f.time_s_a, bytes_per_s_b=moved / f.time_s_b,
        bytes_moved=float(moved), time_s=f.time_s, time_s_a=f.time_s_a, time_s_b=f.time_s_b, reps=f.reps,
    )  # fmt: skip


def measure_bandwidth(
    device: str = "cpu",
    nbytes: int | None = None,
    *,
    reps: int = 10,
    warmup: int = 1,
    triad: bool = True,
    threads: int | None = None,
    clock: str = "wall",
) -> Bandwidth:
    """Sustained memory bandwidth, STREAM-style: copy (2 × nbytes moved) and triad (3 ×).

    ``nbytes`` is the size of each float32 array (default: twice the last-level cache, 64 MiB
    to 256 MiB) so the figure is DRAM's, not a cache's. Halves of the repetitions alternate in time
    (copy A, triad A, copy B, triad B) and give each figure its repeatability.
    """
    dev = resolve_device(device)
    nbytes = int(nbytes or _default_stream_bytes(dev.type == "cuda"))
    if nbytes < 4:
        raise CalibrationError(f"measure_bandwidth: nbytes must be >= 4, got {nbytes}")
    n = nbytes // 4
    clock_name = clock
    half = max(1, math.ceil(reps / 2))
    with quiet_runtime(threads) as nthreads:
        clock = make_clock(dev, clock_name)
        src = torch.full((n,), 1.5, device=dev)  # values are irrelevant; full() touches every page
        other = torch.full((n,), 0.5, device=dev)
        dst = torch.zeros(n, device=dev)
        kernels: dict[str, tuple[Callable[[], Any], float]] = {"copy": (lambda: dst.copy_(src), 2.0 * n * 4)}
        if triad:
            kernels["triad"] = (lambda: torch.add(src, other, alpha=3.0, out=dst), 3.0 * n * 4)
        times: dict[str, list[list[float]]] = {k: [] for k in kernels}
        for _half in range(2):
            for k, (fn, _) in kernels.items():
                time_calls(fn, clock, warmup)
                times[k].append(time_calls(fn, clock, half))
        figs = {k: _stream_figure(*times[k], kernels[k][1]) for k in kernels}
        del src, other, dst
    return Bandwidth(nbytes=n * 4, threads=nthreads, copy=figs["copy"], triad=figs.get("triad"))
