"""The two devices of one executor pass: per-run state, clocks and the copies between them.

Each device's worker publishes values the other reads in a :class:`Slot` (a thread event, plus a
CUDA event marking completion on the compute stream). :class:`DeviceLink` times work on either
device (``perf_counter`` on the host, CUDA events on the GPU, both from the run's start) and
copies values across: host → GPU from pinned memory on a copy stream the compute stream waits
on; GPU → host into pinned memory on a copy stream that waits on the producer's event. Without
CUDA the GPU role is a second CPU worker and a copy is a clone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.fx

from sparoa_sim.real.run.results import DEV_NAMES, GPU, OpTiming, TransferTiming

__all__ = ["POLL_S", "Aborted", "DeviceLink", "RunState", "Slot", "map_tensors", "tensors"]

#: Seconds between checks of the abort flag while waiting for the other device.
POLL_S = 0.05


class Slot:
    """A value published by one device's worker for the other one."""

    __slots__ = ("ready", "value", "event")

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.value: Any = None
        self.event: Any = None  # torch.cuda.Event marking completion on the GPU stream


class Aborted(Exception):
    """The other worker failed; stop this one."""


class RunState:
    """Everything one pass needs: shares, slots, per-device caches, timing marks."""

    def __init__(self, shares: Sequence[float]) -> None:
        self.shares = shares
        self.home: dict[int, Slot] = {}  # op index → final value on its home device
        self.part: dict[int, Slot] = {}  # op index → the minor part of a split operator
        self.local: tuple[dict[int, Any], dict[int, Any]] = ({}, {})  # node idx → value, per device
        self.marks: list[tuple] = []  # (kind, payload..., start mark, end mark)
        self.keep: list[Any] = []  # pinned buffers that must outlive their copies
        self.abort = threading.Event()
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        # liveness: consumers still to read each fx node's value, per device (a value is dropped
        # once nobody will read it, as eager PyTorch frees it: keeping every intermediate alive
        # cost ~9 % on ResNet-50), and the operators the other device reads (through a slot)
        self.uses: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.cross: frozenset[int] = frozenset()


class DeviceLink:
    """Clocks of both devices and the copies between them, for one executor.

    ``devices``: (CPU, GPU-role) torch devices; ``streams``: the GPU's compute, host→GPU and
    GPU→host streams (CUDA only).
    """

    def __init__(self, cuda: bool, devices: tuple[torch.device, torch.device], streams: tuple[Any, ...] = ()) -> None:
        self.cuda = cuda
        self.devices = devices
        self.streams = streams
        self.t0 = 0.0
        self.base_event: Any = None

    def start(self) -> float:
        """Mark the run's start on both devices (after the GPU is idle); returns the host's."""
        if self.cuda:
            torch.cuda.synchronize(self.devices[GPU])
            self.base_event = torch.cuda.Event(enable_timing=True)
            self.base_event.record(self.streams[0])
        self.t0 = time.perf_counter()
        return self.t0

    def mark(self, d: int) -> Any:
        """A point in time on device ``d``: a CUDA event on the GPU, ``perf_counter`` otherwise."""
        if self.cuda and d == GPU:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.perf_counter()

    def seconds(self, mark: Any) -> float:
        """Seconds from the run's start to ``mark``."""
        if isinstance(mark, float):
            return mark - self.t0
        return self.base_event.elapsed_time(mark) / 1e3

    @staticmethod
    def wait(run: RunState, slot: Slot) -> Any:
        """Block until ``slot`` is published (or the other worker failed: :class:`Aborted`)."""
        while not slot.ready.wait(POLL_S):
            if run.abort.is_set():
                raise Aborted
        return slot.value

    def publish(self, slot: Slot, value: Any, d: int) -> None:
        """Hand ``value``, made on device ``d``, to the other device's worker."""
        if self.cuda and d == GPU:
            ev = torch.cuda.Event()
            ev.record(self.streams[0])
            slot.event = ev
        slot.value = value
        slot.ready.set()

    def copy_value(self, run: RunState, value: Any, src: int, dst: int, i: int, name: str, kind: str = "transfer",
                   event: Any = None) -> Any:
        """Copy ``value`` from device ``src`` to ``dst`` (after ``event`` on CUDA), recording its timing."""
        nbytes = sum(t.numel() * t.element_size() for t in tensors(value))
        if not self.cuda:
            start = self.mark(dst)
            out = map_tensors(value, lambda t: t.clone())
            end = self.mark(dst)
        elif dst == GPU:  # host → device: pinned staging, async copy on the H2D stream
            staged = map_tensors(value, lambda t: t if t.is_pinned() else t.pin_memory())
            run.keep.append(staged)
            h2d = self.streams[1]
            with torch.cuda.stream(h2d):
                start = self.mark(dst)
                out = map_tensors(staged, lambda t: t.to(self.devices[GPU], non_blocking=True))
                end = self.mark(dst)
            self.streams[0].wait_event(end)
            for t in tensors(out):  # made on the copy stream, read on the compute stream: the caching
                t.record_stream(self.streams[0])  # allocator must not reuse it before those reads finish
        else:  # device → host: into pinned memory on the D2H stream, after the producer's event
            d2h = self.streams[2]
            with torch.cuda.device(self.devices[GPU]), torch.cuda.stream(d2h):
                if event is not None:
                    d2h.wait_event(event)
                start = self.mark(GPU)
                out = map_tensors(value, lambda t: torch.empty(t.shape, dtype=t.dtype, pin_memory=True).copy_(
                    t, non_blocking=True))
                end = self.mark(GPU)
            end.synchronize()
        run.marks.append(("xfer", i, name, src, dst, kind, nbytes, start, end))
        return out

    def timings(self, run: RunState, names: Sequence[str]) -> tuple[tuple[OpTiming, ...], tuple[TransferTiming, ...]]:
        """The run's marks as operator and transfer timings, sorted by start (``names``: per operator)."""
        ops: list[OpTiming] = []
        xfers: list[TransferTiming] = []
        for m in run.marks:
            if m[0] == "op":
                _, i, d, share, sparse, s, e = m
                ops.append(OpTiming(i, names[i], DEV_NAMES[d], self.seconds(s), self.seconds(e),
                                    share, sparse))
            else:
                _, i, name, src, dst, kind, nbytes, s, e = m
                xfers.append(TransferTiming(i, name, DEV_NAMES[src], DEV_NAMES[dst], self.seconds(s),
                                            self.seconds(e), int(nbytes), kind))
        ops.sort(key=lambda t: (t.start, t.op))
        xfers.sort(key=lambda t: (t.start, t.op))
        return tuple(ops), tuple(xfers)


def tensors(value: Any) -> list[torch.Tensor]:
    """The tensors inside a (possibly nested) value."""
    out: list[torch.Tensor] = []
    torch.fx.node.map_aggregate(value, lambda v: out.append(v) if isinstance(v, torch.Tensor) else None)
    return out


def map_tensors(value: Any, fn: Any) -> Any:
    """``value`` with ``fn`` applied to every tensor inside it."""
    return torch.fx.node.map_aggregate(value, lambda v: fn(v) if isinstance(v, torch.Tensor) else v)
