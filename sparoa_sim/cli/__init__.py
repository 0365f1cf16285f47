"""The ``sparoa`` command line (docs/architecture.md §9): one module per sub-command.

``sparoa = "sparoa_sim.cli:main"`` is the console script; ``python -m sparoa_sim.cli`` runs the
same. :mod:`~sparoa_sim.cli.args` reads arguments, :mod:`~sparoa_sim.cli.output` prints (JSON or
rich tables, user text shown literally), :mod:`~sparoa_sim.cli.app` assembles the parser. The
top layer: it may import every other one, none imports it.
"""

from __future__ import annotations

from sparoa_sim.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
