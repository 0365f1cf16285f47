"""Calibrate a profile from a measurement table (what `sparoa calibrate` does), then use it.

    python examples/calibrate_from_table.py [--quick] [--table T.json] [--base PROFILE] [-o out.toml]

A table comes from `sparoa profile --workload W --device cpu|cuda -o table.json` on your own
machine (or Jetson). The fit is least squares on log-latency (roofline + a shape-feature
residual); held-out quality is reported by workload, beside the measurements' repeatability.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sparoa_sim.sim.simulator import simulate
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.hwmodels.calibrate import cross_validate, fit
from sparoa_sim.hwmodels.measurements import load_table
from sparoa_sim.hwmodels.profile_io import save_platform

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the cross-validation")
    ap.add_argument("--table", default=str(HERE / "data" / "host_table.json"))
    ap.add_argument("--base", default=str(HERE.parent / "hwmodels" / "profiles" / "examples" / "host-example.toml"))
    ap.add_argument("-o", "--output", default=None, help="where to write the fitted profile (default ./my-host.toml)")
    args = ap.parse_args()
    table = load_table(args.table)
    base = load_platform(args.base)
    result = fit(base, table, device="cpu")
    rep = result.report
    print(f"fit on {rep['n']} in-graph operator rows: {100 * rep['within_10pct']:.0f} % within ±10 %, "
          f"median error {100 * rep['median_error']:.1f} %")
    if not args.quick:
        cv = cross_validate(base, table, device="cpu")["overall"]
        print(f"held out by workload: {100 * cv['within_10pct']:.0f} % within ±10 %, "
              f"median error {100 * cv['median_error']:.1f} %")
    out = Path(args.output or "my-host.toml")
    save_platform(result.platform, out)
    r = simulate("resnet18", out, "cpu", reference=True)
    print(f"wrote {out}; predicted CPU-only resnet18 on it: {1e3 * r.latency_mean_s:.2f} ms")


if __name__ == "__main__":
    main()
