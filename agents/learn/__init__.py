"""Learned agents and what trains them: the RL scheduler, the threshold predictor and its data,
Ray-backed vector environments and saved-artifact metadata (docs/architecture.md §6)."""
