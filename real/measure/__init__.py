"""Measuring the host: clocks and repetition (``timing``), host identity, STREAM bandwidth, the
dense-vs-CSR sweep, per-operator timing of an fx graph, the profiler that writes the twin's
measurement table, power/energy meters, the allocator setting and the host calibration."""
