"""Report: plot data for `dvc plots` and PNG figures for the Snakemake report."""
