"""Agents, grouped by concept: ``heuristics`` (baselines), ``exact`` (reference-setting evaluator,
chain DP, CP-SAT oracle), ``learn`` (RL scheduler, threshold predictor) and ``experiments``
(evaluation harness, batch-size optimiser). Importing this package loads none of them (no torch)."""
