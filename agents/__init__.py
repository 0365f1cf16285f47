"""Agents: baselines, exact oracle, threshold predictor, RL scheduler, evaluation harness."""
