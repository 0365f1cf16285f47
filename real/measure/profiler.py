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

This module assembles the table; the parts live beside it: clocks and repetition in
``timing``, the per-operator walks in ``op_timing``, ``bandwidth``, ``sparse_sweep``, the
eager timers in ``eager`` and the host's identity in ``hostinfo`` (their public names are
re-exported here).
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sparoa_sim.errors import CalibrationError
from sparoa_sim.ir.graph import OpGraph, atomic_write_text
from sparoa_sim.hwmodels.measurements import (
    EndToEnd,
    MeasuredOp,
    MeasurementTable,
    SparsePoint,
    load_table,
    merge_tables,
    repeatability,
    table_to_json,
)
from sparoa_sim.real.measure.bandwidth import measure_bandwidth
from sparoa_sim.real.measure.eager import time_eager, time_eager_interleaved
from sparoa_sim.real.measure.device_state import device_state
from sparoa_sim.real.measure.hostinfo import host_info, resolve_device
from sparoa_sim.real.measure.precision import check_tf32, precision_record, tf32_mode
from sparoa_sim.real.measure.op_timing import Reps, attribution, profile_batch
from sparoa_sim.real.measure.sparse_sweep import DEFAULT_SPARSE_SHAPES, DEFAULT_SPARSITIES, sparse_sweep
from sparoa_sim.real.measure.timing import CLOCKS, Figure, check_batches, make_clock, quiet_runtime
from sparoa_sim.real.models import zoo
from sparoa_sim.real.models.extract import extract, magnitude_prune
from sparoa_sim.real.models.tracing import graph_module
from sparoa_sim.real.models.zoo import resolve_workload

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


def _rows(graph: OpGraph, workload: str, batch: int, context: str, figs: Sequence[Figure]) -> list[MeasuredOp]:
    return [
        MeasuredOp(
            workload=workload, op=op.name, op_index=i, kind=op.kind.value, batch=batch, context=context,
            macs=op.macs, flops=op.flops, bytes_in=op.bytes_in, bytes_out=op.bytes_out, bytes_w=op.bytes_w,
            act_sparsity=op.act_sparsity, w_sparsity=op.w_sparsity, out_elems=float(op.out_elems),
            time_s=f.time_s, time_s_a=f.time_s_a, time_s_b=f.time_s_b, reps=f.reps,
        )  # fmt: skip
        for i, (op, f) in enumerate(zip(graph.ops, figs, strict=True))
    ]


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
    tf32: str = "conv",
) -> MeasurementTable:
    """Profile ``model`` on ``device`` at each batch size → a measurement table.

    The operator graph comes from :func:`~sparoa_sim.real.models.extract.extract` (or ``graph``, whose
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
    ``tf32`` ("conv" | "all" | "none"): the TF32 switches while timing (``real.measure.precision``);
    the table's meta records them and the device state (``real.measure.device_state``).
    """
    started = time.perf_counter()
    dev = resolve_device(device)
    batches = check_batches(batches)
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
        settle_s=settle_s, clock=clock, tf32=check_tf32(tf32),
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
    tf32: str = "conv"


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
    gm, op_index = graph_module(timed, graph)
    owner = attribution(gm, op_index)
    host = host_info(device)
    bw = None
    sweep: tuple[SparsePoint, ...] = ()
    on_dev = torch.cuda.device(dev) if dev.type == "cuda" else contextlib.nullcontext()
    with quiet_runtime(cfg.threads) as nthreads, on_dev, tf32_mode(cfg.tf32):  # events and synchronize on this GPU, not the current one
        clock = make_clock(dev, cfg.clock)
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
                res = profile_batch(timed, gm, op_index, owner, x, clock, policy, lambda: bar.update(1))
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
        "precision": precision_record(cfg.tf32, "fp32", cuda=dev.type == "cuda"),
        "device_state": device_state(probe_tegrastats=True),
    }  # fmt: skip
    return MeasurementTable(
        device=dev.type, host=host, rows=tuple(rows), end_to_end=tuple(e2e), bandwidth=bw,
        sparse_sweep=sweep, created=datetime.now(timezone.utc).isoformat(timespec="seconds"), meta=meta,
    )  # fmt: skip


def _policy(n_ops: int, n_batches: int, cfg: _Settings, spent_s: float, extras: bool) -> Reps:
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
    return Reps(lo=lo, hi=hi, warmup=cfg.warmup, settle_s=settle, iso_target_s=iso, graph_target_s=gr,
                 e2e_target_s=ee)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# zoo workloads, files, command line


def profile_workload(name: str, *, reduced: bool = False, seed: int = 0, **kwargs: Any) -> MeasurementTable:
    """Profile a shipped workload (zoo model, pruned variants too); ``kwargs`` → :func:`profile_model`.

    The reduced variant (narrow, 32×32 inputs) is recorded as ``NAME_reduced``.
    """
    base, prune = resolve_workload(name)
    model = zoo.build(base, seed=seed, reduced=reduced)
    x = zoo.example_input(base, reduced=reduced, seed=seed)
    label = f"{name}_reduced" if reduced else name
    return profile_model(model, x, name=label, prune=prune, seed=seed, **kwargs)


def save_table(table: MeasurementTable, path: str | os.PathLike[str], indent: int | None = 1) -> Path:
    """Write ``table`` as JSON, atomically (temp file + rename)."""
    return atomic_write_text(path, table_to_json(table, indent=indent) + "\n")


def parse_batches(text: str) -> tuple[int, ...]:
    """``"1,4,16"`` → ``(1, 4, 16)``; a clear :class:`CalibrationError` on anything else."""
    try:
        return check_batches([int(t) for t in text.split(",") if t.strip()])
    except ValueError:
        raise CalibrationError(f"--batch: expected comma-separated positive integers, got {text!r}") from None
