# One metrics table for the whole grid.


rule summarize:
    input:
        cell_metric_files(),
    output:
        json=f"{METRICS}/summary.json",
        csv=f"{METRICS}/summary.csv",
    params:
        headline=HEADLINE,
    conda:
        CONDA_ENV
    log:
        "logs/summarize.log",
    benchmark:
        "benchmarks/summarize.tsv"
    message:
        "Summarize the grid into {output.csv}"
    shell:
        "clipfair summarize {input} --out-json {output.json} --out-csv {output.csv}"
        " --headline {params.headline} > {log} 2>&1"
