# Method cells: one job per (model, batch) runs and evaluates every cell of the batch in one
# process (the method kind's `batch`: zeroshot, probes, finetuned, vggface), writing one
# predictions file, one info file and one metrics file per cell.

for _batch, (_methods, _backbones, _datasources) in cell_batches(config).items():

    rule:
        name:
            f"cells_{_batch}"
        input:
            batch_input_files(_methods),
        output:
            # the paths of cell_outputs (common.smk), with the job's wildcards left open
            predictions=[cell_outputs("{backbone}", "{datasource}", m)["predictions"] for m in _methods],
            info=[cell_outputs("{backbone}", "{datasource}", m)["info"] for m in _methods],
            metrics=[cell_outputs("{backbone}", "{datasource}", m)["metrics"] for m in _methods],
        wildcard_constraints:
            backbone="|".join(_backbones),
            datasource="|".join(_datasources),
        params:
            code=code(
                "clipfair.methods.runner",
                *sorted({METHODS[config["methods"][m]["kind"]].module for m in _methods}),
            ),
            plan=batch_plan(_methods),
            bootstrap=as_json(config["bootstrap"]),
            seed=config["seed"],
            schema=CELL_SCHEMA,  # a new metrics layout re-evaluates every cell
            n=len(_methods),
            batch=_batch,
        threads: batch_threads(config, _methods)
        resources:
            gpu=0,  # the Slurm profile gives the probe jobs one (their C sweeps)
        priority: PRIORITY["cells"]
        conda:
            CONDA_ENV
        log:
            f"logs/cells_{_batch}/{{backbone}}_{{datasource}}.log",
        benchmark:
            f"benchmarks/cells_{_batch}/{{backbone}}_{{datasource}}.tsv"
        message:
            "Run and evaluate {params.n} {params.batch} cells of {wildcards.backbone}/{wildcards.datasource}"
            " (gpu={resources.gpu})"
        shell:
            "clipfair step run-cells --plan {params.plan:q} --bootstrap {params.bootstrap:q}"
            " --seed {params.seed} --threads {threads} > {log} 2>&1"
