# FairFace x CLIP-family benchmark. Entry point: `snakemake --cores all`.
# The one config is params.yaml (also DVC's params); `--config preset=demo` runs the demo.
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/methods.smk"
include: "workflow/rules/summary.smk"


# the tables and figures read small files: on a cluster they run beside Snakemake, not as jobs
localrules:
    all,
    summarize,
    compare,
    plots,
    topk_sweep,
    run_config,


rule all:
    default_target: True
    input:
        final_targets(),


onsuccess:
    # dvc.yaml tracks these folders: make them exist even when a grid leaves one empty.
    for sub in ("raw", "interim", "models", "embeddings", "predictions", "finetuned", "vggface"):
        os.makedirs(f"{DATA}/{sub}", exist_ok=True)
    if not os.environ.get("CLIPFAIR_NO_TABLE"):  # `make demo` prints it itself
        shell("clipfair table {METRICS}/summary.csv --headline {HEADLINE} || true")
