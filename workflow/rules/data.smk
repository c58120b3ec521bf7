# Acquire the release (demo / local / download) and ingest it once into index + image cache.


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
        code=code("clipfair.data.acquire"),  # the code it runs: changed code reruns it
        source=lambda w: as_json(
            source_for_padding(config["datasets"][w.dataset]["source"], w.padding)
        ),
        out=lambda w, output: os.path.dirname(output.zip),
        lock=DOWNLOADS_LOCK,
    priority: PRIORITY["data"]
    conda:
        CONDA_ENV
    log:
        "logs/acquire/{dataset}_{padding}.log",
    benchmark:
        "benchmarks/acquire/{dataset}_{padding}.tsv"
    message:
        "Acquire the {wildcards.dataset} release (padding {wildcards.padding})"
    shell:
        "clipfair acquire --source {params.source:q} --out {params.out} --lock {params.lock:q}"
        " > {log} 2>&1"


rule ingest:
    wildcard_constraints:
        dataset=datasets_of("fairface"),
    input:
        zip=lambda w: f"{raw_release(w.dataset)}/images.zip",
        csv=lambda w: f"{raw_release(w.dataset)}/fairface_label_{w.split}.csv",
    output:
        index=PATHS["index"],
        images=PATHS["images"],
        rejected=PATHS["rejected"],
    params:
        code=code("clipfair.data.ingest"),  # the code it runs: changed code reruns it
        raw=lambda w, input: os.path.dirname(input.zip),
        size=lambda w: config["datasets"][w.dataset]["image_size"],
        on_bad_rows=lambda w: config["datasets"][w.dataset].get("on_bad_rows", "fail"),
        on_count_mismatch=lambda w: config["datasets"][w.dataset].get("on_count_mismatch", "fail"),
        expect=lambda w: as_json(expected_counts(w.dataset, w.split)),
    threads: 2
    priority: PRIORITY["data"]
    conda:
        CONDA_ENV
    log:
        "logs/ingest/{dataset}_{split}.log",
    benchmark:
        "benchmarks/ingest/{dataset}_{split}.tsv"
    message:
        "Ingest {wildcards.dataset} {wildcards.split}: validate labels, decode images once"
    shell:
        "clipfair ingest --raw {params.raw} --split {wildcards.split}"
        " --out-index {output.index} --out-images {output.images}"
        " --image-size {params.size} --threads {threads} --on-bad-rows {params.on_bad_rows}"
        " --expect {params.expect:q} --on-count-mismatch {params.on_count_mismatch}"
        " --report {output.rejected} > {log} 2>&1"


# Adience (seed 004): fold files + aligned faces, ingested into the same index + image cache.


rule acquire_adience:
    wildcard_constraints:
        dataset=datasets_of("adience"),
    output:
        directory(PATHS["adience_release"]),
    params:
        code=code("clipfair.data.acquire"),  # the code it runs: changed code reruns it
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
        "clipfair acquire --format adience --source {params.source:q} --out {output}"
        " > {log} 2>&1"


rule ingest_adience:
    wildcard_constraints:
        dataset=datasets_of("adience"),
    input:
        rules.acquire_adience.output,
    output:
        index=PATHS["index"],
        images=PATHS["images"],
        rejected=PATHS["rejected"],
    params:
        code=code("clipfair.data.adience"),  # the code it runs: changed code reruns it
        size=lambda w: config["datasets"][w.dataset]["image_size"],
        val_folds=lambda w: ",".join(map(str, config["datasets"][w.dataset]["val_folds"])),
        on_bad_rows=lambda w: config["datasets"][w.dataset].get("on_bad_rows", "fail"),
        expect=lambda w: as_json(expected_counts(w.dataset, w.split)),
    threads: 2
    priority: PRIORITY["data"]
    conda:
        CONDA_ENV
    log:
        "logs/ingest/{dataset}_{split}.log",
    benchmark:
        "benchmarks/ingest/{dataset}_{split}.tsv"
    message:
        "Ingest {wildcards.dataset} {wildcards.split} (val folds {params.val_folds})"
    shell:
        "clipfair ingest-adience --raw {input} --split {wildcards.split}"
        " --val-folds {params.val_folds} --out-index {output.index}"
        " --out-images {output.images} --image-size {params.size} --threads {threads}"
        " --on-bad-rows {params.on_bad_rows} --expect {params.expect:q}"
        " --report {output.rejected} > {log} 2>&1"


# UTKFace: one tar.gz, labels in the file names, a seeded stratified split made at ingest.


rule acquire_utkface:
    wildcard_constraints:
        dataset=datasets_of("utkface"),
    output:
        PATHS["utkface_release"],
    params:
        code=code("clipfair.data.acquire"),  # the code it runs: changed code reruns it
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
        "clipfair acquire --format utkface --source {params.source:q} --out {output}"
        " > {log} 2>&1"


rule ingest_utkface:
    wildcard_constraints:
        dataset=datasets_of("utkface"),
    input:
        rules.acquire_utkface.output,
    output:
        index=PATHS["index"],
        images=PATHS["images"],
        rejected=PATHS["rejected"],
    params:
        code=code("clipfair.data.utkface"),  # the code it runs: changed code reruns it
        size=lambda w: config["datasets"][w.dataset]["image_size"],
        split_seed=lambda w: config["datasets"][w.dataset].get("split_seed", config["seed"]),
        on_bad_rows=lambda w: config["datasets"][w.dataset].get("on_bad_rows", "fail"),
        expect=lambda w: as_json(expected_counts(w.dataset, w.split)),
    threads: 2
    priority: PRIORITY["data"]
    conda:
        CONDA_ENV
    log:
        "logs/ingest/{dataset}_{split}.log",
    benchmark:
        "benchmarks/ingest/{dataset}_{split}.tsv"
    message:
        "Ingest the {wildcards.split} split of {wildcards.dataset} (UTKFace)"
    shell:
        "clipfair ingest-utkface --raw {input} --split {wildcards.split}"
        " --out-index {output.index} --out-images {output.images}"
        " --image-size {params.size} --threads {threads} --on-bad-rows {params.on_bad_rows}"
        " --split-seed {params.split_seed} --expect {params.expect:q}"
        " --report {output.rejected} > {log} 2>&1"
