"""The run_config rule's script. Snakemake runs a ``script:`` in a plain Python process; the
``run:`` block it replaces started a second Snakemake that parsed the whole workflow again
(~4 s of a job that writes one YAML file)."""

import json

from clipfair.config import write_run_config

params, output, log = snakemake.params, snakemake.output, snakemake.log  # noqa: F821 (injected)
write_run_config(output[0], json.loads(params.resolved), log[0])
