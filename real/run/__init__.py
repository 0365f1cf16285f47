"""Running placements on the real devices: the hybrid CPU+GPU executor (with its split and
transfer machinery), request replay under arrivals, live placement by a policy, and the
sim-to-real validation."""
