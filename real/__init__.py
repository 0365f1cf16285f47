"""PyTorch side, by concept: ``models`` (zoo, extraction), ``kernels`` (sparse kernels),
``measure`` (profiler, meters, host calibration) and ``run`` (hybrid executor, replay,
validation). Dependencies point one way: run → measure → models/kernels.

This package itself imports nothing; its modules import torch, which nothing below it in the
layering does (docs/architecture.md §1).
"""
