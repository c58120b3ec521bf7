"""Benchmark commands: each measures the fast path against its baseline in the same run."""
