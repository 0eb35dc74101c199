"""Benchmarks: `python -m bench.pipeline` (figures in docs/performance.md)."""
