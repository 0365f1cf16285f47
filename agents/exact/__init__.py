"""Exact answers in the engine's reference setting: the scheduling problem and its evaluator,
the chain dynamic program and the CP-SAT oracle (docs/architecture.md §4, §6)."""
