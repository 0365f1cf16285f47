"""The short prepared check for a lent GPU (``scripts/gpu_check.sh``, ``sparoa doctor --check``).

One run answers what the CPU-only test suite cannot (docs/architecture.md §7):

1. the TF32 switches as PyTorch starts;
2. random split placements at batch 8–16 on ResNet-18 and Swin-T through the hybrid executor
   against eager on the CPU, at fp32 with TF32 off, fp32 with TF32 on convolutions (the default)
   and fp16: the largest error per precision, against :func:`~sparoa_sim.real.measure.precision.tolerance`;
3. timing sanity on every run: no negative or reversed times, each GPU operator starts after the
   transfers into it end, summed GPU busy time ≤ the wall time;
4. the first against the tenth run of one placement (a cold start is not a latency);
5. one host → GPU copy of an activation-sized tensor: pageable (PyTorch's own staging, blocking),
   staged into a pinned buffer allocated beforehand then copied, and read in place from pinned
   memory (zero-copy; its time is only meaningful on an integrated GPU).

``dry_run`` (or no CUDA device) runs the same code on the CPU path — the GPU role emulated, small
counts, no copy timing — so the check itself is tested without a GPU.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from sparoa_sim.real.measure.precision import tf32_flags, tolerance
from sparoa_sim.real.models import zoo
from sparoa_sim.real.run.executor import HybridExecutor, RunResult, random_placement
from sparoa_sim.real.run.transfers import mapped_view

__all__ = ["run_check", "timing_problems"]

#: (label, tf32, precision) of the accuracy runs.
SETTINGS = (("fp32, tf32 none", "none", "fp32"), ("fp32, tf32 conv", "conv", "fp32"), ("fp16", "conv", "fp16"))


def timing_problems(res: RunResult, graph: Any, eps: float = 1e-6) -> list[str]:
    """What is wrong with one run's timings (empty when sane)."""
    bad: list[str] = []
    for t in (*res.ops, *res.transfers):
        if t.start < -eps or t.end < t.start - eps:
            bad.append(f"{t.name}: times {t.start:.6f}..{t.end:.6f}")
    arrive: dict[int, float] = {}
    for x in res.transfers:
        if x.dst == "gpu":
            arrive[x.op] = max(arrive.get(x.op, 0.0), x.end)
    for t in res.ops:
        if t.device != "gpu":
            continue
        for j in graph.ops[t.op].deps:
            if int(j) in arrive and t.start < arrive[int(j)] - eps:
                bad.append(f"GPU op {t.name} starts {1e3 * (arrive[int(j)] - t.start):.3f} ms before its input "
                           f"from op {int(j)} arrives")
    busy = res.busy_s("gpu")
    if busy > res.wall_s + eps:
        bad.append(f"GPU busy {busy:.6f} s > wall {res.wall_s:.6f} s")
    return bad


def _accuracy(name: str, cuda: bool, n: int, reduced: bool, lines: list[str]) -> tuple[dict[str, float], int]:
    rng = np.random.default_rng(0)
    m = zoo.build(name, reduced=reduced)
    x1 = zoo.example_input(name, reduced=reduced)
    errs: dict[str, float] = {}
    bad = 0
    gpu = "cuda" if cuda else None
    for label, tf32, precision in SETTINGS:
        worst = 0.0
        with HybridExecutor(m, x1, gpu_device=gpu, tf32=tf32, precision=precision, name=name) as ex:
            for k in range(n):
                b = int(rng.integers(8, 17))
                x = torch.randn((b, *x1.shape[1:]), generator=torch.Generator().manual_seed(k))
                res = ex.run(x, placement=random_placement(ex.graph, rng, p_split=0.4))
                ref = ex.eager(x)
                worst = max(worst, float((res.output - ref).abs().max()) / max(1.0, float(ref.abs().max())))
                probs = timing_problems(res, ex.graph)
                bad += len(probs)
                lines.extend(f"  timing: {name} run {k}: {p}" for p in probs[:3])
        errs[label] = worst
        tol = tolerance(precision, tf32)
        lines.append(f"accuracy {name} {label}: max error {worst:.3g} over {n} placements "
                     f"(tolerance {tol:g}) {'OK' if worst <= tol else 'FAIL'}")
    return errs, bad


def _first_vs_tenth(cuda: bool, reduced: bool, lines: list[str]) -> tuple[float, float]:
    m = zoo.build("resnet18", reduced=reduced)
    x = zoo.example_input("resnet18", reduced=reduced, batch=8)
    with HybridExecutor(m, x[:1], gpu_device="cuda" if cuda else None, name="resnet18") as ex:
        pl = random_placement(ex.graph, np.random.default_rng(1), p_split=0.3)
        times = [ex.run(x, placement=pl).wall_s for _ in range(10)]
    lines.append(f"first vs tenth run (resnet18, batch 8, one placement): {times[0] * 1e3:.3f} ms vs "
                 f"{times[9] * 1e3:.3f} ms (x{times[0] / times[9]:.1f})")
    return times[0], times[9]


def _copies(lines: list[str]) -> dict[str, float]:
    """One host → GPU copy three ways (seconds, best of 5 after one untimed)."""
    dev = torch.device("cuda")
    src = torch.randn(16, 64, 56, 56)  # a ResNet stage-1 activation at batch 16: 12.8 MB
    nbytes = src.numel() * src.element_size()
    pinned = torch.empty_like(src, pin_memory=True)

    def best(fn: Any) -> float:
        fn()
        torch.cuda.synchronize(dev)
        out = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize(dev)
            out.append(time.perf_counter() - t0)
        return min(out)

    res = {"pageable_s": best(lambda: src.to(dev)),
           "staged_s": best(lambda: pinned.copy_(src).to(dev, non_blocking=True)),
           "dma_only_s": best(lambda: pinned.to(dev, non_blocking=True))}
    try:
        view = mapped_view(pinned.copy_(src), dev)
        res["mapped_read_s"] = best(lambda: view.sum())
        res["mapped_ok"] = float(torch.allclose(view.cpu(), src))
    except Exception as exc:  # noqa: BLE001 - reported, the rest of the check goes on
        lines.append(f"copy mapped (zero-copy): failed: {type(exc).__name__}: {exc}")
    integrated = torch.cuda.get_device_properties(dev).is_integrated
    for k, v in res.items():
        if k.endswith("_s"):
            lines.append(f"copy {k[:-2]:>11}: {v * 1e3:8.3f} ms  {nbytes / v / 1e9:7.2f} GB/s ({nbytes} bytes)")
    lines.append(f"  (mapped read = a GPU reduction over pinned host memory; meaningful on an integrated GPU: "
                 f"this one is {'integrated' if integrated else 'discrete'})")
    return res


def run_check(dry_run: bool = False, n: int | None = None) -> dict[str, Any]:
    """Run the check (see the module doc) → {"ok", "lines", figures}; ``lines`` is what gets printed."""
    cuda = torch.cuda.is_available() and not dry_run
    lines = [f"gpu_check: torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN "
             f"{torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}, device "
             f"{torch.cuda.get_device_name(0) if cuda else 'none (CPU path: GPU role emulated)'}"]
    if cuda:
        lines.append(f"integrated GPU: {torch.cuda.get_device_properties(0).is_integrated}")
    lines.append(f"TF32 flags at start: {tf32_flags()}")
    n = n if n is not None else (50 if cuda else 2)
    reduced = not cuda
    doc: dict[str, Any] = {"cuda": cuda, "dry_run": dry_run, "errors": {}, "timing_problems": 0}
    for name in ("resnet18", "swin_t"):
        errs, bad = _accuracy(name, cuda, n, reduced, lines)
        doc["errors"][name] = errs
        doc["timing_problems"] += bad
    lines.append(f"timing sanity: {doc['timing_problems']} problem(s) "
                 "(negative/reversed times, GPU op before its inbound transfer ends, GPU busy > wall)")
    doc["first_s"], doc["tenth_s"] = _first_vs_tenth(cuda, reduced, lines)
    doc["copies"] = _copies(lines) if cuda else None
    if not cuda:
        lines.append("copies: skipped (no CUDA device)")
    tol_ok = all(errs[label] <= tolerance(p, t) for errs in doc["errors"].values() for label, t, p in SETTINGS)
    doc["ok"] = tol_ok and doc["timing_problems"] == 0
    lines.append(f"gpu_check: {'PASS' if doc['ok'] else 'FAIL'}")
    doc["lines"] = lines
    return doc


if __name__ == "__main__":  # python -m sparoa_sim.real.run.gpu_check [--dry-run]
    import sys

    result = run_check(dry_run="--dry-run" in sys.argv)
    print("\n".join(result["lines"]))
    sys.exit(0 if result["ok"] else 1)
