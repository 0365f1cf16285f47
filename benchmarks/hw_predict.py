"""Time one vectorised latency prediction of a whole ResNet-50 on both devices.

Uses ``sparoa_sim/workloads/resnet50.json`` when it exists and can be read, else synthetic
arrays shaped like an unfused ResNet-50 (conv / norm / act / add / pool / linear, ~175 ops).
Prints a table and writes ``benchmarks/results/hw_predict.json``. Target: < 1 ms per call.

    python benchmarks/hw_predict.py [--platform NAME] [--repeat 7] [--number 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform as pyplatform
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np

from sparoa_sim.hwmodels import (
    OpArrays,
    Platform,
    kind_code,
    load_platform,
    predict,
    prediction_energy,
    transfer_time,
)
from sparoa_sim.hwmodels.residual import DEFAULT_FEATURES, Residual
from sparoa_sim.agents.experiments.provenance import provenance

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "hw_predict.json"
TARGET_S = 1e-3
#: CPU time of this thread: on a host shared with other work, wall time would time the others too.
TIMER = time.thread_time


def synthetic_resnet50() -> OpArrays:
    """Unfused ResNet-50 at 224×224, batch 1, FP32: per-op FLOPs, bytes and output elements."""
    rows: list[tuple[str, float, float, float, float, float, float]] = []  # kind, flops, in, out, w, units, act_sp

    def conv(cin: int, cout: int, k: int, hw_out: int, stride_in_hw: int, act_sp: float) -> None:
        macs = cin * cout * k * k * hw_out * hw_out
        rows.append(("conv", 2.0 * macs, 4.0 * cin * stride_in_hw**2, 4.0 * cout * hw_out**2,
                     4.0 * cin * cout * k * k, float(cout * hw_out**2), act_sp))

    def elementwise(kind: str, c: int, hw: int, flops_per: float, n_in: int = 1) -> None:
        n = float(c * hw * hw)
        rows.append((kind, flops_per * n, 4.0 * n * n_in, 4.0 * n, 8.0 * c if kind == "norm" else 0.0, n, 0.0))

    conv(3, 64, 7, 112, 224, 0.0)
    elementwise("norm", 64, 112, 4)
    elementwise("act", 64, 112, 1)
    rows.append(("pool", 9.0 * 64 * 56 * 56, 4.0 * 64 * 112 * 112, 4.0 * 64 * 56 * 56, 0.0, 64.0 * 56 * 56, 0.5))
    cin, hw = 64, 56
    for width, blocks, first_stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            stride = first_stride if i == 0 else 1
            hw_out = hw // stride
            cout = 4 * width
            conv(cin, width, 1, hw, hw, 0.5 if i else 0.0)
            elementwise("norm", width, hw, 4)
            elementwise("act", width, hw, 1)
            conv(width, width, 3, hw_out, hw, 0.5)
            elementwise("norm", width, hw_out, 4)
            elementwise("act", width, hw_out, 1)
            conv(width, cout, 1, hw_out, hw_out, 0.5)
            elementwise("norm", cout, hw_out, 4)
            if i == 0:
                conv(cin, cout, 1, hw_out, hw, 0.5)
                elementwise("norm", cout, hw_out, 4)
            elementwise("add", cout, hw_out, 1, n_in=2)
            elementwise("act", cout, hw_out, 1)
            cin, hw = cout, hw_out
    rows.append(("pool", 2048.0 * 49, 4.0 * 2048 * 49, 4.0 * 2048, 0.0, 2048.0, 0.5))
    rows.append(("reshape", 0.0, 0.0, 0.0, 0.0, 2048.0, 0.0))
    rows.append(("linear", 2.0 * 2048 * 1000, 4.0 * 2048, 4.0 * 1000, 4.0 * 2048 * 1000 + 4000, 1000.0, 0.5))
    kinds = np.array([kind_code(r[0]) for r in rows])
    col = lambda i: np.array([r[i] for r in rows], dtype=float)  # noqa: E731
    return OpArrays.build(kinds, col(1), bytes_in=col(2), bytes_out=col(3), bytes_w=col(4), units=col(5),
                          act_sparsity=col(6))


def workload_resnet50() -> tuple[OpArrays, str]:
    """The shipped ResNet-50 graph if its JSON is readable as docs/architecture.md §2 describes, else synthetic."""
    path = ROOT / "sparoa_sim" / "workloads" / "resnet50.json"
    if not path.is_file():
        return synthetic_resnet50(), "synthetic (no sparoa_sim/workloads/resnet50.json)"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        ops = doc["ops"] if isinstance(doc, dict) else doc
        kinds = np.array([kind_code(o["kind"]) for o in ops])
        f = lambda k: np.array([float(o.get(k, 0.0)) for o in ops])  # noqa: E731
        units = np.array([float(math.prod(o["out_shape"][1:])) if o.get("out_shape") else 0.0 for o in ops])
        arrays = OpArrays.build(kinds, f("flops"), macs=f("macs"), bytes_in=f("bytes_in"), bytes_out=f("bytes_out"),
                                bytes_w=f("bytes_w"), act_sparsity=f("act_sparsity"), w_sparsity=f("w_sparsity"),
                                units=np.where(units > 0, units, f("bytes_out") / 4.0))
        return arrays, str(path.relative_to(ROOT))
    except (KeyError, TypeError, ValueError) as e:
        return synthetic_resnet50(), f"synthetic ({path.name} unreadable here: {e!r})"


def with_residuals(platform: Platform) -> Platform:
    """``platform`` with a residual of every default feature on both devices (the costliest case)."""
    n = len(DEFAULT_FEATURES)
    res = Residual(features=DEFAULT_FEATURES, coef=(0.01,) * n, center=(0.0,) * n, scale=(1.0,) * n)
    for dev in ("cpu", "gpu"):
        platform = platform.with_latency(dev, dataclasses.replace(platform.device(dev).latency, residual=res))
    return platform


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--platform", default="jetson-agx-orin-64gb")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--number", type=int, default=200)
    ap.add_argument("--json-out", type=Path, default=RESULTS, help="where the JSON goes")
    args = ap.parse_args(argv)
    prov = provenance("benchmarks/hw_predict.py", sys.argv[1:] if argv is None else argv)
    load_before = os.getloadavg()

    plain = load_platform(args.platform)
    with_res = with_residuals(plain)
    ops, source = workload_resnet50()
    cases = [(b, prec, mode, False) for b in (1, 8) for prec in ("fp32", "fp16_tc") for mode in (None,)]
    cases.append((1, "fp32", plain.mode_names[-1], False))
    cases += [(1, "fp32", None, True), (8, "fp16_tc", None, True)]  # shape-feature residual on both devices
    rows = []
    for batch, prec, mode, residual in cases:
        plat = with_res if residual else plain
        fn = lambda: predict(plat, ops, batch, mode, prec)  # noqa: E731
        fn()
        best = min(timeit.repeat(fn, repeat=args.repeat, number=args.number, timer=TIMER)) / args.number
        pred = fn()
        rows.append({
            "batch": batch, "precision": prec, "mode": plat.mode(mode).name, "residual": residual, "n_ops": len(ops),
            "predict_s": best, "per_op_s": best / len(ops),
            "gpu_only_latency_s": float(pred.gpu.sum()), "cpu_only_latency_s": float(pred.cpu.sum()),
            "gpu_only_energy_j": float(prediction_energy(plat, pred)[:, 1].sum()),
        })
    plat = plain
    t_energy = min(timeit.repeat(lambda: prediction_energy(plat, predict(plat, ops)), repeat=args.repeat,
                                 number=args.number, timer=TIMER)) / args.number
    sizes = ops.bytes_out
    t_transfer = min(timeit.repeat(lambda: transfer_time(plat, sizes), repeat=args.repeat, number=args.number,
                                   timer=TIMER)) / args.number

    print(f"platform {plain.name}, workload: {source}, {len(ops)} ops, both devices per call "
          "(best of repeats, thread CPU time)")
    print(f"{'batch':>5} {'precision':>9} {'mode':>10} {'residual':>8} {'predict µs':>11} {'ns/op':>7} "
          f"{'GPU-only ms':>12} {'CPU-only ms':>12}")
    for r in rows:
        print(f"{r['batch']:>5} {r['precision']:>9} {r['mode']:>10} {str(r['residual']):>8} {r['predict_s'] * 1e6:>11.1f} "
              f"{r['per_op_s'] * 1e9:>7.0f} {r['gpu_only_latency_s'] * 1e3:>12.2f} {r['cpu_only_latency_s'] * 1e3:>12.2f}")
    print(f"predict + energy: {t_energy * 1e6:.1f} µs; transfer_time over all edges: {t_transfer * 1e6:.1f} µs")
    worst = max(r["predict_s"] for r in rows)
    ok = worst < TARGET_S
    summary = f"target < {TARGET_S * 1e3:.0f} ms per call: {'met' if ok else 'MISSED'} (worst {worst * 1e6:.1f} µs)"
    print(summary)

    out = {
        "benchmark": "hw_predict",
        "platform": plain.name,
        "workload": source,
        "n_ops": len(ops),
        "target_s": TARGET_S,
        "target_met": ok,
        "timer": "time.thread_time",
        "cases": rows,
        "predict_plus_energy_s": t_energy,
        "transfer_time_s": t_transfer,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "machine": pyplatform.machine(),
        "cpu_count": os.cpu_count(),
        "summary": summary,
        "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg()),
        "provenance": prov,
    }
    dest = args.json_out
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".hw_predict.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, dest)
    print(f"wrote {dest}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
