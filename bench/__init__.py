"""Benchmarks (not tests): each prints its figure next to a raw baseline measured in the same run.

Run them all with ``medbot bench`` (or ``python -m bench``); ``--only NAME`` picks some,
``--quick`` shortens every run (CI smoke, a laptop). See docs/performance.md for the figures.
"""
