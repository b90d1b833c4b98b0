"""Capacity-planning sweeps: many seeded runs of a scenario with some of its settings varied, on a
local process pool or a Ray cluster, into one Parquet file and a report (`medbot sweep`)."""
