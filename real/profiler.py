"""Profiler: per-operator timings of an fx graph on a real device → the twin's measurement table.

For each batch size the profiler times

- **isolated**: each operator alone, its fx node's target (module or function) called again and
  again on the inputs it received in a real pass of the traced graph (warm caches, no
  neighbours);
- **graph**: each operator inside full passes of the traced graph (an fx interpreter timing
  every node). Nodes that are not operators of the IR — views folded by the extractor,
  ``get_attr`` and constant sub-graphs — are attributed to the first operator that consumes
  them (transitively), or, when none does (a view feeding the output), to the last operator
  they depend on; nodes with neither are ignored. So the in-graph times add up to a pass;
- **end to end**: eager ``model(x)``.

Every figure is a median over repetitions, with two independent medians ``a`` and ``b``: the
repetitions are split in two halves taken at different moments (isolated walk A, graph passes
A, eager A, then the same again for B), so the repeatability ``|a − b| / median`` of each figure
says how far a second measurement would land. Repetitions adapt to the operator: after
``warmup`` calls, ``clamp(target / t, min_reps, reps)`` (split between the halves).

Also measured: a STREAM-like sustained bandwidth (copy and triad) and a dense-vs-CSR sweep of
linear-layer shapes over weight sparsity, so the sparse gain is measured, not assumed. The
result is a :class:`~sparoa_sim.hwmodels.measurements.MeasurementTable` (plain JSON, read by
the calibration without torch). On CUDA, times come from CUDA events with synchronisation.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import math
import operator
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from sparoa_sim.errors import CalibrationError, GraphError
from sparoa_sim.graph import OpGraph, atomic_write_text
from sparoa_sim.hwmodels.measurements import (
    Bandwidth,
    EndToEnd,
    MeasuredOp,
    MeasurementTable,
    SparsePoint,
    StreamFigure,
    load_table,
    merge_tables,
    repeatability,
    table_to_json,
)
from sparoa_sim.real.allocator import ALLOCATOR_NOTE, keep_freed_memory
from sparoa_sim.real.extract import extract, magnitude_prune
from sparoa_sim.real.sparse_kernels import sparse_linear, to_csr

__all__ = [
    "CLOCKS",
    "DEFAULT_SPARSE_SHAPES",
    "DEFAULT_SPARSITIES",
    "profile_model",
    "profile_workload",
    "measure_bandwidth",
    "sparse_sweep",
    "host_info",
    "save_table",
    "time_eager",
    "time_eager_interleaved",
    "load_table",
    "merge_tables",
    "repeatability",
    "resolve_workload",
    "parse_batches",
]

#: Weight sparsities of the dense-vs-CSR sweep.
DEFAULT_SPARSITIES: tuple[float, ...] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95)
#: (out_features, in_features, cols) of the sweep: a ResNet classifier at batch 1, a square
#: layer at a small batch, and ViT-B's projection and both MLP layers over its 197 tokens (the
#: CSR kernel's speed depends on the shape: at 80 % sparsity it wins on the first two and loses
#: by up to 1.5x on the MLP's 3072-wide input, so the sweep covers the layers the pruned
#: workloads have).
DEFAULT_SPARSE_SHAPES: tuple[tuple[int, int, int], ...] = (
    (1000, 2048, 1), (1024, 1024, 16), (768, 768, 197), (3072, 768, 197), (768, 3072, 197))

_MIN_TIME_S = 1e-9  # a figure is never reported as zero (timer resolution floor)
_PRUNED = re.compile(r"^(?P<base>.+)_pruned(?P<pct>\d{1,2})$")


# ---------------------------------------------------------------------------------------------
# clocks and repetition


#: What a CPU figure measures: wall time, or the CPU time of the timing thread (one torch thread
#: only), which leaves out the time other tenants of a shared host take the core away.
CLOCKS = ("wall", "thread_cpu")


@dataclass(frozen=True)
class _Clock:
    """Marks points in time on the host (``perf_counter_ns``, or ``thread_time_ns`` for the CPU
    time of this thread) or on a CUDA stream (events)."""

    cuda: bool
    cpu_time: bool = False

    def mark(self) -> Any:
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.thread_time_ns() if self.cpu_time else time.perf_counter_ns()

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def seconds(self, start: Any, end: Any) -> float:
        """Elapsed seconds between two marks (call :meth:`sync` first on CUDA)."""
        if self.cuda:
            return max(_MIN_TIME_S, start.elapsed_time(end) / 1e3)
        return max(_MIN_TIME_S, (end - start) / 1e9)


def _make_clock(dev: torch.device, clock: str) -> _Clock:
    """The clock of a run; ``thread_cpu`` needs a CPU device and exactly one torch thread (call it
    inside :func:`_quiet_runtime`): with more, the work of the other threads would be missed."""
    if clock not in CLOCKS:
        raise CalibrationError(f"--clock: {clock!r} is not a clock (known: {', '.join(CLOCKS)})")
    if clock == "thread_cpu":
        if dev.type != "cpu":
            raise CalibrationError(f"--clock thread_cpu: only for the CPU, not {dev.type!r}")
        if torch.get_num_threads() != 1:
            raise CalibrationError(f"--clock thread_cpu: needs --threads 1 (torch runs {torch.get_num_threads()} "
                                   "threads; their CPU time would be missed)")
    return _Clock(dev.type == "cuda", cpu_time=clock == "thread_cpu")


def _time_calls(fn: Callable[[], Any], clock: _Clock, n: int) -> list[float]:
    """Seconds of each of ``n`` consecutive calls of ``fn``."""
    marks = []
    for _ in range(n):
        start = clock.mark()
        fn()
        marks.append((start, clock.mark()))
    clock.sync()
    return [clock.seconds(s, e) for s, e in marks]


def _n_reps(estimate_s: float, target_s: float, lo: int, hi: int) -> int:
    """Repetitions that fill ``target_s`` at ``estimate_s`` each, clamped to [lo, hi]."""
    want = math.ceil(target_s / max(estimate_s, _MIN_TIME_S))
    return int(min(hi, max(lo, want)))


def _adaptive(fn: Callable[[], Any], clock: _Clock, warmup: int, target_s: float, lo: int, hi: int) -> list[float]:
    """Warm up, estimate one call, then time enough calls to fill ``target_s``."""
    estimate = min(_time_calls(fn, clock, max(1, warmup)))
    return _time_calls(fn, clock, _n_reps(estimate, target_s, lo, hi))


def _settle(fn: Callable[[], Any], clock: _Clock, max_s: float, tol: float = 0.10) -> float:
    """Call ``fn`` until three calls in a row agree within ``tol`` (or ``max_s`` passes).

    A fresh process, or one that just freed a lot of memory, runs slowly for a while (pages
    faulted in, memory reclaimed under virtual machines); timing only starts once it is steady.
    Returns the seconds spent.
    """
    t0 = time.perf_counter()
    recent: list[float] = []
    while time.perf_counter() - t0 < max_s:
        recent = [*recent[-2:], _time_calls(fn, clock, 1)[0]]
        if len(recent) == 3 and max(recent) <= (1 + tol) * min(recent):
            break
    return time.perf_counter() - t0


def _median(xs: Sequence[float]) -> float:
    return max(_MIN_TIME_S, float(statistics.median(xs)))


@dataclass(frozen=True)
class _Figure:
    """A timed figure: median over all repetitions and the medians of its two halves."""

    time_s: float
    time_s_a: float
    time_s_b: float
    reps: int


def _figure(half_a: Sequence[float], half_b: Sequence[float]) -> _Figure:
    return _Figure(_median([*half_a, *half_b]), _median(half_a), _median(half_b), len(half_a) + len(half_b))


@dataclass(frozen=True)
class _Reps:
    """Repetition policy per half of a figure: floor, cap and the time to fill."""

    lo: int
    hi: int
    warmup: int
    settle_s: float
    iso_target_s: float
    graph_target_s: float
    e2e_target_s: float


@contextlib.contextmanager
def _quiet_runtime(threads: int | None) -> Iterator[int]:
    """Inference mode, fixed thread count (restored afterwards), no GC pauses while timing, and
    freed memory kept with the process (``real.allocator``: no page faults from a fresh mapping
    on every pass)."""
    keep_freed_memory()
    old_threads = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise CalibrationError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        with torch.inference_mode():
            yield torch.get_num_threads()
    finally:
        if gc_was_enabled:
            gc.enable()
        torch.set_num_threads(old_threads)


# ---------------------------------------------------------------------------------------------
# host


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


def _device(device: str) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise CalibrationError(f"--device: {device!r} is not a device ({exc}); use cpu or cuda") from None
    if dev.type not in ("cpu", "cuda"):
        raise CalibrationError(f"--device: {device!r} is not supported (cpu, cuda)")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CalibrationError(f"--device: {device!r} asked for, but no CUDA device is available on this host")
    return dev


# ---------------------------------------------------------------------------------------------
# bandwidth


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
    f = _figure(half_a, half_b)
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
    dev = _device(device)
    nbytes = int(nbytes or _default_stream_bytes(dev.type == "cuda"))
    if nbytes < 4:
        raise CalibrationError(f"measure_bandwidth: nbytes must be >= 4, got {nbytes}")
    n = nbytes // 4
    clock_name = clock
    half = max(1, math.ceil(reps / 2))
    with _quiet_runtime(threads) as nthreads:
        clock = _make_clock(dev, clock_name)
        src = torch.full((n,), 1.5, device=dev)  # values are irrelevant; full() touches every page
        other = torch.full((n,), 0.5, device=dev)
        dst = torch.zeros(n, device=dev)
        kernels: dict[str, tuple[Callable[[], Any], float]] = {"copy": (lambda: dst.copy_(src), 2.0 * n * 4)}
        if triad:
            kernels["triad"] = (lambda: torch.add(src, other, alpha=3.0, out=dst), 3.0 * n * 4)
        times: dict[str, list[list[float]]] = {k: [] for k in kernels}
        for _half in range(2):
            for k, (fn, _) in kernels.items():
                _time_calls(fn, clock, warmup)
                times[k].append(_time_calls(fn, clock, half))
        figs = {k: _stream_figure(*times[k], kernels[k][1]) for k in kernels}
        del src, other, dst
    return Bandwidth(nbytes=n * 4, threads=nthreads, copy=figs["copy"], triad=figs.get("triad"))


# ---------------------------------------------------------------------------------------------
# sparse sweep


def _sparse_weight(out_f: int, in_f: int, sparsity: float, gen: torch.Generator) -> torch.Tensor:
    """A random weight with exactly ``round(sparsity · numel)`` zeros at random positions."""
    w = torch.randn(out_f, in_f, generator=gen)
    k = int(round(sparsity * w.numel()))
    if k:
        idx = torch.randperm(w.numel(), generator=gen)[:k]
        w.view(-1)[idx] = 0.0
    return w


def sparse_sweep(
    device: str = "cpu",
    shapes: Sequence[tuple[int, int, int]] = DEFAULT_SPARSE_SHAPES,
    sparsities: Sequence[float] = DEFAULT_SPARSITIES,
    *,
    reps: int = 20,
    min_reps: int = 6,
    warmup: int = 2,
    target_s: float = 0.05,
    seed: int = 0,
    threads: int | None = None,
    clock: str = "wall",
) -> tuple[SparsePoint, ...]:
    """Dense ``F.linear`` vs its CSR form per (out, in, cols) shape and weight sparsity.

    The CSR side is the executor's own kernel (``real.sparse_kernels.sparse_linear``, layout
    changes included); the measured speed-up ``dense_s / sparse_s`` is what the twin's
    sparse-kernel figures are fitted to (``hwmodels.calibrate.fit_sparse``). Dense and sparse alternate in two halves so each carries its repeatability.
    """
    dev = _device(device)
    for s in sparsities:
        if not 0.0 <= s < 1.0:
            raise CalibrationError(f"sparse_sweep: sparsity must lie in [0, 1), got {s!r}")
    for shape in shapes:
        if len(shape) != 3 or any(int(d) < 1 for d in shape):
            raise CalibrationError(f"sparse_sweep: shape must be (out_features, in_features, cols) >= 1, got {shape!r}")
    clock_name = clock
    lo, hi = max(1, math.ceil(min_reps / 2)), max(1, math.ceil(reps / 2))
    gen = torch.Generator().manual_seed(seed)
    points: list[SparsePoint] = []
    with _quiet_runtime(threads):
        clock = _make_clock(dev, clock_name)
        for out_f, in_f, cols in shapes:
            x = torch.randn(cols, in_f, generator=gen).to(dev)  # activations as a linear layer sees them
            for s in sparsities:
                w = _sparse_weight(out_f, in_f, float(s), gen).to(dev)
                w_csr = to_csr(w)
                fns = {"dense": lambda w=w: F.linear(x, w), "sparse": lambda w_csr=w_csr: sparse_linear(x, w_csr, None)}
                halves: dict[str, list[list[float]]] = {"dense": [], "sparse": []}
                for _half in range(2):
                    for k, fn in fns.items():
                        halves[k].append(_adaptive(fn, clock, warmup, target_s / 2, lo, hi))
                d, sp = _figure(*halves["dense"]), _figure(*halves["sparse"])
                nnz = int(w_csr.values().numel())
                points.append(
                    SparsePoint(
                        out_features=out_f, in_features=in_f, cols=cols, sparsity=float(s),
                        w_sparsity=1.0 - nnz / w.numel(), nnz=nnz,
                        dense_s=d.time_s, dense_s_a=d.time_s_a, dense_s_b=d.time_s_b,
                        sparse_s=sp.time_s, sparse_s_a=sp.time_s_a, sparse_s_b=sp.time_s_b,
                        speedup=d.time_s / sp.time_s, reps=min(d.reps, sp.reps),
                    )
                )  # fmt: skip
    return tuple(points)


# ---------------------------------------------------------------------------------------------
# operators: isolated and in graph

_INPLACE_FUNCS = {operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.setitem}


def _may_mutate(node: torch.fx.Node, modules: dict[str, nn.Module]) -> bool:
    """Whether calling the node may write into its inputs (then it is timed on copies)."""
    if node.op == "call_module":
        return bool(getattr(modules[str(node.target)], "inplace", False))
    if node.op == "call_method":
        return str(node.target).endswith("_")
    if node.op == "call_function":
        return node.target in _INPLACE_FUNCS or bool(node.kwargs.get("inplace", False))
    return False


def _callable(interp: torch.fx.Interpreter, n: torch.fx.Node) -> Callable[..., Any]:
    """The node's work as a plain callable, resolved before the clock starts (no attribute walk)."""
    if n.op == "call_module":
        return interp.fetch_attr(str(n.target))
    if n.op == "call_function":
        return n.target  # type: ignore[return-value]
    if n.op == "call_method":
        name = str(n.target)
        return lambda self_obj, *args, **kwargs: getattr(self_obj, name)(*args, **kwargs)
    return lambda: interp.fetch_attr(str(n.target))  # get_attr


def _clone_tensors(value: Any) -> Any:
    return torch.fx.node.map_aggregate(value, lambda v: v.clone() if isinstance(v, torch.Tensor) else v)


class _IsolatedWalker(torch.fx.Interpreter):
    """Runs the graph once; at each operator node, times its target alone on the node's inputs."""

    def __init__(self, gm: torch.fx.GraphModule, op_index: dict[str, int], clock: _Clock, reps: _Reps,
                 on_op: Callable[[], None]) -> None:  # fmt: skip
        super().__init__(gm)
        self.op_index = op_index
        self.clock = clock
        self.reps = reps
        self.on_op = on_op
        self.modules = dict(gm.named_modules())
        self.times: dict[int, list[float]] = {}

    def run_node(self, n: torch.fx.Node) -> Any:
        i = self.op_index.get(n.name)
        if i is None:
            return super().run_node(n)
        with self._set_current_node(n):
            args, kwargs = self.fetch_args_kwargs_from_env(n)
            fn = _callable(self, n)
            t_args, t_kwargs = args, kwargs
            if _may_mutate(n, self.modules):
                t_args, t_kwargs = _clone_tensors(args), _clone_tensors(kwargs)
            r = self.reps
            call = lambda: fn(*t_args, **t_kwargs)  # noqa: E731
            self.times[i] = _adaptive(call, self.clock, r.warmup, r.iso_target_s, r.lo, r.hi)
            self.on_op()
            return fn(*args, **kwargs)


class _GraphTimer(torch.fx.Interpreter):
    """Runs the graph, timing every node; each node's time goes to the operator that owns it."""

    def __init__(self, gm: torch.fx.GraphModule, owner: dict[str, int], n_ops: int, clock: _Clock) -> None:
        super().__init__(gm)
        self.owner = owner
        self.n_ops = n_ops
        self.clock = clock
        self.marks: list[tuple[int, Any, Any]] = []
        self.calls = {n.name: _callable(self, n) for n in gm.graph.nodes if n.name in owner}

    def run_node(self, n: torch.fx.Node) -> Any:
        i = self.owner.get(n.name)
        if i is None:
            return super().run_node(n)
        with self._set_current_node(n):
            args, kwargs = self.fetch_args_kwargs_from_env(n)
            fn = self.calls[n.name]
            start = self.clock.mark()
            out = fn(*args, **kwargs)
            self.marks.append((i, start, self.clock.mark()))
            return out

    def timed_pass(self, x: torch.Tensor) -> list[float]:
        """Seconds per operator in one full pass (views and constants included, see module doc)."""
        self.marks = []
        self.run(x)
        self.clock.sync()
        per_op = [0.0] * self.n_ops
        for i, s, e in self.marks:
            per_op[i] += self.clock.seconds(s, e)
        return per_op


def _attribution(gm: torch.fx.GraphModule, op_index: dict[str, int]) -> dict[str, int]:
    """fx node → owning operator: itself, else its first consuming operator, else its last producer."""
    nodes = list(gm.graph.nodes)
    down: dict[str, int | None] = {}
    for n in reversed(nodes):
        if n.name in op_index:
            down[n.name] = op_index[n.name]
            continue
        users = [down[u.name] for u in n.users if down.get(u.name) is not None]
        down[n.name] = min(users) if users else None  # type: ignore[type-var]
    up: dict[str, int | None] = {}
    owner: dict[str, int] = {}
    for n in nodes:
        if n.name in op_index:
            up[n.name] = op_index[n.name]
        else:
            producers = [up[a.name] for a in n.all_input_nodes if up.get(a.name) is not None]
            up[n.name] = max(producers) if producers else None  # type: ignore[type-var]
        if n.op in ("placeholder", "output"):
            continue
        o = down[n.name] if down[n.name] is not None else up[n.name]
        if o is not None:
            owner[n.name] = o
    return owner


def _graph_module(model: nn.Module, graph: OpGraph) -> tuple[torch.fx.GraphModule, dict[str, int]]:
    """Trace ``model`` and map the IR's operators (named by fx node) to their indices."""
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many kinds of errors on untraceable code
        raise GraphError(f"{graph.name}: torch.fx cannot trace the model: {type(exc).__name__}: {exc}") from None
    nodes = {n.name: n for n in gm.graph.nodes}
    op_index: dict[str, int] = {}
    for i, op in enumerate(graph.ops):
        node = nodes.get(op.name)
        if node is None or not node.op.startswith("call_"):
            raise GraphError(f"{graph.name}: operator {i} ({op.name!r}) has no call node in the traced model")
        op_index[op.name] = i
    return gm, op_index


@dataclass(frozen=True)
class _BatchResult:
    isolated: tuple[_Figure, ...]
    graph: tuple[_Figure, ...]
    e2e: _Figure


def _profile_batch(
    model: nn.Module,
    gm: torch.fx.GraphModule,
    op_index: dict[str, int],
    owner: dict[str, int],
    x: torch.Tensor,
    clock: _Clock,
    reps: _Reps,
    on_op: Callable[[], None],
) -> _BatchResult:
    """Both halves (isolated walk, graph passes, eager) of one batch size, interleaved in time."""
    n_ops = len(op_index)
    iso: list[dict[int, list[float]]] = []
    graph: list[list[list[float]]] = []
    e2e: list[list[float]] = []
    timer = _GraphTimer(gm, owner, n_ops, clock)
    _settle(lambda: model(x), clock, reps.settle_s)
    for _half in range(2):
        walker = _IsolatedWalker(gm, op_index, clock, reps, on_op)
        walker.run(x)
        iso.append(walker.times)
        t0 = time.perf_counter()
        for _ in range(max(1, reps.warmup)):
            timer.timed_pass(x)
        pass_s = (time.perf_counter() - t0) / max(1, reps.warmup)
        passes = _n_reps(pass_s, reps.graph_target_s, reps.lo, reps.hi)
        graph.append([timer.timed_pass(x) for _ in range(passes)])
        e2e.append(_adaptive(lambda: model(x), clock, reps.warmup, reps.e2e_target_s, reps.lo, reps.hi))
    iso_figs = tuple(_figure(iso[0][i], iso[1][i]) for i in range(n_ops))
    graph_figs = tuple(_figure([p[i] for p in graph[0]], [p[i] for p in graph[1]]) for i in range(n_ops))
    return _BatchResult(iso_figs, graph_figs, _figure(*e2e))


def _rows(graph: OpGraph, workload: str, batch: int, context: str, figs: Sequence[_Figure]) -> list[MeasuredOp]:
    return [
        MeasuredOp(
            workload=workload, op=op.name, op_index=i, kind=op.kind.value, batch=batch, context=context,
            macs=op.macs, flops=op.flops, bytes_in=op.bytes_in, bytes_out=op.bytes_out, bytes_w=op.bytes_w,
            act_sparsity=op.act_sparsity, w_sparsity=op.w_sparsity, out_elems=float(op.out_elems),
            time_s=f.time_s, time_s_a=f.time_s_a, time_s_b=f.time_s_b, reps=f.reps,
        )  # fmt: skip
        for i, (op, f) in enumerate(zip(graph.ops, figs, strict=True))
    ]


def _check_batches(batches: Sequence[int]) -> tuple[int, ...]:
    out = tuple(batches)
    if not out or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in out):
        raise CalibrationError(f"--batch: batch sizes must be positive integers, got {list(batches)!r}")
    return tuple(dict.fromkeys(out))


def _progress_bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="op", disable=not enabled, file=sys.stderr, leave=False)


def profile_model(
    model: nn.Module,
    example_input: torch.Tensor,
    *,
    name: str,
    device: str = "cpu",
    batches: Sequence[int] = (1,),
    reps: int = 30,
    min_reps: int = 6,
    warmup: int = 2,
    target_s: float = 0.05,
    graph_target_s: float = 2.0,
    e2e_target_s: float = 1.0,
    settle_s: float = 10.0,
    time_budget_s: float | None = None,
    threads: int | None = None,
    prune: float | None = None,
    graph: OpGraph | None = None,
    bandwidth: bool = True,
    bandwidth_bytes: int | None = None,
    sparse_shapes: Sequence[tuple[int, int, int]] | None = DEFAULT_SPARSE_SHAPES,
    sparsities: Sequence[float] = DEFAULT_SPARSITIES,
    progress: bool = True,
    seed: int = 0,
    clock: str = "wall",
) -> MeasurementTable:
    """Profile ``model`` on ``device`` at each batch size → a measurement table.

    The operator graph comes from :func:`~sparoa_sim.real.extract.extract` (or ``graph``, whose
    operator names must be the model's fx node names), so every row carries its operator's IR
    features per sample. Repetitions per figure: between ``min_reps`` and ``reps``, enough to
    fill ``target_s`` (isolated operator), ``graph_target_s`` (graph passes) or ``e2e_target_s``
    (eager passes). Before each batch size, eager passes run until three agree within 10 % (at
    most ``settle_s``), so a process still faulting its memory in is not timed.
    ``time_budget_s`` lowers those targets so the whole call stays near the budget (the
    ``min_reps`` floor wins over it). With ``prune``, the graph and the timed model are
    magnitude-pruned to that weight sparsity (the kernels stay dense; the caller's model is not
    touched). The model is timed in eval mode; its training flag is restored afterwards.
    ``clock="thread_cpu"`` (CPU, ``threads=1`` only) times the CPU time of the timing thread
    instead of wall time: on a host shared with other work, the time the core is taken away is
    left out, so the figures describe the unloaded core (the twin models load separately).
    """
    started = time.perf_counter()
    dev = _device(device)
    batches = _check_batches(batches)
    if reps < 2 or min_reps < 1 or warmup < 0:
        raise CalibrationError(f"reps must be >= 2, min_reps >= 1, warmup >= 0; got {reps}, {min_reps}, {warmup}")
    if graph is None:
        graph = extract(model, example_input, name=name, prune=prune, seed=seed)
    was_training = model.training
    # a copy only where the model would change: pruned weights, or moved to another device
    timed = copy.deepcopy(model) if prune or dev.type != "cpu" else model
    timed.eval()
    if prune:
        magnitude_prune(timed, prune)
    timed = timed.to(dev)
    settings = _Settings(
        reps=reps, min_reps=min_reps, warmup=warmup, target_s=target_s, graph_target_s=graph_target_s,
        e2e_target_s=e2e_target_s, time_budget_s=time_budget_s, threads=threads, prune=prune,
        bandwidth=bandwidth, bandwidth_bytes=bandwidth_bytes,
        sparse_shapes=tuple(sparse_shapes or ()), sparsities=tuple(sparsities), progress=progress, seed=seed,
        settle_s=settle_s, clock=clock,
    )  # fmt: skip
    try:
        return _profile_traced(timed, graph, example_input, name=name, dev=dev, batches=batches, cfg=settings,
                               started=started)  # fmt: skip
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class _Settings:
    """The knobs of :func:`profile_model`, passed on as one value."""

    reps: int
    min_reps: int
    warmup: int
    target_s: float
    graph_target_s: float
    e2e_target_s: float
    time_budget_s: float | None
    threads: int | None
    prune: float | None
    bandwidth: bool
    bandwidth_bytes: int | None
    sparse_shapes: tuple[tuple[int, int, int], ...]
    sparsities: tuple[float, ...]
    progress: bool
    seed: int
    settle_s: float
    clock: str


def _profile_traced(
    timed: nn.Module,
    graph: OpGraph,
    example_input: torch.Tensor,
    *,
    name: str,
    dev: torch.device,
    batches: tuple[int, ...],
    cfg: _Settings,
    started: float,
) -> MeasurementTable:
    """The timing part of :func:`profile_model`, on a model ready on its device in eval mode."""
    device = str(dev)
    gm, op_index = _graph_module(timed, graph)
    owner = _attribution(gm, op_index)
    host = host_info(device)
    bw = None
    sweep: tuple[SparsePoint, ...] = ()
    on_dev = torch.cuda.device(dev) if dev.type == "cuda" else contextlib.nullcontext()
    with _quiet_runtime(cfg.threads) as nthreads, on_dev:  # events and synchronize on this GPU, not the current one
        clock = _make_clock(dev, cfg.clock)
        host["torch_threads"] = nthreads
        extras = cfg.bandwidth or bool(cfg.sparse_shapes)
        policy = _policy(len(op_index), len(batches), cfg, time.perf_counter() - started, extras)
        rows: list[MeasuredOp] = []
        e2e: list[EndToEnd] = []
        sample_shape = tuple(example_input.shape[1:])
        bar = _progress_bar(len(batches) * 2 * len(op_index), f"profile {name}", cfg.progress)
        try:
            for b in batches:
                gen = torch.Generator().manual_seed(cfg.seed)
                x = torch.randn((b, *sample_shape), generator=gen, dtype=example_input.dtype).to(dev)
                bar.set_postfix_str(f"batch {b}")
                res = _profile_batch(timed, gm, op_index, owner, x, clock, policy, lambda: bar.update(1))
                rows += _rows(graph, name, b, "isolated", res.isolated)
                rows += _rows(graph, name, b, "graph", res.graph)
                e2e.append(
                    EndToEnd(
                        workload=name, batch=b, time_s=res.e2e.time_s, time_s_a=res.e2e.time_s_a,
                        time_s_b=res.e2e.time_s_b, reps=res.e2e.reps,
                        sum_isolated_s=sum(f.time_s for f in res.isolated),
                        sum_graph_s=sum(f.time_s for f in res.graph),
                    )
                )  # fmt: skip
        finally:
            bar.close()
        # last: freeing the STREAM arrays (GiBs) can disturb the host for seconds afterwards
        sweep_kw: dict[str, Any] = {}
        bw_kw: dict[str, Any] = {}
        if cfg.time_budget_s is not None:  # the extras share the reserve _policy kept for them
            left = max(0.5, cfg.time_budget_s - (time.perf_counter() - started))
            points = max(1, len(cfg.sparse_shapes) * len(cfg.sparsities))
            sweep_kw = {"target_s": min(0.05, 0.6 * left / (4 * points)), "min_reps": 2, "reps": 6, "warmup": 1}
            bw_kw = {"reps": 4}
        if cfg.sparse_shapes:
            sweep = sparse_sweep(device, cfg.sparse_shapes, cfg.sparsities, seed=cfg.seed, clock=cfg.clock,
                                 **sweep_kw)
        if cfg.bandwidth:
            bw = measure_bandwidth(device, cfg.bandwidth_bytes, clock=cfg.clock, **bw_kw)
    meta = {
        "profiler": "sparoa_sim.real.profiler",
        "graph_attribution": "views, get_attr and constant nodes -> first consuming operator, else last producer",
        "isolated_inputs": "each operator's inputs from a real pass; in-place operators timed on copies",
        "halves": "a = walk/passes/eager of the first half, b = of the second half, taken in turn",
        "reps": cfg.reps, "min_reps": cfg.min_reps, "warmup": cfg.warmup,
        "target_s": policy.iso_target_s * 2, "graph_target_s": policy.graph_target_s * 2,
        "e2e_target_s": policy.e2e_target_s * 2, "settle_s": policy.settle_s,
        "time_budget_s": cfg.time_budget_s, "clock": cfg.clock,
        "seed": cfg.seed, "prune": cfg.prune or 0.0, "sparsity_source": graph.sparsity_source,
        "input_shape": [1, *example_input.shape[1:]], "elapsed_s": round(time.perf_counter() - started, 3),
    }  # fmt: skip
    return MeasurementTable(
        device=dev.type, host=host, rows=tuple(rows), end_to_end=tuple(e2e), bandwidth=bw,
        sparse_sweep=sweep, created=datetime.now(timezone.utc).isoformat(timespec="seconds"), meta=meta,
    )  # fmt: skip


def _policy(n_ops: int, n_batches: int, cfg: _Settings, spent_s: float, extras: bool) -> _Reps:
    """Per-half repetition policy; a budget caps the targets (isolated 50 %, graph 35 %, eager 15 %).

    Of the budget left after extraction, a quarter (at most 5 s) is kept for the bandwidth and
    sparse measurements when they run; 80 % of the rest goes to the targets, the remainder to
    warm-ups and overhead.
    """
    lo = max(1, math.ceil(min(cfg.min_reps, cfg.reps) / 2))
    hi = max(lo, math.ceil(cfg.reps / 2))
    iso, gr, ee = cfg.target_s / 2, cfg.graph_target_s / 2, cfg.e2e_target_s / 2
    settle = cfg.settle_s
    if cfg.time_budget_s is not None:
        reserve = min(0.25 * cfg.time_budget_s, 5.0) if extras else 0.0
        left = max(0.0, cfg.time_budget_s - spent_s - reserve) * 0.8 / (2 * n_batches)  # per batch and half
        iso = min(iso, 0.50 * left / max(1, n_ops))
        gr = min(gr, 0.35 * left)
        ee = min(ee, 0.15 * left)
        settle = min(settle, 0.1 * cfg.time_budget_s / n_batches)
    return _Reps(lo=lo, hi=hi, warmup=cfg.warmup, settle_s=settle, iso_target_s=iso, graph_target_s=gr,
                 e2e_target_s=ee)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# zoo workloads, files, command line


def resolve_workload(name: str) -> tuple[str, float | None]:
    """Zoo model and pruning level of a workload name (``resnet50_pruned80`` → resnet50, 0.8)."""
    from sparoa_sim.real import zoo

    if name in zoo.model_names():
        return name, None
    m = _PRUNED.match(name)
    if m and m.group("base") in zoo.model_names():
        return m.group("base"), int(m.group("pct")) / 100.0
    raise GraphError(f"unknown workload {name!r} (known: {', '.join(zoo.model_names())}, and NAME_prunedNN)")


def profile_workload(name: str, *, reduced: bool = False, seed: int = 0, **kwargs: Any) -> MeasurementTable:
    """Profile a shipped workload (zoo model, pruned variants too); ``kwargs`` → :func:`profile_model`.

    The reduced variant (narrow, 32×32 inputs) is recorded as ``NAME_reduced``.
    """
    from sparoa_sim.real import zoo

    base, prune = resolve_workload(name)
    model = zoo.build(base, seed=seed, reduced=reduced)
    x = zoo.example_input(base, reduced=reduced, seed=seed)
    label = f"{name}_reduced" if reduced else name
    return profile_model(model, x, name=label, prune=prune, seed=seed, **kwargs)


def time_eager(name: str, *, batch: int = 1, device: str = "cpu", reduced: bool = False, threads: int | None = None,
               reps: int = 30, min_reps: int = 6, warmup: int = 2, target_s: float = 1.0, settle_s: float = 5.0,
               seed: int = 0, clock: str = "wall") -> EndToEnd:
    """Eager ``model(x)`` latency of a shipped workload alone (no per-operator timing), two halves.

    For workloads whose end-to-end figure is wanted without profiling every operator (e.g. the
    pruned variants: magnitude-pruned weights, dense kernels). ``sum_isolated_s`` and
    ``sum_graph_s`` are 0 (not measured).
    """
    from sparoa_sim.real import zoo

    base, prune = resolve_workload(name)
    dev = _device(device)
    clock_name = clock
    (b,) = _check_batches([batch])
    if reps < 2 or min_reps < 1 or warmup < 0:
        raise CalibrationError(f"reps must be >= 2, min_reps >= 1, warmup >= 0; got {reps}, {min_reps}, {warmup}")
    model = zoo.build(base, seed=seed, reduced=reduced)
    if prune:
        magnitude_prune(model, prune)
    model = model.to(dev).eval()
    x = zoo.example_input(base, batch=b, reduced=reduced, seed=seed).to(dev)
    lo, hi = max(1, math.ceil(min_reps / 2)), max(1, math.ceil(reps / 2))
    with _quiet_runtime(threads):
        clock = _make_clock(dev, clock_name)
        _settle(lambda: model(x), clock, settle_s)
        halves = [_adaptive(lambda: model(x), clock, warmup, target_s / 2, lo, hi) for _ in range(2)]
    f = _figure(*halves)
    label = f"{name}_reduced" if reduced else name
    return EndToEnd(workload=label, batch=b, time_s=f.time_s, time_s_a=f.time_s_a, time_s_b=f.time_s_b,
                    reps=f.reps, sum_isolated_s=0.0, sum_graph_s=0.0)


def time_eager_interleaved(names: Sequence[str], *, rounds: int = 8, warmup: int = 2, threads: int | None = None,
                           seed: int = 0, clock: str = "wall", reduced: bool = False) -> dict[str, EndToEnd]:
    """Eager latency of several shipped workloads timed in alternation (one pass of each per
    round, ``rounds`` rounds in two halves), so their ratios come from the same moments of a
    host whose speed drifts (CPU, batch 1). Same fields as :func:`time_eager`."""
    from sparoa_sim.real import zoo

    if rounds < 2:
        raise CalibrationError(f"rounds must be >= 2 (two halves), got {rounds}")
    runs: dict[str, Callable[[], Any]] = {}
    for name in names:
        base, prune = resolve_workload(name)
        model = zoo.build(base, seed=seed, reduced=reduced)
        if prune:
            magnitude_prune(model, prune)
        model = model.eval()
        x = zoo.example_input(base, batch=1, seed=seed, reduced=reduced)
        runs[name] = lambda model=model, x=x: model(x)
    halves: dict[str, list[list[float]]] = {n: [[], []] for n in runs}
    with _quiet_runtime(threads):
        clk = _make_clock(torch.device("cpu"), clock)
        for fn in runs.values():
            _time_calls(fn, clk, max(1, warmup))
        for r in range(rounds):
            for name, fn in runs.items():
                halves[name][r * 2 // rounds].extend(_time_calls(fn, clk, 1))
    out = {}
    for name, (a, b) in halves.items():
        f = _figure(a, b)
        out[name] = EndToEnd(workload=name, batch=1, time_s=f.time_s, time_s_a=f.time_s_a, time_s_b=f.time_s_b,
                             reps=f.reps, sum_isolated_s=0.0, sum_graph_s=0.0)
    return out


def save_table(table: MeasurementTable, path: str | os.PathLike[str], indent: int | None = 1) -> Path:
    """Write ``table`` as JSON, atomically (temp file + rename)."""
    return atomic_write_text(path, table_to_json(table, indent=indent) + "\n")


def parse_batches(text: str) -> tuple[int, ...]:
    """``"1,4,16"`` → ``(1, 4, 16)``; a clear :class:`CalibrationError` on anything else."""
    try:
        return _check_batches([int(t) for t in text.split(",") if t.strip()])
    except ValueError:
        raise CalibrationError(f"--batch: expected comma-separated positive integers, got {text!r}") from None
