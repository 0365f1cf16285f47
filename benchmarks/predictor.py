"""Threshold predictor benchmark: Transformer-LSTM vs MLP on held-out workloads, against the best
constant thresholds (docs/architecture.md §6; issue 6 target: mean regret ≤ 3 % and better than the constant).

    python benchmarks/predictor.py [--quick] [--synthetic 40] [--contexts 8] [--epochs 60]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sparoa_sim.agents.learn.predictor import MODELS, train_default
from sparoa_sim.hwmodels.fileio import atomic_write_text

OUT = Path(__file__).resolve().parent / "results"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--synthetic", type=int, default=40)
    ap.add_argument("--contexts", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args()
    if args.quick:
        args.synthetic, args.contexts, args.epochs = 12, 3, 15
    t0 = time.perf_counter()
    _pred, rep = train_default(args.synthetic, args.contexts, args.epochs, MODELS)
    doc = dict(rep.to_dict(), args=vars(args), wall_s=time.perf_counter() - t0)
    print(f"{'model':18s} {'held-out mean regret':>22s}")
    for m, r in rep.per_model.items():
        print(f"{m:18s} {100 * r:21.2f} %{'   (kept)' if m == rep.model else ''}")
    print(f"{'best constant':18s} {100 * rep.constant_regret_mean:21.2f} %")
    print(f"skill vs constant: {rep.skill:.3f}; worst held-out regret {100 * rep.regret_max:.1f} %; "
          f"{rep.n_train} training / {rep.n_test} held-out surfaces; {doc['wall_s']:.0f} s")
    OUT.mkdir(exist_ok=True)
    atomic_write_text(OUT / "predictor.json", json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
