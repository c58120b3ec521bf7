"""The run_config rule's script. Snakemake runs a ``script:`` in a plain Python process; the
``run:`` block it replaces started a second Snakemake that parsed the whole workflow again
(~4 s of a job that writes one YAML file). The config comes from Snakemake (the resolved one:
the Snakefile resolves the preset in place), not from the command line or the params, which
Snakemake prints."""

from clipfair.config import run_config, write_run_config

config, output, log = snakemake.config, snakemake.output, snakemake.log  # noqa: F821 (injected)
write_run_config(output[0], run_config(config), log[0])
