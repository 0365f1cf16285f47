"""The graph IR: operator DAGs (``ir.graph``) and seeded synthetic ones (``ir.synthetic``).

See docs/architecture.md §2. Re-exports the public names of both modules.
"""

from __future__ import annotations

from sparoa_sim.ir.graph import Op, OpGraph, fuse, load_graph, save_graph
from sparoa_sim.ir.synthetic import SyntheticConfig, generate

__all__ = ["Op", "OpGraph", "SyntheticConfig", "fuse", "generate", "load_graph", "save_graph"]
