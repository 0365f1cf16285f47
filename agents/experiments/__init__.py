"""Experiment drivers: the evaluation matrix, its distribution over Ray or processes, and the
batch-size optimiser (docs/architecture.md §6)."""
