"""Whole-operator and co-execution heuristics: greedy EFT, HEFT, CoDL-style co-execution, the
best threshold rule and the TensorRT-like baseline (docs/architecture.md §6)."""
