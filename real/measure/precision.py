"""Numeric precision of a real run, set and stated (docs/architecture.md §7).

Two switches decide what an "fp32" CUDA run computes:

- ``tf32``: "conv" (PyTorch's default: cuDNN convolutions in TF32, matmul not —
  ``torch.backends.cudnn.allow_tf32=True``, ``torch.backends.cuda.matmul.allow_tf32=False``),
  "all" (both on) or "none" (both off: full FP32). Source: docs/research/jetson_parameters.md (e):
  cuDNN TF32 defaults to True, matmul TF32 to False since PyTorch 1.12;
- ``precision`` (the twin's names): "fp32", or "fp16" / "fp16_tc" — the GPU's operators in half
  precision. PyTorch eager cannot keep FP16 kernels off the tensor cores (cuDNN/cuBLAS pick
  them), so "fp16" and "fp16_tc" run the same kernels; the CPU's operators stay FP32 (CPU FP16
  matmul on the Cortex-A78AE is ~130× slower than FP32 and FP16 conv is unsupported:
  docs/research/jetson_parameters.md (d)); values change dtype where they cross devices.

:func:`tf32_mode` sets the flags for a block and restores them; :func:`precision_record` is
what every result stores; :func:`tolerance` is the output error a check should allow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from sparoa_sim.errors import SparOAError

__all__ = ["PRECISIONS", "TF32_MODES", "PrecisionError", "check_precision", "check_tf32", "gpu_dtype",
           "precision_record", "tf32_flags", "tf32_mode", "tolerance"]

TF32_MODES: tuple[str, ...] = ("conv", "all", "none")
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "fp16_tc")
_FLAGS = {"conv": (True, False), "all": (True, True), "none": (False, False)}  # (cudnn, matmul)


class PrecisionError(SparOAError, ValueError):
    """An unknown ``tf32`` or ``precision`` value."""


def check_tf32(tf32: str) -> str:
    """``tf32`` if it is one of :data:`TF32_MODES`, else a :class:`PrecisionError`."""
    if tf32 not in TF32_MODES:
        raise PrecisionError(f"tf32 must be one of {', '.join(TF32_MODES)}, got {tf32!r}")
    return tf32


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a :class:`PrecisionError`."""
    if precision not in PRECISIONS:
        raise PrecisionError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def gpu_dtype(precision: str) -> torch.dtype:
    """The floating dtype the GPU's operators run in."""
    return torch.float32 if check_precision(precision) == "fp32" else torch.float16


def tf32_flags() -> dict[str, bool]:
    """The process's TF32 switches as they are now."""
    return {"cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
            "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32)}


def _mode_of(flags: dict[str, bool]) -> str | None:
    for name, (c, m) in _FLAGS.items():
        if (flags["cudnn_allow_tf32"], flags["matmul_allow_tf32"]) == (c, m):
            return name
    return None  # matmul on, cuDNN off: no name


@contextlib.contextmanager
def tf32_mode(tf32: str) -> Iterator[dict[str, bool]]:
    """Set the TF32 switches to ``tf32`` for the block (restored after); yields the flags set."""
    cudnn, matmul = _FLAGS[check_tf32(tf32)]
    old = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = cudnn, matmul
    try:
        yield tf32_flags()
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def precision_record(tf32: str, precision: str = "fp32", *, cuda: bool | None = None) -> dict[str, Any]:
    """What a result stores about its numerics: the asked modes, the flags in force, the dtypes."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    cudnn, matmul = _FLAGS[check_tf32(tf32)]
    half = check_precision(precision) != "fp32"
    return {
        "precision": precision, "tf32": tf32, "cudnn_allow_tf32": cudnn, "matmul_allow_tf32": matmul,
        "gpu_dtype": "float16" if half else "float32", "cpu_dtype": "float32",
        "tf32_effective": cuda and not half and (cudnn or matmul),
        "note": ("GPU operators in float16 (eager PyTorch: cuDNN/cuBLAS may use tensor cores for fp16 and "
                 "fp16_tc alike); CPU operators in float32" if half else
                 "TF32 applies to CUDA convolutions (cuDNN) and matmuls (cuBLAS) only; the CPU computes FP32"),
    }


def tolerance(precision: str, tf32: str) -> float:
    """Largest output error (relative to the output's scale) a CUDA-vs-CPU check should allow.

    FP32 re-association: 1e-4 (cuDNN/cuBLAS reduce in another order than the CPU). TF32 keeps 10
    mantissa bits (unit roundoff 2^-11 ≈ 4.9e-4): 1e-2 over a deep network. FP16: the same 10
    bits with a narrower range (products and sums in half between layers): 5e-2.
    """
    if check_precision(precision) != "fp32":
        return 5e-2
    return 1e-4 if check_tf32(tf32) == "none" else 1e-2
