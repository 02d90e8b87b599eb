"""Helpers the benchmarks share: the stack they run on, load generation, timing, plots, the report."""
