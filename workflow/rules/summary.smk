# One metrics table for the whole grid.


rule run_config:
    output:
        f"{METRICS}/run_config.yaml",
    params:
        # what the run ran with (clipfair.config.run_config), in its order: a changed value
        # rewrites the file
        digest=run_config_digest(config),
    conda:
        CONDA_ENV
    log:
        "logs/run_config.log",
    benchmark:
        "benchmarks/run_config.tsv"
    message:
        "Record the preset and the resolved config in {output}"
    script:
        "../scripts/run_config.py"


rule summarize:
    input:
        cells=cell_metric_files(),
        topk=TOPK_CSV,
        published=SRC / "clipfair" / "reference" / "published.csv",
    output:
        headline=f"{METRICS}/headline.json",
        headline_by_model=f"{METRICS}/headline_by_model.json",
        json=f"{METRICS}/summary.json",
        csv=report(
            f"{METRICS}/summary.csv",
            caption="../report/summary.rst",
            category="1. Summary",
        ),
        long=f"{METRICS}/summary.parquet",
        groups=f"{METRICS}/groups.csv",
        gender_by_race=f"{METRICS}/gender_by_race.csv",
        denigration=f"{METRICS}/denigration.csv",
        datacomp=f"{METRICS}/datacomp.csv",
        child_ablation=report(
            f"{METRICS}/child_ablation.csv",
            caption="../report/child_ablation.rst",
            category="1. Summary",
        ),
        # every published number beside this run's value for the same cell
        reproduction=report(
            f"{METRICS}/reproduction.csv",
            caption="../report/reproduction.rst",
            category="4. Reproduction",
        ),
    params:
        # the code it runs: changed code reruns it
        code=code("clipfair.metrics.summary", "clipfair.metrics.reproduction"),
        headline=HEADLINE,
        references=as_json(compare_references(config)),
        out_dir=lambda w, output: os.path.dirname(output.json),
    conda:
        CONDA_ENV
    log:
        "logs/summarize.log",
    benchmark:
        "benchmarks/summarize.tsv"
    message:
        "Summarize the grid into {output.csv}, the published numbers beside it"
    shell:
        "(clipfair step summarize {input.cells} --out-dir {params.out_dir}"
        " --headline {params.headline} --references {params.references:q}"
        " && clipfair reproduce --summary {output.csv} --topk {input.topk}"
        " --out {output.reproduction}) > {log} 2>&1"


rule compare:
    input:
        unpack(grid_predictions),
    output:
        report(
            f"{METRICS}/comparison.csv",
            caption="../report/comparison.rst",
            category="2. Comparison with the reference",
        ),
    params:
        code=code("clipfair.metrics.compare"),  # the code it runs: changed code reruns it
        references=as_json(compare_references(config)),
        cells=lambda w, input: " ".join(f"--cell {k}={v}" for k, v in input.items()),
        bootstrap=config["bootstrap"],
    conda:
        CONDA_ENV
    log:
        "logs/compare.log",
    benchmark:
        "benchmarks/compare.tsv"
    message:
        "Compare every cell with its task's reference (paired bootstrap, McNemar)"
    shell:
        "clipfair step compare --references {params.references:q} {params.cells} --out {output}"
        " --n-resamples {params.bootstrap[n_resamples]} --seed {params.bootstrap[seed]}"
        " --alpha {params.bootstrap[alpha]} > {log} 2>&1"


rule topk_sweep:
    input:
        unpack(topk_sweep_inputs),
    output:
        TOPK_CSV,
    params:
        code=code("clipfair.metrics.topk_sweep"),  # the code it runs: changed code reruns it
        flags=lambda w, input: " ".join(
            f"--embedding {k[4:]}={v}" if k.startswith("emb:") else f"--text {k[5:]}={v}"
            for k, v in input.items()
            if k != "val_index"
        ),
        k_max=K_ANALYSIS["k_max"],
        label_set_dir=LABEL_SET_DIR or "",
        alpha=config["bootstrap"]["alpha"],
    conda:
        CONDA_ENV
    log:
        "logs/topk_sweep.log",
    benchmark:
        "benchmarks/topk_sweep.tsv"
    message:
        "The prompt-ensemble report's k analysis: top-k accuracy for k = 1..{params.k_max} from the embeddings"
    shell:
        "clipfair step topk-sweep --val-index {input.val_index} {params.flags}"
        " --k-max {params.k_max} --label-set-dir '{params.label_set_dir}'"
        " --alpha {params.alpha} --out {output} > {log} 2>&1"


rule plots:
    input:
        unpack(reference_predictions),
        cells=cell_metric_files(),
        topk=rules.topk_sweep.output[0],
    output:
        data=expand(f"{METRICS}/plots/{{name}}.csv", name=PLOT_DATA),
        figures=report(
            expand(
                f"{METRICS}/plots/{{name}}.png",
                name=FIGURES,
            ),
            caption="../report/plots.rst",
            category="3. Plots",
        ),
    params:
        code=code("clipfair.report.plots", "clipfair.metrics.summary"),  # the code it runs: changed code reruns it
        references=as_json(compare_references(config)),
        flags=lambda w, input: " ".join(
            f"--reference-predictions {task}={input[task]}"
            for task in compare_references(config)
            if task in input.keys()
        ),
        out_dir=lambda w, output: os.path.dirname(output.data[0]),
    priority: PRIORITY["plots"]
    conda:
        CONDA_ENV
    log:
        "logs/plots.log",
    benchmark:
        "benchmarks/plots.tsv"
    message:
        "Plot accuracy by race, the top-k and probe sweeps, cross-dataset gender, confusions"
    shell:
        "clipfair step plots {input.cells} --references {params.references:q} {params.flags}"
        " --topk {input.topk} --out-dir {params.out_dir} > {log} 2>&1"
