"""``sparoa doctor``: is this machine ready to measure? (docs/architecture.md §7, §9).

Prints torch/CUDA/cuDNN versions, the GPU (integrated or not), the TF32 switches, and on a
Jetson its model, L4T/JetPack, nvpmodel mode, clocks, tegrastats rails and total, the energy
meters and the CPU governor (:func:`sparoa_sim.real.measure.device_state.device_state`), then one
warning per item that will skew measurements. Off a Jetson it says so and exits 0. With
``--check`` it runs the short prepared GPU check (:mod:`sparoa_sim.real.run.gpu_check`) instead;
``--dry-run`` with it runs that check's CPU path only.
"""

from __future__ import annotations

import argparse
from typing import Any

from sparoa_sim.cli.output import emit, table

__all__ = ["add_doctor_parser", "cmd_doctor"]


def add_doctor_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``doctor`` to an argparse sub-parser collection; returns the new parser."""
    p = subparsers.add_parser("doctor", help="this machine's measuring state: versions, GPU, TF32, Jetson mode, "
                                             "clocks, meters; warnings")
    p.add_argument("--no-tegrastats", action="store_true", help="do not start tegrastats for a sample")
    p.add_argument("--check", action="store_true", help="run the prepared GPU check (scripts/gpu_check.sh's core)")
    p.add_argument("--dry-run", action="store_true", help="with --check: the CPU path only (no GPU needed)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_doctor)
    return p


def cmd_doctor(args: argparse.Namespace) -> int:
    """Gather the state (or run the check), print JSON or a table; exit 0 unless the check failed."""
    if args.check:
        from sparoa_sim.real.run.gpu_check import run_check

        doc = run_check(dry_run=args.dry_run)
        emit(doc, args.json, lambda: [line for line in doc["lines"]])
        return 0 if doc["ok"] else 1
    from sparoa_sim.real.measure.device_state import device_state, state_warnings

    st = device_state(probe_tegrastats=not args.no_tegrastats)
    doc = {"state": st, "warnings": state_warnings(st), "jetson": bool(st["jetson"])}
    return emit(doc, args.json, lambda: _render(doc))


def _render(doc: dict[str, Any]) -> list[Any]:
    st = doc["state"]
    rows = [(k, "–" if v is None else str(v)) for k, v in st.items() if k not in ("energy_meters",
                                                                                   "jetson_clocks_show")]
    rows += [(f"meter {k}", "available" if m["available"] else f"absent: {m['reason']}")
             for k, m in st["energy_meters"].items()]
    out: list[Any] = [table(("item", "value"), rows, left=("item", "value"),
                            title="sparoa doctor" + ("" if doc["jetson"] else " — not a Jetson"))]
    if st.get("jetson_clocks_show"):
        out.append(st["jetson_clocks_show"])
    out += [f"warning: {w}" for w in doc["warnings"]] or ["no warnings"]
    return out
