"""The two devices of one executor pass: per-run state, clocks and the copies between them.

Each device's worker publishes values the other reads in a :class:`Slot` (a thread event, plus a
CUDA event marking completion on the compute stream). :class:`DeviceLink` times work on either
device (``perf_counter`` on the host, CUDA events on the GPU, both from the run's start) and
copies values across: host → GPU from pinned memory on a copy stream the compute stream waits
on; GPU → host into pinned memory on a copy stream that waits on the producer's event. Without
CUDA the GPU role is a second CPU worker and a copy is a clone.

Host → GPU, as on a Jetson: the *producer* (the CPU's worker, or the run's start for the input)
writes its value into a pinned buffer allocated once per (operator, shape, dtype) and kept
across runs (:meth:`DeviceLink.stage`); the transfer's timing starts there, so the staging copy
(on a Jetson's unified memory, a second DRAM copy) is counted, and the GPU's worker only issues
the DMA. With ``mapped=True`` (an integrated GPU) there is no DMA: the GPU reads the pinned
buffer in place (zero-copy, :func:`mapped_view`), and the transfer is the staging alone.
Values change dtype where they cross devices (``dtypes``: the CPU's and the GPU's floating
dtype; half precision on the GPU).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.fx

from sparoa_sim.real.run.results import DEV_NAMES, GPU, OpTiming, TransferTiming

__all__ = ["POLL_S", "Aborted", "DeviceLink", "RunState", "Slot", "Staged", "map_tensors", "mapped_view", "tensors"]

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
        self.staged: dict[int, Staged] = {}  # input node → its pinned copy for the GPU
        self.abort = threading.Event()
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        # liveness: consumers still to read each fx node's value, per device (a value is dropped
        # once nobody will read it, as eager PyTorch frees it: keeping every intermediate alive
        # cost ~9 % on ResNet-50), and the operators the other device reads (through a slot)
        self.uses: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.cross: frozenset[int] = frozenset()


_TYPESTR = {torch.float32: "<f4", torch.float16: "<f2", torch.bfloat16: "<V2", torch.float64: "<f8",
            torch.int64: "<i8", torch.int32: "<i4", torch.int16: "<i2", torch.int8: "|i1", torch.uint8: "|u1",
            torch.bool: "|b1"}


class _CudaArray:
    """A pinned host buffer described by ``__cuda_array_interface__`` (its UVA pointer)."""

    def __init__(self, t: torch.Tensor) -> None:
        self.__cuda_array_interface__ = {
            "shape": tuple(t.shape), "typestr": _TYPESTR[t.dtype], "data": (t.data_ptr(), False), "version": 2,
            "strides": tuple(st * t.element_size() for st in t.stride())}


def mapped_view(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CUDA tensor reading pinned host tensor ``t`` in place (zero-copy; CUDA unified addressing:
    a pinned buffer's host pointer is valid on the device). The caller keeps ``t`` alive."""
    if not t.is_pinned() or not t.is_contiguous():
        raise ValueError("mapped_view needs a contiguous pinned tensor")
    if t.dtype == torch.bfloat16:
        raise ValueError("mapped_view: bfloat16 has no __cuda_array_interface__ type string")
    return torch.as_tensor(_CudaArray(t), device=device)


class Staged:
    """A CPU value copied into pinned buffers for the GPU; ``start``: when the copy began (host clock)."""

    __slots__ = ("value", "start", "nbytes")

    def __init__(self, value: Any, start: float, nbytes: int) -> None:
        self.value, self.start, self.nbytes = value, start, nbytes


class DeviceLink:
    """Clocks of both devices and the copies between them, for one executor.

    ``devices``: (CPU, GPU-role) torch devices; ``streams``: the GPU's compute, host→GPU and
    GPU→host streams (CUDA only); ``dtypes``: the floating dtype on each device; ``mapped``:
    host → GPU values are read in place from pinned memory (integrated GPUs) instead of copied.
    """

    def __init__(self, cuda: bool, devices: tuple[torch.device, torch.device], streams: tuple[Any, ...] = (),
                 dtypes: tuple[torch.dtype, torch.dtype] = (torch.float32, torch.float32),
                 mapped: bool = False) -> None:
        self.cuda = cuda
        self.devices = devices
        self.streams = streams
        self.dtypes = dtypes
        self.mapped = mapped
        self.t0 = 0.0
        self.base_event: Any = None
        self.pool: dict[tuple, torch.Tensor] = {}  # pinned staging buffers, kept across runs
        self.pool_limit = 4096

    def _cast(self, t: torch.Tensor, d: int) -> torch.dtype:
        return self.dtypes[d] if t.is_floating_point() else t.dtype

    def stage(self, value: Any, key: Any) -> Staged:
        """Copy a CPU ``value`` into this link's pinned buffers for ``key`` (in the GPU's dtype)."""
        start = time.perf_counter()
        n = [0]

        def put(t: torch.Tensor) -> torch.Tensor:
            dtype = self._cast(t, GPU)
            k = (key, n[0], tuple(t.shape), dtype)
            n[0] += 1
            buf = self.pool.get(k)
            if buf is None:
                buf = self.pool[k] = torch.empty(t.shape, dtype=dtype, pin_memory=True)
            return buf.copy_(t)

        staged = map_tensors(value, put)
        return Staged(staged, start, sum(t.numel() * t.element_size() for t in tensors(staged)))

    def start(self) -> float:
        """Mark the run's start on both devices (after the GPU is idle); returns the host's."""
        if self.cuda:
            torch.cuda.synchronize(self.devices[GPU])  # also: no DMA still reads a staging buffer
            if len(self.pool) > self.pool_limit:  # ever-new shapes (a placer's splits): do not grow forever
                self.pool.clear()
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

    def publish(self, slot: Slot, value: Any, d: int, key: Any = None) -> None:
        """Hand ``value``, made on device ``d``, to the other device's worker (on CUDA a CPU value
        is staged into pinned memory here, by its producer: ``key`` names its buffers)."""
        if self.cuda and d == GPU:
            ev = torch.cuda.Event()
            ev.record(self.streams[0])
            slot.event = ev
        elif self.cuda:
            value = self.stage(value, key)
        slot.value = value
        slot.ready.set()

    def copy_value(self, run: RunState, value: Any, src: int, dst: int, i: int, name: str, kind: str = "transfer",
                   event: Any = None) -> Any:
        """Copy ``value`` from device ``src`` to ``dst`` (after ``event`` on CUDA), recording its timing.

        A :class:`Staged` value is already in pinned memory: its transfer started when staging did.
        """
        staged_s = 0.0
        if not self.cuda:
            start = self.mark(dst)
            out = map_tensors(value, lambda t: t.to(self._cast(t, dst)) if t.dtype != self._cast(t, dst) else t.clone())
            end = self.mark(dst)
            nbytes = sum(t.numel() * t.element_size() for t in tensors(out))
        elif dst == GPU:  # host → device: pinned staging (by the producer), then the DMA or a mapped read
            if not isinstance(value, Staged):  # not staged by its producer (a folded value): stage here, timed
                value = self.stage(value, (i, kind))
            start, nbytes = value.start, value.nbytes
            if self.mapped:  # zero-copy: the GPU reads the pinned buffer in place; no DMA
                out = map_tensors(value.value, lambda t: mapped_view(t, self.devices[GPU]))
                end = time.perf_counter()
                staged_s = end - start
            else:
                h2d = self.streams[1]
                with torch.cuda.stream(h2d):
                    staged_s = time.perf_counter() - start
                    out = map_tensors(value.value, lambda t: t.to(self.devices[GPU], non_blocking=True))
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
                out = map_tensors(value, lambda t: torch.empty(t.shape, dtype=self._cast(t, dst), pin_memory=True)
                                  .copy_(t.to(self._cast(t, dst)), non_blocking=True))
                end = self.mark(GPU)
            end.synchronize()
            nbytes = sum(t.numel() * t.element_size() for t in tensors(value))
        run.marks.append(("xfer", i, name, src, dst, kind, nbytes, start, end, staged_s))
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
                _, i, name, src, dst, kind, nbytes, s, e, staged_s = m
                xfers.append(TransferTiming(i, name, DEV_NAMES[src], DEV_NAMES[dst], self.seconds(s),
                                            self.seconds(e), int(nbytes), kind, staged_s))
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
