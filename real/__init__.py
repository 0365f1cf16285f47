"""PyTorch side: model zoo, graph extraction, hybrid executor, profiler, meters, validation.

Importing this package imports torch; nothing below it in the layering does (DESIGN §1).
"""
