"""Metrics: per-cell classification and group metrics, and the summary table."""

#: Version of the cell JSON layout. Bump it when the layout changes: it is a param of the
#: `evaluate` rule, so Snakemake re-evaluates old cells, and `summarize` refuses stale ones.
#: (Here, not in classification.py, so the Snakefile can read it without importing sklearn.)
CELL_SCHEMA = 7


def labelled(pred, column: str) -> bool:
    """Whether every row of ``pred`` has a ``column`` label: a dataset without some labels
    (Adience has gender only) gets no groups, gaps or shares by that column."""
    return bool(pred[column].notna().all())
