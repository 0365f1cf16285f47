"""Compute kernels the executor and the profiler share (the CPU CSR kernels of ``sparse``).

Imports nothing else of ``sparoa_sim.real``, so every other sub-package may use it."""
