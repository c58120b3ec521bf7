# One rule runs any method cell (the registry picks the code); one evaluates it.


rule run_method:
    input:
        unpack(method_inputs),
    output:
        predictions=f"{DATA}/predictions/{{dataset}}/{{backbone}}/{{datasource}}/{{method}}.parquet",
        info=f"{DATA}/predictions/{{dataset}}/{{backbone}}/{{datasource}}/{{method}}.info.json",
    params:
        spec=lambda w: as_json(method_spec(w)),
        options=method_options,
        flags=optional_flags,
        seed=config["seed"],
        data=lambda w: as_json(method_data(config, w.method)),
    threads: lambda w: 2 if method_spec(w)["kind"] == "linear_probe" else 1
    conda:
        CONDA_ENV
    log:
        "logs/run_method/{dataset}_{backbone}_{datasource}_{method}.log",
    benchmark:
        "benchmarks/run_method/{dataset}_{backbone}_{datasource}_{method}.tsv"
    message:
        "Run {wildcards.method} on {wildcards.backbone}/{wildcards.datasource}"
    shell:
        "clipfair run-method --spec {params.spec:q} --options {params.options:q}"
        " --val-index {input.val_index} {params.flags} --data {params.data:q}"
        " --out {output.predictions} --out-info {output.info} --seed {params.seed}"
        " --threads {threads} > {log} 2>&1"


rule evaluate:
    input:
        predictions=f"{DATA}/predictions/{DATASET}/{{backbone}}/{{datasource}}/{{method}}.parquet",
        info=f"{DATA}/predictions/{DATASET}/{{backbone}}/{{datasource}}/{{method}}.info.json",
    output:
        f"{METRICS}/cells/{{backbone}}/{{datasource}}/{{method}}.json",
    params:
        schema=CELL_SCHEMA,  # a new metrics layout re-evaluates every cell
        bootstrap=config["bootstrap"],
    conda:
        CONDA_ENV
    log:
        "logs/evaluate/{backbone}_{datasource}_{method}.log",
    benchmark:
        "benchmarks/evaluate/{backbone}_{datasource}_{method}.tsv"
    message:
        "Evaluate {wildcards.backbone}/{wildcards.datasource}/{wildcards.method}"
    shell:
        "clipfair evaluate --predictions {input.predictions} --info {input.info}"
        " --cell {wildcards.backbone}/{wildcards.datasource}/{wildcards.method}"
        " --out {output} --n-resamples {params.bootstrap[n_resamples]}"
        " --seed {params.bootstrap[seed]} --alpha {params.bootstrap[alpha]} > {log} 2>&1"
