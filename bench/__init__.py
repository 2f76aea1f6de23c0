"""Benchmarks: `python -m bench <name> [--json]` (not timed tests; figures for the issue notes)."""
