"""``sparoa platforms list|show``: the hardware profiles (docs/architecture.md §3, §9).

``list`` shows every shipped and user profile with its default mode's peaks; ``show NAME|PATH``
shows one profile per power mode (cores, clocks, derived peaks, bandwidth) and where its
figures come from.
"""

from __future__ import annotations

import argparse
from typing import Any

from sparoa_sim.cli.args import Parser
from sparoa_sim.cli.output import emit, fmt, table

__all__ = ["add_platforms_parser", "cmd_platforms_list", "cmd_platforms_show", "platform_modes"]


def add_platforms_parser(sub: Any) -> None:
    """Attach ``platforms list`` and ``platforms show`` to the top-level sub-parsers."""
    pl = sub.add_parser("platforms", help="list or show the hardware profiles")
    pl_sub = pl.add_subparsers(dest="action", required=False, parser_class=Parser)
    pl.set_defaults(func=cmd_platforms_list, json=False)  # no action: list
    p = pl_sub.add_parser("list", help="every shipped (and user) hardware profile")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_platforms_list)
    p = pl_sub.add_parser("show", help="one profile: power modes, peaks, bandwidth, origins")
    p.add_argument("name", help="profile name or path to a TOML profile")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_platforms_show)


def platform_modes(platform: Any) -> list[dict[str, Any]]:
    """Per power mode: cores, clocks and the derived peaks and bandwidth (for tables and JSON)."""
    rows = []
    for name in platform.mode_names:
        m = platform.mode(name)
        rows.append({
            "mode": name,
            "default": name == platform.default_mode,
            "cpu_cores": m.cpu_cores,
            "cpu_clock_hz": m.cpu_clock_hz,
            "gpu_tpcs": m.gpu_tpcs,
            "gpu_clock_hz": m.gpu_clock_hz,
            "cpu_fp32_flops": platform.peak_flops("cpu", m, "fp32"),
            "gpu_fp32_flops": platform.peak_flops("gpu", m, "fp32"),
            "gpu_fp16_tc_flops": platform.peak_flops("gpu", m, "fp16_tc"),
            "mem_bw": m.emc_bw,
            "board_idle_w": m.energy.board_idle_w,
        })
    return rows


def cmd_platforms_list(args: argparse.Namespace) -> int:
    """Every profile with its default mode's peaks."""
    from sparoa_sim.errors import ProfileError
    from sparoa_sim.hwmodels import list_platforms, load_platform

    rows, broken = [], []
    for name in list_platforms():
        try:
            p = load_platform(name)
        except ProfileError as exc:  # one bad user profile must not hide the others: listed apart
            broken.append({"name": name, "error": str(exc)})
            continue
        d = p.mode(None)
        rows.append({"name": p.name, "description": p.description, "modes": list(p.mode_names),
                     "default_mode": p.default_mode, "cpu_fp32_flops": p.peak_flops("cpu", d, "fp32"),
                     "gpu_fp32_flops": p.peak_flops("gpu", d, "fp32"), "mem_bw": d.emc_bw, "source": str(p.source)})
    doc: dict[str, Any] = {"platforms": rows}
    if broken:
        doc["unreadable"] = broken

    def render():
        yield table(("name", "modes", "default", "CPU FP32", "GPU FP32", "DRAM BW"),
                    [(r["name"], ", ".join(r["modes"]), r["default_mode"], fmt(r["cpu_fp32_flops"], "FLOP/s"),
                      fmt(r["gpu_fp32_flops"], "FLOP/s"), fmt(r["mem_bw"], "B/s")) for r in rows],
                    title="Hardware profiles (peaks in the default power mode)", left=("name", "modes", "default"))
        for b in broken:
            yield f"not listed: profile {b['name']!r} cannot be read: {b['error']}"

    return emit(doc, args.json, render)


def cmd_platforms_show(args: argparse.Namespace) -> int:
    """One profile: a row per power mode, then a count of its figures by origin."""
    from sparoa_sim.hwmodels import load_platform

    p = load_platform(args.name)
    modes = platform_modes(p)

    def render():
        yield table(
            ("mode", "CPU cores", "CPU clock", "GPU TPCs", "GPU clock", "CPU FP32", "GPU FP32", "GPU FP16 TC",
             "DRAM BW", "idle W"),
            [(r["mode"] + (" (default)" if r["default"] else ""), r["cpu_cores"], fmt(r["cpu_clock_hz"], "Hz"),
              r["gpu_tpcs"], fmt(r["gpu_clock_hz"], "Hz"), fmt(r["cpu_fp32_flops"], "FLOP/s"),
              fmt(r["gpu_fp32_flops"], "FLOP/s"), fmt(r["gpu_fp16_tc_flops"], "FLOP/s"), fmt(r["mem_bw"], "B/s"),
              f"{r['board_idle_w']:.2f}") for r in modes],
            title=f"{p.name}: {p.description}", caption=f"profile: {p.source}", left=("mode",))
        origins: dict[str, int] = {}
        for _key, origin, _note in p.provenance:
            origins[origin] = origins.get(origin, 0) + 1
        yield "figures by origin: " + ", ".join(f"{k} {v}" for k, v in sorted(origins.items()))

    return emit(lambda: dict(p.to_dict(), mode_summary=modes), args.json, render)
