"""Metrics: per-cell classification and group metrics, and the summary table."""
