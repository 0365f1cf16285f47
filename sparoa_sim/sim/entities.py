"""The engine's entities: the batch in flight, a task on a device, a split's bookkeeping, a timer.

Plain slotted classes with per-operator state in Python lists (not numpy: the hot path reads
single entries), shared by the engine's components (``sim.dispatcher``, ``sim.executors``…).
"""

from __future__ import annotations

from typing import Any

from sparoa_sim.sim.predtables import PredTables

__all__ = ["CPU", "GPU", "CopyTimer", "EndTimer", "Job", "MergeTimer", "PartTask", "Split", "Task", "Timer",
           "new_instance"]

CPU, GPU = 0, 1


class Timer:
    """The engine's own timer: a minimal SimPy event (a callback list, always successful),
    scheduled with ``Environment.schedule``. It saves a third of a ``Timeout``'s cost, which
    matters with one or two timers per simulated operator; a superseded timer is simply
    ignored by its callback (see ``Executors.retime``)."""

    __slots__ = ("callbacks",)
    _ok = True
    _value = None

    def __init__(self, callback) -> None:
        self.callbacks = [callback]


#: Make an entity without a call to ``__init__`` (the hot path sets its slots itself): a task, or a
#: timer — ``ev = new_instance(Timer); ev.callbacks = cbs`` with a tuple of one callback built once per
#: component (SimPy never mutates an event's callbacks, so one tuple serves every timer of a component).
#: The event loop reads callbacks in a tuple as this: a successful event with exactly one callback, which
#: nothing reads after it fires, so ``EventLoop.run`` leaves its callbacks in place (SimPy's ``step`` sets
#: them to None).
new_instance = object.__new__


class EndTimer(Timer):
    """The end of a task on device ``dev``: its callback is a plain bound method (no ``partial`` per
    device, which CPython 3.11 cannot call inline)."""

    __slots__ = ("dev",)


class CopyTimer(Timer):
    """The end of a copy: the timer carries what its callback needs (no closure per copy)."""

    __slots__ = ("job", "src", "dev", "t0")


class MergeTimer(Timer):
    """The end of a split's merge copy."""

    __slots__ = ("split", "t0", "nbytes")


class Job:
    """One batch in flight: per-operator state as plain lists indexed by operator.

    ``lane`` is the request stream the batch belongs to (``sim.streams.Lane``: its graph, its
    dispatcher, its request accounting); ``td`` and ``sink`` are that graph's host time per
    operator, sink flags and consumers, copied here so the hot path reads them in one step. ``seq`` numbers
    every batch of the run in start order (the trace's job index), ``nth`` the batches of its own
    stream; with one stream they are equal.
    """

    __slots__ = ("seq", "nth", "requests", "tables", "lane", "td", "sink", "cons", "unissued", "res", "share",
                 "waiters", "left", "done", "placed", "z")

    def __init__(self, seq: int, nth: int, requests: list[int], tables: PredTables, lane: Any,
                 z: list[float] | None) -> None:
        n = lane.n
        self.seq = seq
        self.nth = nth
        self.requests = requests
        self.tables = tables
        self.lane = lane
        self.td = lane.td
        self.sink = lane.is_sink
        self.cons = lane.gt.cons  # consumers per operator (released as it is issued)
        self.unissued = lane.indeg[:]  # producers not yet issued, per operator
        # Residency bits per output (index n = the request's input): 1 on CPU, 2 on GPU,
        # 4 copy to CPU under way, 8 copy to GPU under way.
        self.res = [0] * (n + 1)
        self.res[n] = 1
        self.share = [-1.0] * n + [0.0]  # GPU share chosen per operator (-1 = not yet)
        self.waiters: dict[int, list[Task]] = {}  # 2*output + device -> tasks waiting for it there
        self.left = n  # operators (and final output copies) still to finish
        self.done = 0
        self.placed = 0
        self.z = z  # noise factor per (2*op + device), or None


class Task:
    """A whole operator on one device.

    While it runs: ``t0`` start time, ``z`` its noise factor, ``dur`` its duration at the
    current rates, ``frac`` the fraction of its work left at ``t_seg`` (the last re-timing).
    """

    __slots__ = ("job", "op", "dev", "base", "waits", "dur", "frac", "t_seg", "t0", "z")
    part = None  # a whole operator is no part of a split
    split = None

    def __init__(self, job: Job, op: int, dev: int, base: float) -> None:
        self.job = job
        self.op = op
        self.dev = dev
        self.base = base  # predicted latency on an idle machine
        self.waits = 0  # inputs not yet on the device


class PartTask(Task):
    """One device's part of a split operator."""

    __slots__ = ("part", "split")

    def __init__(self, job: Job, op: int, dev: int, part: Any, split: Any) -> None:
        super().__init__(job, op, dev, part.lat)
        self.part = part  # its SplitPart
        self.split = split  # the Split both parts report to


class Split:
    """Bookkeeping of one split operator: both parts and the merge copy must finish."""

    __slots__ = ("job", "op", "share", "home", "left")

    def __init__(self, job: Job, op: int, share: float) -> None:
        self.job = job
        self.op = op
        self.share = share
        self.home = GPU if share >= 0.5 else CPU
        self.left = 3
