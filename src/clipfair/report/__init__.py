"""Report: plot data for `dvc plots` and PNG figures for the Snakemake report."""

#: the PNG figures the `plots` rule writes (metrics/plots/<name>.png); here, not in plots.py,
#: so the Snakefile reads it without importing pandas and matplotlib
FIGURES: tuple[str, ...] = ("accuracy_by_race", "topk", "probe_sweep", "cross_dataset", "confusion")
