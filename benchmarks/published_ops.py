"""Operator-level rows of the published-latency check (``method = "op"``): one eager PyTorch statement
timed alone in a loop on the CPU, and the twin's prediction for it.

A source statement (``dst.copy_(src)``, ``y[:] = alpha * x + y``, ``torch.matmul(A, B)``, …) is written as
the IR operators eager PyTorch runs for it, built with the IR's public API (``sparoa_sim.ir.Op`` /
``OpGraph``) and predicted by ``hwmodels.predict`` — the per-operator prediction every simulation uses::

    t = Σ_i dispatch[i, cpu] + Σ_i latency[i, cpu]      (dispatch is 0 on the CPU: t_dispatch = 0)
      = Σ_i t_launch · s(m) · max(1, kernels_i) + max(flops_i / (P(m) · η_kind · π_i), bytes_i / B(m))

Kinds, FLOPs, bytes and kernel counts follow what ``sparoa_sim.real.models.extract`` records for the same
statement (tests/benchmarks/test_published_ops.py checks it on small shapes), so the rows test the twin as
it sees a real graph. Where the extractor is known to differ from eager PyTorch the recipe says so:

* ``copy``: ``dst.copy_(src)`` is folded away by the extractor as a view (its output shares ``dst``'s
  storage); here it is what it is, one copying kernel, kind ``reshape`` (the IR's kind for data movement
  that copies), N·4 bytes read and written, 0 FLOPs.
* ``dot`` (``torch.dot``: kind ``other``) and the ``A @ x`` of ``gemv`` (kind ``matmul``) get 0 FLOPs, as the
  extractor records them (torch's FLOP counter has no formula for aten.dot / aten.mv): memory-bound.
* ``gemv`` / ``gemm``: ``beta * y`` runs every call in eager PyTorch (one ``mul`` kernel) though the
  extractor folds it when ``y`` is a buffer; the setitem's ``copy_`` rides on the ``add`` as its second
  kernel, as the extractor counts it (its bytes are not added, as there).

Precision: the row's ``twin_precision``; the graph's bytes are at FP32 and ``predict`` rescales them.

CPU clock: the twin evaluates the mode's cap (the profile's ``cpu_clock_hz``). Where the source reports a
lower governor reading (``cpu_clock_mhz``: e.g. schedutil idling at 729.6 MHz in the 960 MHz 7W mode),
the prediction at that reading is reported beside it (``twin_ms_at_reported_clock``) — never fitted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

F32 = 4  # bytes per element of the recipes (predict rescales to the row's precision)


@dataclass(frozen=True)
class Recipe:
    """One source statement: its text, the names of its shape dimensions and its operators."""

    statement: str
    dims: tuple[str, ...]
    build: Callable[..., list[dict[str, Any]]]


def _ew(name: str, kind: str, n: int, inputs: int, kernels: int = 1, deps: tuple[int, ...] = ()) -> dict[str, Any]:
    """An element-wise operator over ``n`` FP32 values: ``inputs`` tensors read, one written, 1 FLOP each
    (``ELEMENTWISE_FLOPS`` of add / mul; 0 for a copy)."""
    flops = 0.0 if kind == "reshape" else float(n)
    return {"name": name, "kind": kind, "flops": flops, "bytes_in": float(inputs * n * F32),
            "bytes_out": float(n * F32), "out_shape": (n,), "kernels": kernels, "deps": deps}


def _mm(name: str, m: int, k: int, n: int, flops: float) -> dict[str, Any]:
    """``(m×k) @ (k×n)``: A and B read, C written."""
    return {"name": name, "kind": "matmul", "flops": flops, "macs": flops / 2.0,
            "bytes_in": float((m * k + k * n) * F32), "bytes_out": float(m * n * F32),
            "out_shape": (m, n) if n > 1 else (m,), "kernels": 1, "deps": ()}


def _axpby(mm: dict[str, Any], elems: int) -> list[dict[str, Any]]:
    """``out[:] = alpha * (mm) + beta * out``: mm, alpha·, beta·, add (+ the setitem's copy_ kernel)."""
    return [mm, _ew("alpha_mul", "mul", elems, 1, deps=(0,)), _ew("beta_mul", "mul", elems, 1),
            _ew("add_setitem", "add", elems, 2, kernels=2, deps=(1, 2))]


#: The statements the data file's ``op`` names (the source's code, quoted in ``statement``).
OPS: dict[str, Recipe] = {
    "copy": Recipe("dst.copy_(src)", ("n",), lambda n: [_ew("copy", "reshape", n, 1)]),
    "scale": Recipe("torch.mul(src, q, out=dst)", ("n",), lambda n: [_ew("mul", "mul", n, 1)]),
    "add": Recipe("torch.add(src1, src2, out=dst)", ("n",), lambda n: [_ew("add", "add", n, 2)]),
    "triad": Recipe("torch.mul(src2, q, out=dst); torch.add(src1, dst, out=dst)", ("n",),
                    lambda n: [_ew("mul", "mul", n, 1), _ew("add", "add", n, 2, deps=(0,))]),
    "dot": Recipe("torch.dot(x, y)", ("n",),
                  lambda n: [{"name": "dot", "kind": "other", "flops": 0.0, "bytes_in": float(2 * n * F32),
                              "bytes_out": float(F32), "out_shape": (), "kernels": 1, "deps": ()}]),
    "axpy": Recipe("y[:] = alpha * x + y", ("n",),
                   lambda n: [_ew("mul", "mul", n, 1), _ew("add_setitem", "add", n, 2, kernels=2, deps=(0,))]),
    "gemv": Recipe("y[:] = alpha * (A @ x) + beta * y", ("n",), lambda n: _axpby(_mm("mv", n, n, 1, 0.0), n)),
    "gemm": Recipe("C[:] = alpha * (A @ B) + beta * C", ("n",),
                   lambda n: _axpby(_mm("mm", n, n, n, 2.0 * n ** 3), n * n)),
    "matmul": Recipe("C = torch.matmul(A, B)", ("n",), lambda n: [_mm("mm", n, n, n, 2.0 * n ** 3)]),
}


def check_shape(op: str, shape: Any) -> tuple[int, ...] | str:
    """The shape as a tuple of positive ints, or why it is not one for ``op`` (a one-line reason)."""
    recipe = OPS[op]
    if (not isinstance(shape, list) or len(shape) != len(recipe.dims)
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in shape)):
        return (f"op {op!r} takes a list of {len(recipe.dims)} positive integer(s) "
                f"[{', '.join(recipe.dims)}], got {shape!r}")
    return tuple(shape)


def op_graph(op: str, shape: tuple[int, ...]) -> Any:
    """The IR graph (``sparoa_sim.ir.OpGraph``) of statement ``op`` at ``shape`` (module docstring)."""
    from sparoa_sim.hwmodels.kinds import parse_kind
    from sparoa_sim.ir import Op, OpGraph

    ops = [Op(**{**spec, "kind": parse_kind(spec["kind"])}) for spec in OPS[op].build(*shape)]
    return OpGraph(name=f"{op}{'x'.join(map(str, shape))}", ops=tuple(ops), input_shape=tuple(shape),
                   meta={"statement": OPS[op].statement})


def _at_clock(platform: Any, mode: str, clock_hz: float) -> Any:
    """The power mode ``mode`` with its CPU clock cap replaced by ``clock_hz`` (everything else kept)."""
    return dataclasses.replace(platform.mode(mode), cpu_clock_hz=float(clock_hz))


def op_time(platform: Any, graph: Any, mode: Any, precision: str, device_kind: str = "cpu") -> tuple[float, dict]:
    """Seconds of the statement on ``device_kind``: Σ host dispatch + Σ device latency of its operators."""
    from sparoa_sim.hwmodels import predict

    d = 0 if device_kind == "cpu" else 1
    pred = predict(platform, graph.hw_ops, batch=1, mode=mode, precision=precision)
    host = np.asarray(pred.dispatch, dtype=float)[:, d]
    launch = np.asarray(pred.launch, dtype=float)[:, d]
    lat = np.asarray(pred.latency, dtype=float)[:, d]
    t_c = np.asarray(pred.t_compute, dtype=float)[:, d]
    t_m = np.asarray(pred.t_memory, dtype=float)[:, d]
    total = float(host.sum() + lat.sum())
    return total, {"n_ops": len(graph), "kernels": float(np.asarray(graph.hw_ops.kernels).sum()),
                   "overhead_ms": float(launch.sum()) * 1e3, "host_ms": float(host.sum()) * 1e3,
                   "compute_ms": float(t_c.sum()) * 1e3, "memory_ms": float(t_m.sum()) * 1e3,
                   "bound": ["memory" if m >= c else "compute" for c, m in zip(t_c, t_m)]}


def predict_op_row(platform: Any, op: str, shape: tuple[int, ...], mode: str, precision: str,
                   reported_clock_hz: float | None = None) -> tuple[float, dict[str, Any]]:
    """(seconds at the mode's CPU cap, terms); the terms carry the time at the reported clock where given."""
    graph = op_graph(op, shape)
    m = platform.mode(mode)
    t, terms = op_time(platform, graph, m, precision)
    terms.update(statement=OPS[op].statement, cpu_clock_hz=m.cpu_clock_hz, tf32_applied=False)
    if reported_clock_hz is not None:
        t_rep, _ = op_time(platform, graph, _at_clock(platform, mode, reported_clock_hz), precision)
        terms.update(reported_clock_hz=float(reported_clock_hz), twin_ms_at_reported_clock=t_rep * 1e3)
    return t, terms
