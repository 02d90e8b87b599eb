"""Benchmarks: every hot path measured against the rawest way to do the same work, side by side
in one run (see bench/README.md). Run with `scripts/bench`."""
