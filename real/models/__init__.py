"""The models side of the PyTorch backend: the zoo (one module per family, registry in
``zoo``), FLOP counting, fx tracing helpers, graph extraction to the IR and the regeneration of
the shipped workload graphs. Imports torch; nothing here measures or runs placements."""
