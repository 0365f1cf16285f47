"""``sparoa scenarios list|show``: the shipped scenarios, or one scenario file (docs/architecture.md §4.5, §9).

``list`` shows every shipped scenario with its background load, arrivals and co-runs; ``show NAME|PATH``
prints one as TOML (the file format, so ``show NAME > my.toml`` starts a scenario of one's own).
"""

from __future__ import annotations

import argparse
from typing import Any

from sparoa_sim.cli.args import Parser
from sparoa_sim.cli.output import emit, table, text

__all__ = ["add_scenarios_parser", "cmd_scenarios_list", "cmd_scenarios_show", "scenario_row"]


def add_scenarios_parser(sub: Any) -> None:
    """Attach ``scenarios list`` and ``scenarios show`` to the top-level sub-parsers."""
    sc = sub.add_parser("scenarios", help="list or show the shipped scenarios (load, arrivals, co-running models)")
    sc_sub = sc.add_subparsers(dest="action", required=False, parser_class=Parser)
    sc.set_defaults(func=cmd_scenarios_list, json=False)  # no action: list
    p = sc_sub.add_parser("list", help="every shipped scenario")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_scenarios_list)
    p = sc_sub.add_parser("show", help="one scenario as TOML (the file format)")
    p.add_argument("name", help="shipped scenario name or path to a scenario .toml")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_scenarios_show)


def scenario_row(s: Any) -> dict[str, Any]:
    """One scenario's summary for tables and JSON."""
    p = s.primary
    return {"name": s.name, "background": s.background.describe() if s.background else "idle",
            "arrivals": p.arrival.describe(), "batch": p.max_batch, "inflight": p.max_inflight,
            "deadline_ms": None if p.deadline_s is None else p.deadline_s * 1e3,
            "coruns": [f"{c.name or c.workload} ({c.arrival.describe()}, {c.policy})" for c in s.coruns],
            "oracle": "fixed load" if s.single_inference and s.fixed_load is not None else "best known",
            "description": s.description}


def cmd_scenarios_list(args: argparse.Namespace) -> int:
    """Every shipped scenario's summary."""
    from sparoa_sim.scenarios import list_scenarios, load_scenario

    rows = [scenario_row(load_scenario(n)) for n in list_scenarios()]
    return emit({"scenarios": rows}, args.json, lambda: [table(
        ("name", "background", "arrivals", "batch×inflight", "deadline", "co-running", "reference"),
        [(r["name"], r["background"], r["arrivals"], f"{r['batch']}×{r['inflight']}",
          "–" if r["deadline_ms"] is None else f"{r['deadline_ms']:.4g} ms", "; ".join(r["coruns"]) or "–",
          r["oracle"]) for r in rows],
        title="Shipped scenarios (sparoa scenarios show NAME for the file)",
        left=("name", "background", "arrivals", "co-running", "reference"))])


def cmd_scenarios_show(args: argparse.Namespace) -> int:
    """One scenario as TOML (or JSON)."""
    from sparoa_sim.scenarios import load_scenario, scenario_to_dict, scenario_to_toml

    s = load_scenario(args.name)
    return emit(lambda: scenario_to_dict(s), args.json, lambda: [text(scenario_to_toml(s).rstrip("\n"))])
