# Acquire the release (demo / local / download) and ingest it once into index + image cache.
# One ingest job per dataset does both splits, val first (common.smk: ingest_runs).


rule acquire:
    wildcard_constraints:
        dataset=datasets_of("fairface"),
        padding=r"0\.25|1\.25",
    output:
        # one folder per padding: switching `padding:` downloads the other crop, keeps this one
        zip=path("release_file", file="images.zip"),
        csv_train=path("release_file", file="fairface_label_train.csv"),
        csv_val=path("release_file", file="fairface_label_val.csv"),
    params:
        code=source_code,  # the code it runs (its source kind's): changed code reruns it
        source=lambda w: as_json(
            source_for_padding(config["datasets"][w.dataset]["source"], w.padding)
        ),
        out=lambda w, output: os.path.dirname(output.zip),
        lock=DOWNLOADS_LOCK,
    priority: data_priority
    conda:
        CONDA_ENV
    log:
        "logs/acquire/{dataset}_{padding}.log",
    benchmark:
        "benchmarks/acquire/{dataset}_{padding}.tsv"
    message:
        "Acquire the {wildcards.dataset} release (padding {wildcards.padding})"
    shell:
        "clipfair step acquire --format fairface --source {params.source:q} --out {params.out}"
        " --lock {params.lock:q}"
        " > {log} 2>&1"


rule ingest:
    wildcard_constraints:
        dataset=datasets_of("fairface"),
    input:
        zip=lambda w: f"{raw_release(w.dataset)}/images.zip",
        csv_train=lambda w: f"{raw_release(w.dataset)}/fairface_label_train.csv",
        csv_val=lambda w: f"{raw_release(w.dataset)}/fairface_label_val.csv",
    output:
        **ingest_outputs(),
    params:
        code=code("clipfair.data.ingest"),  # the code it runs: changed code reruns it
        runs=ingest_runs,
        raw=lambda w, input: os.path.dirname(input.zip),
        size=lambda w: config["datasets"][w.dataset]["image_size"],
        on_bad_rows=lambda w: config["datasets"][w.dataset]["on_bad_rows"],
        on_count_mismatch=lambda w: config["datasets"][w.dataset]["on_count_mismatch"],
    threads: config["ingest"]["threads"]
    priority: data_priority
    conda:
        CONDA_ENV
    log:
        "logs/ingest/{dataset}.log",
    benchmark:
        "benchmarks/ingest/{dataset}.tsv"
    message:
        "Ingest {wildcards.dataset} (val, then train): validate labels, decode images once"
    shell:
        "ingest() {{ clipfair step ingest --raw {params.raw} --image-size {params.size}"
        " --threads {threads} --on-bad-rows {params.on_bad_rows}"
        " --on-count-mismatch {params.on_count_mismatch} \"$@\"; }};"
        " ({params.runs}) > {log} 2>&1"


# Adience (the VGG-Face gender_classifier): fold files + aligned faces, ingested into the same index + image cache.


rule acquire_adience:
    wildcard_constraints:
        dataset=datasets_of("adience"),
    output:
        directory(PATHS["adience_release"]),
    params:
        code=source_code,  # the code it runs (its source kind's): changed code reruns it
        source=lambda w: as_json(config["datasets"][w.dataset]["source"]),
    priority: PRIORITY["data"]
    conda:
        CONDA_ENV
    log:
        "logs/acquire/{dataset}.log",
    benchmark:
        "benchmarks/acquire/{dataset}.tsv"
    message:
        "Acquire the {wildcards.dataset} Adience release"
    shell:
        "clipfair step acquire --format adience --source {params.source:q} --out {output} --lock ''"
        " > {log} 2>&1"


rule ingest_adience:
    wildcard_constraints:
        dataset=datasets_of("adience"),
    input:
        rules.acquire_adience.output,
    output:
        **ingest_outputs(),
    params:
        code=code("clipfair.data.adience"),  # the code it runs: changed code reruns it
        runs=ingest_runs,
        size=lambda w: config["datasets"][w.dataset]["image_size"],
        val_folds=lambda w: ",".join(map(str, config["datasets"][w.dataset]["val_folds"])),
        on_bad_rows=lambda w: config["datasets"][w.dataset]["on_bad_rows"],
    threads: config["ingest"]["threads"]
    priority: PRIORITY["data"]
    conda:
        CONDA_ENV
    log:
        "logs/ingest/{dataset}.log",
    benchmark:
        "benchmarks/ingest/{dataset}.tsv"
    message:
        "Ingest {wildcards.dataset} (val folds {params.val_folds}, then the others)"
    shell:
        "ingest() {{ clipfair step ingest-adience --raw {input} --val-folds {params.val_folds}"
        " --image-size {params.size} --threads {threads} --on-bad-rows {params.on_bad_rows}"
        " \"$@\"; }}; ({params.runs}) > {log} 2>&1"


# UTKFace: one tar.gz, labels in the file names, a seeded stratified split made at ingest.


rule acquire_utkface:
    wildcard_constraints:
        dataset=datasets_of("utkface"),
    output:
        PATHS["utkface_release"],
    params:
        code=source_code,  # the code it runs (its source kind's): changed code reruns it
        source=lambda w: as_json(config["datasets"][w.dataset]["source"]),
    priority: PRIORITY["data"]
    conda:
        CONDA_ENV
    log:
        "logs/acquire/{dataset}.log",
    benchmark:
        "benchmarks/acquire/{dataset}.tsv"
    message:
        "Acquire the {wildcards.dataset} UTKFace release"
    shell:
        "clipfair step acquire --format utkface --source {params.source:q} --out {output} --lock ''"
        " > {log} 2>&1"


rule ingest_utkface:
    wildcard_constraints:
        dataset=datasets_of("utkface"),
    input:
        rules.acquire_utkface.output,
    output:
        **ingest_outputs(),
    params:
        code=code("clipfair.data.utkface"),  # the code it runs: changed code reruns it
        runs=ingest_runs,
        size=lambda w: config["datasets"][w.dataset]["image_size"],
        split_seed=lambda w: config["datasets"][w.dataset].get("split_seed", config["seed"]),
        on_bad_rows=lambda w: config["datasets"][w.dataset]["on_bad_rows"],
    threads: config["ingest"]["threads"]
    priority: PRIORITY["data"]
    conda:
        CONDA_ENV
    log:
        "logs/ingest/{dataset}.log",
    benchmark:
        "benchmarks/ingest/{dataset}.tsv"
    message:
        "Ingest {wildcards.dataset} (UTKFace): its seeded split, val then train"
    shell:
        "ingest() {{ clipfair step ingest-utkface --raw {input} --split-seed {params.split_seed}"
        " --image-size {params.size} --threads {threads} --on-bad-rows {params.on_bad_rows}"
        " \"$@\"; }}; ({params.runs}) > {log} 2>&1"
