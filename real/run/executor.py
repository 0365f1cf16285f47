"""Hybrid executor: runs a traced model under a placement, CPU and GPU concurrently (docs/architecture.md §7).

A placement is what the simulator runs (:class:`~sparoa_sim.sim.policies.StaticSchedule`): per IR
operator a GPU share — 0 (CPU), 1 (GPU) or, for an operator with a split axis, a share strictly
between (both devices compute their part, the minor part is copied to the *home* device — the
larger share, the GPU on a tie — and concatenated there, as the engine models it) — and
optionally the order of operators on each device.

Machinery, per :meth:`HybridExecutor.run`:

- each device walks its in-order queue of operators (the schedule's order, or graph order): the
  CPU's in the calling thread, the GPU's in a worker thread; torch releases the GIL inside
  kernels, so the two devices really overlap;
- the GPU worker launches kernels on its own CUDA stream; every produced value is published in a
  slot (a ``threading.Event`` plus, on CUDA, a ``torch.cuda.Event`` marking completion on the
  stream);
- a consumer on the other device copies the value once (it then stays resident there): host →
  GPU from pinned memory with ``non_blocking=True`` on a copy stream the compute stream waits
  on; GPU → host into pinned memory on a copy stream that waits on the producer's event;
- IR operators are fx nodes; fx nodes the extractor folded (views, shape arithmetic) are
  evaluated where they are needed, and constant sub-graphs (no path from the input) once per
  executor and device;
- the request's input starts on the CPU and its outputs end there.

With ``gpu_device=None`` (or no CUDA and nothing placed on the GPU) the GPU role is a second
CPU worker: copies become clones and CUDA events plain thread events, so dependencies,
transfers, splits and merges are exercised on any machine (half precision too: the GPU role's
operators then run in float16 on the CPU). Where a CPU linear/conv operator's
weights are sparse enough, it can run a CSR matmul (``torch.sparse``) instead of the dense
kernel, and where its inputs are, an activation-sparse kernel — the choice the twin models
(``run.cpu_kernels``: :func:`twin_cpu_kernels` / :func:`twin_sparse_ops` ask the twin).

Each pass runs under the executor's ``tf32`` switches and ``precision`` (fp16/fp16_tc: the GPU's
operators in float16), recorded in its :class:`RunResult` (``real.measure.precision``); weights
per device as ``run.weights`` makes them, transfers as ``run.transfers`` does.

This module is the set-up and the walk of each device's queue; results and errors live in
``run.results``, the cutting of split operators in ``run.splits``, the per-run state, clocks
and copies in ``run.transfers`` (the public names of ``results`` are re-exported here).
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from typing import Any, Literal

import numpy as np
import torch
import torch.fx
from torch import nn

from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.real.measure.precision import (
    PrecisionError, check_precision, check_tf32, gpu_dtype, precision_record, tf32_mode)
from sparoa_sim.real.models.extract import extract, out_of_place
from sparoa_sim.real.models.tracing import graph_module, node_callable
from sparoa_sim.real.run.cpu_kernels import CpuKernels, twin_cpu_kernels
from sparoa_sim.real.run.results import (
    CPU,
    DEV_NAMES,
    GPU,
    DeviceUnavailableError,
    ExecutorError,
    OpTiming,
    RunResult,
    TransferTiming,
)
from sparoa_sim.real.run.splits import SplitPlan, input_extent, slice_args, split_plan, split_sizes, weight_rows
from sparoa_sim.real.run.transfers import Aborted, DeviceLink, RunState, Slot, map_tensors
from sparoa_sim.real.run.weights import device_copy, is_integrated

__all__ = [
    "DeviceUnavailableError",
    "ExecutorError",
    "HybridExecutor",
    "OpTiming",
    "RunResult",
    "TransferTiming",
    "is_integrated",
    "random_placement",
    "twin_cpu_kernels",
    "twin_sparse_ops",
]


# ---------------------------------------------------------------------------------------------
# sparse kernels (CPU)


def twin_sparse_ops(graph: OpGraph, platform: Any, *, batch: int = 1, mode: str | None = None) -> tuple[int, ...]:
    """Indices of the operators for which the twin picks the sparse kernel on the CPU."""
    from sparoa_sim.hwmodels import predict

    pred = predict(platform, graph.hw_ops, batch=batch, mode=mode)
    return tuple(int(i) for i in np.flatnonzero(pred.sparse[:, CPU]))

# ---------------------------------------------------------------------------------------------
# the executor


class HybridExecutor:
    """Runs ``module`` (traced with torch.fx) under per-operator GPU shares, both devices at once.

    ``graph``: the module's :class:`OpGraph` (extracted here when None; operator names are fx
    node names). ``gpu_device``: "cuda" (or "cuda:N"), or None to run the GPU role on the CPU.
    ``fallback``: with "cpu", a placement needing an absent GPU runs wholly on the CPU after a
    warning; with "error" it raises :class:`DeviceUnavailableError`. ``cpu_sparse``: operator
    indices (e.g. :func:`twin_sparse_ops`) or a weight-sparsity threshold at which CPU
    linear/conv operators run the CSR kernel; None: always dense. ``cpu_act_sparse``: operator
    indices that run the activation-sparse kernel on the CPU (those of :func:`twin_cpu_kernels`
    valued "act_sparse"; operators that cannot are left dense; ``cpu_kernels`` says what runs). ``tf32``: "conv" | "all" |
    "none" (``real.measure.precision``); ``precision``: "fp32", or "fp16"/"fp16_tc" (the GPU's
    operators in float16). ``share_weights`` / ``mapped_transfers``: integrated GPUs only (see
    the module doc).
    """

    def __init__(
        self,
        module: nn.Module,
        example_input: torch.Tensor,
        graph: OpGraph | None = None,
        gpu_device: str | torch.device | None = "cuda",
        *,
        fallback: Literal["error", "cpu"] = "error",
        cpu_sparse: Iterable[int] | float | None = None,
        cpu_act_sparse: Iterable[int] | None = None,
        name: str | None = None,
        tf32: str = "conv",
        precision: str = "fp32",
        share_weights: bool = False,
        mapped_transfers: bool = False,
    ) -> None:
        try:
            self.tf32, self.precision = check_tf32(tf32), check_precision(precision)
        except PrecisionError as exc:
            raise ExecutorError(f"executor: {exc}") from None
        half = precision != "fp32"
        if half and share_weights:
            raise ExecutorError("executor: share_weights needs one weight copy for both devices, but precision "
                                f"{precision!r} runs the GPU's operators in float16; use fp32")
        if fallback not in ("error", "cpu"):
            raise ExecutorError(f"executor: 'fallback' must be 'error' or 'cpu', got {fallback!r}")
        if not isinstance(module, nn.Module):
            raise ExecutorError(f"executor: expected a torch.nn.Module, got {type(module).__name__}")
        if module.training:  # run a copy in eval mode rather than flipping the caller's module
            module = copy.deepcopy(module).eval()
        elif any(getattr(m, "inplace", False) is True for m in module.modules()):
            module = copy.deepcopy(module)  # made out of place below: the caller's module stays as it is
        if graph is None:
            graph = extract(module, example_input, name=name or type(module).__name__.lower())
        self.graph = graph
        self.workload = name or graph.name
        self._op_names = tuple(op.name for op in graph.ops)
        self.fallback = fallback
        gm, op_index = graph_module(module, graph)
        _out_of_place(gm)
        self._gm = gm
        self._nodes: list[torch.fx.Node] = list(gm.graph.nodes)
        self._idx = {n: k for k, n in enumerate(self._nodes)}
        self._op_of_node = {self._idx[n]: op_index[n.name] for n in self._nodes if n.name in op_index}
        self._op_node = [0] * len(graph)
        for k, i in self._op_of_node.items():
            self._op_node[i] = k
        self._placeholders = [k for k, n in enumerate(self._nodes) if n.op == "placeholder"]
        outs = [n for n in self._nodes if n.op == "output"]
        self._output = outs[0]
        self._static = self._static_nodes()
        self._modules = dict(gm.named_modules())
        self._inputs: list[tuple[int, ...]] = [tuple(sorted({self._idx[a] for a in n.all_input_nodes}))
                                               for n in self._nodes]
        self._flat_args = [self._flat_plan(n) for n in self._nodes]
        self._liveness_cache: dict[tuple, tuple[tuple[dict[int, int], dict[int, int]], frozenset[int]]] = {}

        # devices
        self.gpu_requested = gpu_device is not None
        self.cuda = False
        dev_gpu = torch.device("cpu")
        if gpu_device is not None:
            dev = torch.device(gpu_device)
            if dev.type != "cuda":
                raise ExecutorError(f"executor: 'gpu_device' must be a CUDA device or None, got {str(gpu_device)!r}")
            if torch.cuda.is_available():
                self.cuda = True
                dev_gpu = dev if dev.index is not None else torch.device("cuda", torch.cuda.current_device())
        self.devices = (torch.device("cpu"), dev_gpu)
        self.gpu_available = self.cuda or gpu_device is None
        self.integrated = self.cuda and is_integrated(dev_gpu)
        if (share_weights or mapped_transfers) and self.cuda and not self.integrated:
            raise ExecutorError(f"executor: share_weights/mapped_transfers are for an integrated GPU (one DRAM); "
                                f"{torch.cuda.get_device_name(dev_gpu)} is discrete")
        self.share_weights = share_weights and self.cuda
        self.mapped_transfers = mapped_transfers and self.cuda
        self._pinned_weights: list[torch.Tensor] = []
        interp_cpu = torch.fx.Interpreter(gm)
        dtypes = (torch.float32, gpu_dtype(precision))
        if self.cuda:
            gm_gpu, self._pinned_weights = device_copy(gm, dev_gpu, dtypes[GPU], self.share_weights)
            interp_gpu = torch.fx.Interpreter(gm_gpu)
            self._streams = (torch.cuda.Stream(dev_gpu), torch.cuda.Stream(dev_gpu), torch.cuda.Stream(dev_gpu))
        elif half:  # the emulated GPU role in half precision, on the CPU
            gm_gpu, _ = device_copy(gm, dev_gpu, dtypes[GPU], False)
            interp_gpu = torch.fx.Interpreter(gm_gpu)
            self._streams = ()
        else:
            gm_gpu, interp_gpu = gm, interp_cpu
            self._streams = ()
        self._dtypes = dtypes
        self._link = DeviceLink(self.cuda, self.devices, self._streams, dtypes, self.mapped_transfers)
        # bound once: the per-operator hot path calls them directly (a test may patch _copy_value)
        self._mark, self._wait, self._publish = self._link.mark, self._link.wait, self._link.publish
        self._copy_value = self._link.copy_value
        self._roots = (gm, gm_gpu)
        self._calls = tuple(
            {k: node_callable(ip, n) for k, n in enumerate(self._nodes) if n.op.startswith("call_") or n.op == "get_attr"}
            for ip in (interp_cpu, interp_gpu)
        )
        self._const = self._constants()

        # splitting and sparse kernels
        self._plans: list[SplitPlan | None] = []
        for i, op in enumerate(graph.ops):
            node = self._nodes[self._op_node[i]]
            plan = None
            if op.split_axis is not None:
                plan = split_plan(node, op.kind, op.split_axis, self._modules, len(op.out_shape))
            self._plans.append(plan)
        self._kern = CpuKernels(graph, self._nodes, self._op_node, self._modules, cpu_sparse, cpu_act_sparse)
        self.cpu_sparse, self.cpu_act_sparse = self._kern.csr, self._kern.act
        #: The kernel each CPU operator runs where it is not dense ("csr" | "act_sparse").
        self.cpu_kernels = {i: self._kern.kernel_of(i) for i in sorted(self.cpu_sparse | self.cpu_act_sparse)}
        self._pool: ThreadPoolExecutor | None = None

    # -- set-up ---------------------------------------------------------------------------
    def _flat_plan(self, n: torch.fx.Node) -> tuple[tuple[tuple[int, Any], ...], dict[str, Any]] | None:
        """Where a node's arguments are values and nodes side by side (no nesting, no node among
        its keyword arguments): per argument (node index, or -1 and the value) and the keyword
        arguments — read without walking ``map_arg`` on every pass. None otherwise."""
        nested = (list, tuple, dict, slice)
        if any(isinstance(a, nested) for a in n.args) or any(
                isinstance(v, (torch.fx.Node, *nested)) for v in n.kwargs.values()):
            return None
        return (tuple((self._idx[a], None) if isinstance(a, torch.fx.Node) else (-1, a) for a in n.args),
                dict(n.kwargs))

    def _static_nodes(self) -> set[int]:
        """fx nodes with no path from an input: constant sub-graphs, computed once."""
        dynamic: set[int] = set()
        for k, n in enumerate(self._nodes):
            if n.op == "placeholder" or any(self._idx[a] in dynamic for a in n.all_input_nodes):
                dynamic.add(k)
        return {k for k, n in enumerate(self._nodes) if k not in dynamic and n.op != "output"}

    def _constants(self) -> tuple[dict[int, Any], dict[int, Any]]:
        """Values of the constant sub-graphs on the CPU and (a copy) on the GPU device."""
        cpu: dict[int, Any] = {}
        with torch.inference_mode():
            for k in sorted(self._static):
                n = self._nodes[k]
                args, kwargs = torch.fx.node.map_arg((n.args, n.kwargs), lambda a: cpu[self._idx[a]])
                fn = self._calls[CPU][k]
                cpu[k] = fn() if n.op == "get_attr" else fn(*args, **kwargs)
        if not self.cuda and self._dtypes[GPU] == torch.float32:
            return cpu, cpu
        gpu = {}
        half = self._dtypes[GPU]
        for k, v in cpu.items():
            if self._nodes[k].op == "get_attr":
                gpu[k] = self._calls[GPU][k]()
            else:
                gpu[k] = map_tensors(v, lambda t: t.to(self.devices[GPU], dtype=half if t.is_floating_point()
                                                       else t.dtype))
        return cpu, gpu

    # -- public ---------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the GPU worker thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> HybridExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def eager(self, *inputs: torch.Tensor) -> Any:
        """The traced module run plainly on the CPU (the reference the executor must match)."""
        with torch.inference_mode():
            return self._gm(*inputs)

    def shares(self, placement: StaticSchedule | Sequence[float] | np.ndarray) -> tuple[tuple[float, ...], dict | None]:
        """Validate a placement against the graph → (GPU share per operator, per-device order)."""
        sched = placement if isinstance(placement, StaticSchedule) else StaticSchedule(placement, source="placement")
        sched.check(self.graph)
        shares = tuple(float(s) for s in sched.placement)
        order = sched.order
        if any(s > 0 for s in shares) and not self.gpu_available:
            msg = (f"placement puts work on the GPU ({sum(s > 0 for s in shares)} of {len(shares)} operators) "
                   f"but no CUDA device is available on this host")
            if self.fallback != "cpu":
                raise DeviceUnavailableError(msg + "; run with fallback='cpu' (--fallback cpu) to execute on the CPU")
            warnings.warn(msg + "; falling back to the CPU for every operator", RuntimeWarning, stacklevel=3)
            shares = tuple(0.0 for _ in shares)
            order = None
        return shares, order

    def precision_record(self) -> dict[str, Any]:
        """The numerics of this executor's passes (``real.measure.precision.precision_record``) and
        its weight and transfer set-up."""
        return {**precision_record(self.tf32, self.precision, cuda=self.cuda), "integrated_gpu": self.integrated,
                "share_weights": self.share_weights, "mapped_transfers": self.mapped_transfers}

    def run(self, *inputs: torch.Tensor, placement: StaticSchedule | Sequence[float] | np.ndarray) -> RunResult:
        """One pass of ``inputs`` (on the CPU) under ``placement``; output on the CPU, with timings."""
        with tf32_mode(self.tf32):
            return self._run(inputs, placement)

    def _run(self, inputs: Sequence[torch.Tensor], placement: StaticSchedule | Sequence[float] | np.ndarray
             ) -> RunResult:
        if len(inputs) != len(self._placeholders):
            raise ExecutorError(f"executor: the model takes {len(self._placeholders)} input(s), got {len(inputs)}")
        shares, order = self.shares(placement)
        queues = self._queues(shares, order)
        run = RunState(shares)
        uses, cross = self._liveness(shares, queues)
        run.uses = (dict(uses[CPU]), dict(uses[GPU]))
        run.cross = cross
        for k, x in zip(self._placeholders, inputs):
            if not isinstance(x, torch.Tensor):
                raise ExecutorError(f"executor: input {self._nodes[k].name!r} must be a tensor, got {type(x).__name__}")
            run.local[CPU][k] = x.detach().cpu()
        for i, s in enumerate(shares):
            if i in cross:  # read on the other device: published through a slot
                run.home[i] = Slot()
            if 0.0 < s < 1.0:
                run.part[i] = Slot()
        t0 = self._link.start()
        if self.cuda and queues[GPU]:  # the input goes to the GPU: staged into pinned memory now, timed
            for k in self._placeholders:
                if run.uses[GPU].get(k, 0) > 0:
                    run.staged[k] = self._link.stage(run.local[CPU][k], ("input", k))
        # the CPU's queue is walked in this thread, the GPU's (if any) in a worker: a CPU-only pass
        # hands nothing between threads (on a loaded host each wake-up can cost a scheduler tick)
        gpu_walk = None
        if queues[GPU]:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sparoa-gpu")
            gpu_walk = self._pool.submit(self._worker, run, GPU, queues[GPU])
        try:
            self._worker(run, CPU, queues[CPU])
            if gpu_walk is not None:
                gpu_walk.result()
            if run.errors:
                raise run.errors[0]
            with torch.inference_mode():
                out = torch.fx.node.map_arg(self._output.args[0], lambda a: self._output_value(run, a))
        except BaseException:  # Ctrl-C while waiting, or a failure: the GPU walk stops before we return
            run.abort.set()
            if gpu_walk is not None:
                futures_wait([gpu_walk])
            raise
        finally:
            if self.cuda:
                torch.cuda.synchronize(self.devices[GPU])
        wall = time.perf_counter() - t0
        ops, xfers = self._link.timings(run, self._op_names)
        devices = {"cpu": "cpu", "gpu": str(self.devices[GPU]) if self.cuda else "cpu (GPU role emulated)"}
        batch = int(inputs[0].shape[0]) if inputs and inputs[0].dim() else 1
        return RunResult(output=out, ops=ops, transfers=xfers, wall_s=wall, batch=batch, placement=shares,
                         devices=devices, workload=self.workload, precision=self.precision_record())

    def _output_value(self, run: RunState, node: torch.fx.Node) -> Any:
        """The value of an output node on the CPU; a failure names the node."""
        try:
            return self._fetch(run, self._idx[node], CPU)
        except ExecutorError:
            raise
        except Exception as exc:  # noqa: BLE001 - a copy back from the GPU or a folded node failed
            raise ExecutorError(f"collecting the output {node.name!r} failed: {type(exc).__name__}: {exc}") from exc

    # -- scheduling -----------------------------------------------------------------------
    def _queues(self, shares: Sequence[float], order: Mapping[str, Sequence[int]] | None) -> tuple[list[int], list[int]]:
        if order is not None:
            return list(order["cpu"]), list(order["gpu"])
        n = len(shares)
        return [i for i in range(n) if shares[i] < 1.0], [i for i in range(n) if shares[i] > 0.0]

    def _liveness(self, shares: Sequence[float], queues: tuple[list[int], list[int]]
                  ) -> tuple[tuple[dict[int, int], dict[int, int]], frozenset[int]]:
        """Per device, how many consumers evaluated there read each fx node (the output's inputs
        are pinned); per operator, whether the device other than its home reads it (then it is
        published through a slot; a value read only where it was made is handed over directly).
        Cached per placement."""
        key = (tuple(shares), tuple(queues[CPU]), tuple(queues[GPU]))
        hit = self._liveness_cache.get(key)
        if hit is not None:
            return hit
        pinned = 1 << 30  # never reaches zero: read by the output, in the calling thread
        uses: tuple[dict[int, int], dict[int, int]] = ({}, {})
        out_k = self._idx[self._output]
        for d in (CPU, GPU):
            count = uses[d]
            stack = [self._op_node[i] for i in queues[d]] + ([out_k] if d == CPU else [])
            seen: set[int] = set()
            while stack:
                c = stack.pop()
                if c in seen:
                    continue
                seen.add(c)
                for a in self._inputs[c]:
                    count[a] = count.get(a, 0) + (pinned if c == out_k else 1)
                    if a not in self._static and a not in self._op_of_node and self._nodes[a].op != "placeholder":
                        stack.append(a)  # a folded node: evaluated on this device, reads its own inputs
        for k in self._placeholders:  # the input: the GPU worker copies it from the CPU's values
            uses[CPU][k] = uses[CPU].get(k, 0) + pinned
        cross = frozenset(i for i in range(len(self.graph))
                          if uses[1 - self._owner(shares[i])].get(self._op_node[i], 0) > 0)
        if len(self._liveness_cache) > 64:
            self._liveness_cache.clear()
        self._liveness_cache[key] = hit = (uses, cross)
        return hit

    def _consumed(self, run: RunState, d: int, c: int) -> None:
        """Consumer node ``c`` has read its inputs on device ``d``: drop values nobody else reads there."""
        count = run.uses[d]
        local = run.local[d]
        for a in self._inputs[c]:
            left = count.get(a, 0) - 1
            count[a] = left
            if left == 0:
                local.pop(a, None)

    def _slot_read(self, run: RunState, i: int) -> None:
        """The other device has taken operator ``i``'s published value (once: it keeps its copy
        in its own values): the slot need not hold it any longer."""
        run.home[i].value = None

    @staticmethod
    def _home(share: float) -> int:
        return GPU if share >= 0.5 else CPU

    @classmethod
    def _owner(cls, share: float) -> int:
        """The device where an operator's final value is made (a split's home; else its device)."""
        return cls._home(share) if 0.0 < share < 1.0 else (GPU if share >= 1.0 else CPU)

    def _produce(self, run: RunState, i: int, d: int, value: Any) -> None:
        """Operator ``i``'s final value exists on ``d``: hand it to consumers there, publish it for the other device."""
        k = self._op_node[i]
        if run.uses[d].get(k, 0) > 0:
            run.local[d][k] = value
        if i in run.cross:
            self._publish(run.home[i], value, d, (i, "home"))

    # -- workers --------------------------------------------------------------------------
    def _worker(self, run: RunState, d: int, queue: Sequence[int]) -> None:
        try:
            with torch.inference_mode():
                if self.cuda and d == GPU:
                    with torch.cuda.device(self.devices[GPU]), torch.cuda.stream(self._streams[0]):
                        self._walk(run, d, queue)
                else:
                    self._walk(run, d, queue)
        except Aborted:
            pass
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            with run.lock:
                run.errors.append(exc)
            run.abort.set()

    def _walk(self, run: RunState, d: int, queue: Sequence[int]) -> None:
        for i in queue:
            if run.abort.is_set():
                raise Aborted
            share = run.shares[i]
            if 0.0 < share < 1.0:
                self._run_split(run, d, i, share)
            else:
                self._run_whole(run, d, i)

    def _args(self, run: RunState, d: int, k: int) -> tuple[tuple, dict]:
        plan = self._flat_args[k]
        if plan is not None:
            fetch = self._fetch
            args = (tuple(v if j < 0 else fetch(run, j, d) for j, v in plan[0]), plan[1])
        else:
            n = self._nodes[k]
            args = torch.fx.node.map_arg((n.args, n.kwargs), lambda a: self._fetch(run, self._idx[a], d))
        self._consumed(run, d, k)
        return args

    def _guard(self, i: int, d: int, fn: Any) -> Any:
        """Call ``fn``; an exception becomes an :class:`ExecutorError` naming operator ``i``."""
        try:
            return fn()
        except (Aborted, ExecutorError):
            raise
        except Exception as exc:  # noqa: BLE001 - any kernel error, re-raised with the op's name
            raise self._op_error(i, d, exc) from exc

    def _op_error(self, i: int, d: int, exc: BaseException) -> ExecutorError:
        op = self.graph.ops[i]
        return ExecutorError(f"operator {i} ({op.name!r}, {op.kind.value}) failed on the {DEV_NAMES[d]}: "
                             f"{type(exc).__name__}: {exc}", op_index=i, op_name=op.name)

    def _run_whole(self, run: RunState, d: int, i: int) -> None:
        k = self._op_node[i]
        try:  # _guard inlined: this is the per-operator hot path
            args, kwargs = self._args(run, d, k)
            sparse = d == CPU and i in self.cpu_sparse
            start = self._mark(d)
            out = self._call_op(i, d, args, kwargs, None, sparse)
            end = self._mark(d)
        except (Aborted, ExecutorError):
            raise
        except Exception as exc:  # noqa: BLE001 - any kernel error, re-raised with the op's name
            raise self._op_error(i, d, exc) from exc
        run.marks.append(("op", i, d, float(run.shares[i]), sparse, start, end))
        try:
            self._produce(run, i, d, out)
        except Exception as exc:  # noqa: BLE001 - publishing (a CUDA event) failed
            raise self._op_error(i, d, exc) from exc

    def _run_split(self, run: RunState, d: int, i: int, share: float) -> None:
        k = self._op_node[i]
        home = self._home(share)
        args, kwargs = self._guard(i, d, lambda: self._args(run, d, k))
        size, out_ndim, cat_dim = self._guard(i, d, lambda: self._extent(i, d, args))
        sizes = split_sizes(size, share)
        if sizes is None:  # too small to split at this batch: the home device runs it whole
            if d == home:
                sparse = d == CPU and i in self.cpu_sparse
                start = self._mark(d)
                out = self._guard(i, d, lambda: self._call_op(i, d, args, kwargs, None, sparse))
                end = self._mark(d)
                run.marks.append(("op", i, d, float(home), sparse, start, end))
                self._guard(i, d, lambda: self._produce(run, i, d, out))
            return
        lo, hi = (0, sizes[0]) if d == CPU else (sizes[0], size)
        plan = self._plans[i]
        sparse = d == CPU and i in self.cpu_sparse and plan is not None and plan.style != "input"
        start = self._mark(d)
        out = self._guard(i, d, lambda: self._call_op(i, d, args, kwargs, (lo, hi, size, out_ndim), sparse))
        end = self._mark(d)
        run.marks.append(("op", i, d, share, sparse, start, end))
        if d != home:
            self._guard(i, d, lambda: self._publish(run.part[i], out, d, (i, "part")))
            return
        self._wait(run, run.part[i])
        moved = self._guard(i, d, lambda: self._copy(run, run.part[i], 1 - d, d, i, "merge"))
        run.part[i].value = None  # the minor part now lives here
        parts = (out, moved) if d == CPU else (moved, out)
        merged = self._guard(i, d, lambda: torch.cat(parts, dim=cat_dim))
        self._guard(i, d, lambda: self._produce(run, i, d, merged))

    def _extent(self, i: int, d: int, args: tuple) -> tuple[int, int, int]:
        """(length of the split dimension, output ndim, concatenation dim) of operator ``i``."""
        plan = self._plans[i]
        if plan is None:
            op = self.graph.ops[i]
            raise ExecutorError(f"operator {i} ({op.name!r}, {op.kind.value}): the executor cannot split this "
                                f"operator along {op.split_axis!r}", op_index=i, op_name=op.name)
        if plan.style in ("conv", "linear"):
            mod = self._module(i, d)
            if plan.style == "conv":
                return (mod.groups if mod.groups > 1 else mod.out_channels), 0, 1
            return mod.out_features, 0, -1
        size, out_ndim = input_extent(plan, args)
        return size, out_ndim, plan.dim

    def _module(self, i: int, d: int) -> Any:
        return self._calls[d][self._op_node[i]]

    def _call_op(self, i: int, d: int, args: tuple, kwargs: dict, part: tuple[int, int, int, int] | None,
                 sparse: bool) -> Any:
        """Run operator ``i`` (or rows ``lo:hi`` of its split) on device ``d``."""
        k = self._op_node[i]
        fn = self._calls[d][k]
        plan = self._plans[i]
        act = d == CPU and i in self.cpu_act_sparse
        if part is None:
            if sparse:
                return self._kern.csr_call(i, fn, args[0], 0, None)
            return self._kern.act_call(i, fn, args) if act else fn(*args, **kwargs)
        lo, hi, size, out_ndim = part
        assert plan is not None
        if plan.style == "input":
            sliced = slice_args(plan, args, size, out_ndim, lo, hi)
            return self._kern.act_call(i, fn, sliced) if act and not kwargs else fn(*sliced, **kwargs)
        x = args[0]
        if sparse and (plan.style == "linear" or fn.groups == 1):
            return self._kern.csr_call(i, fn, x, lo, hi)
        if act and (plan.style == "linear" or fn.groups == 1):
            return self._kern.act_call(i, fn, args, lo, hi)
        return weight_rows(fn, x, lo, hi)

    # -- values and copies ----------------------------------------------------------------
    def _fetch(self, run: RunState, k: int, d: int) -> Any:
        """The value of fx node ``k`` on device ``d`` (computed, waited for, or copied once)."""
        local = run.local[d]
        if k in local:
            return local[k]
        if k in self._static:
            return self._const[d][k]
        n = self._nodes[k]
        i = self._op_of_node.get(k)
        if i is not None:
            home = self._owner(run.shares[i])
            slot = run.home.get(i)
            if home == d or slot is None:  # made here, but not yet: the order runs a consumer first
                op = self.graph.ops[i]
                raise ExecutorError(f"operator {i} ({op.name!r}) is read on the {DEV_NAMES[d]} before it has run "
                                    "there: the placement's order contradicts the dependencies",
                                    op_index=i, op_name=op.name)
            self._wait(run, slot)
            value = self._copy(run, slot, home, d, i, "transfer")
            self._slot_read(run, i)
        elif n.op == "placeholder":  # the input lives on the CPU: here d is the GPU
            value = self._copy_value(run, run.staged.get(k, run.local[CPU][k]), CPU, d, len(self.graph), "input")
        else:  # a folded node (view, shape arithmetic): evaluated where it is needed
            args, kwargs = torch.fx.node.map_arg((n.args, n.kwargs), lambda a: self._fetch(run, self._idx[a], d))
            self._consumed(run, d, k)
            value = self._calls[d][k](*args, **kwargs)
        local[k] = value
        return value

    def _copy(self, run: RunState, slot: Slot, src: int, dst: int, i: int, kind: str) -> Any:
        """Copy a published value from ``src`` to ``dst`` (after the producer's event on CUDA)."""
        return self._copy_value(run, slot.value, src, dst, i, self.graph.ops[i].name, kind, slot.event)


def _out_of_place(gm: torch.fx.GraphModule) -> None:
    """Rewrite in-place operations as out-of-place ones (same values): a value one device changes
    in place while the other device copies it, or one the other device changed on its own copy,
    would break eager's semantics. Modules' ``inplace`` flags are turned off (on the executor's
    own copy), ``inplace=True`` keyword arguments too; ``x.relu_()``, ``torch.relu_(x)``,
    ``x += y`` become their out-of-place twins. An in-place method without one (``x.zero_()``,
    ``x.copy_(y)``) is refused with the node named."""
    changed = False
    for n in gm.graph.nodes:
        if n.op == "call_module":
            mod = gm.get_submodule(str(n.target))
            if getattr(mod, "inplace", False) is True:
                mod.inplace = False
        twin = out_of_place(n)
        if twin is not None:
            n.target, changed = twin, True
        elif n.op == "call_method" and str(n.target).endswith("_") and not str(n.target).endswith("__"):
            raise ExecutorError(f"executor: node {n.name!r} changes a value in place ({n.target}) and has no "
                                "out-of-place twin; rewrite the model without it")
        if n.kwargs.get("inplace") is True:
            n.kwargs = {**n.kwargs, "inplace": False}
            changed = True
    if changed:
        gm.recompile()


def random_placement(graph: OpGraph, rng: np.random.Generator, p_split: float = 0.3) -> list[float]:
    """A random placement: each operator on the CPU or the GPU, split ones with a random share."""
    return [float(rng.uniform(0.05, 0.95)) if op.split_axis is not None and rng.random() < p_split
            else float(rng.integers(0, 2)) for op in graph.ops]
