"""What proposed CPU parameter changes would do to the published CPU rows (profiles untouched).

Re-predicts every ``method = "op"`` row of ``benchmarks/results/published.json`` on in-memory copies of the
profiles with one change each (docs/research/jetson_parameters.md (h)) and prints rows within 2x and the
median |twin/published - 1|, over all rows, the rows not used for fitting, fp32 and fp16:

    python benchmarks/published_cpu_variants.py [--results PATH]

P1 CPU eta.matmul / eta.linear 0.85 (25W torch.matmul 2048^2 / 4096^2: 0.85 / 0.88 of 6 x 16 x 1.344 GHz);
P2 CPU t_launch 0.012 ms*GHz (7W small fp32 statements: time / kernels x 729.6 MHz, median).
Both change every Jetson result (the scenario, oracle and demo runs must be redone with them), so they stay
proposals. Applied in session 10 (in the profiles, so "today" includes them): the CPU element-wise FP16 rate
2.13 FLOP/cycle (7W fp16 axpy at n = 1e7) and the 7W CPU bandwidth scale 0.634 (7W copies, 16.8 GB/s).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VARIANTS: dict[str, dict[str, float]] = {
    "today": {}, "P1 eta.matmul/linear 0.85": {"eta_mm": 0.85}, "P2 t_launch 0.012 ms.GHz": {"tl_msghz": 0.012},
    "P1+P2": {"eta_mm": 0.85, "tl_msghz": 0.012},
}


def variant(p: Any, eta_mm: float | None = None, tl_msghz: float | None = None) -> Any:
    """A copy of platform ``p`` with the CPU changes named (None: unchanged)."""
    from sparoa_sim.hwmodels import kind_code

    lat = p.cpu.latency
    if eta_mm is not None:
        eta = list(lat.eta)
        for k in ("matmul", "linear"):
            eta[kind_code(k)] = eta_mm
        lat = dataclasses.replace(lat, eta=tuple(eta))
    if tl_msghz is not None:
        lat = dataclasses.replace(lat, t_launch=tl_msghz * 1e-3 / (p.cpu.max_clock_hz / 1e9))
    cpu = dataclasses.replace(p.cpu, latency=lat)
    return dataclasses.replace(p, cpu=cpu)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "published.json")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import published_ops
    from sparoa_sim.hwmodels import load_platform

    rows = [x for x in json.loads(args.results.read_text())["rows"] if x.get("method") == "op" and x["ratio"]]
    base = {n: load_platform(n) for n in {x["profile"] for x in rows}}
    groups = {"all": lambda x: True, "not fit": lambda x: not x["fit_source"],
              "fp32": lambda x: x["precision"] == "fp32", "fp16": lambda x: x["precision"] == "fp16"}
    for name, kw in VARIANTS.items():
        ratios = []
        for x in rows:
            s = x["source"]
            t, _ = published_ops.predict_op_row(variant(base[x["profile"]], **kw), s["op"], tuple(s["op_shape"]),
                                                x["twin_mode"], x["twin_precision"])
            ratios.append((x, t * 1e3 / x["published_ms"]))
        cells = []
        for g, sel in groups.items():
            r = [q for x, q in ratios if sel(x)]
            cells.append(f"{g} {sum(0.5 <= q <= 2 for q in r)}/{len(r)} ({statistics.median(abs(q - 1) for q in r):.0%})")
        print(f"{name:28s} " + "   ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
