# One metrics table for the whole grid.


rule summarize:
    input:
        cell_metric_files(),
    output:
        json=f"{METRICS}/summary.json",
        csv=f"{METRICS}/summary.csv",
        groups=f"{METRICS}/groups.csv",
        gender_by_race=f"{METRICS}/gender_by_race.csv",
        denigration=f"{METRICS}/denigration.csv",
    params:
        headline=HEADLINE,
        out_dir=lambda w, output: os.path.dirname(output.json),
    conda:
        CONDA_ENV
    log:
        "logs/summarize.log",
    benchmark:
        "benchmarks/summarize.tsv"
    message:
        "Summarize the grid into {output.csv}"
    shell:
        "clipfair summarize {input} --out-dir {params.out_dir}"
        " --headline {params.headline} > {log} 2>&1"


rule compare:
    input:
        unpack(grid_predictions),
    output:
        f"{METRICS}/comparison.csv",
    params:
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
        "clipfair compare --references {params.references:q} {params.cells} --out {output}"
        " --n-resamples {params.bootstrap[n_resamples]} --seed {params.bootstrap[seed]}"
        " --alpha {params.bootstrap[alpha]} > {log} 2>&1"
