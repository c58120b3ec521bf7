"""Metrics: per-cell classification and group metrics, and the summary table."""

#: Version of the cell JSON layout. Bump it when the layout changes: it is a param of the
#: `evaluate` rule, so Snakemake re-evaluates old cells, and `summarize` refuses stale ones.
#: (Here, not in classification.py, so the Snakefile can read it without importing sklearn.)
CELL_SCHEMA = 5
