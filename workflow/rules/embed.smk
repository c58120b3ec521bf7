# Embeddings: one job per (backbone, datasource) loads the model once, embeds the prompts of
# every label set the grid uses, then the train and val images of every dataset of the grid.


rule embed:
    input:
        unpack(embed_inputs),
        checkpoint=checkpoint_of,
        label_sets=LABEL_SET_FILES,
    output:
        images=[
            path(name, dataset=d, split=s)
            for d in EMBED_DATASETS
            for s in SPLITS
            for name in ("embeddings", "embeddings_meta")
        ],
        # .json: the sidecar (label set file's sha256, the model)
        text=[
            path(name, label_set=label_set)
            for label_set in LABEL_SETS_USED
            for name in ("text", "text_meta")
        ],
    wildcard_constraints:
        backbone="|".join(sorted({b for b, _ in clip_pairs(config)})) or "(?!)",
    params:
        code=code("clipfair.embed", "clipfair.methods.label_sets"),  # changed code reruns it
        backbone=backbone_json,
        datasource=datasource_json,
        cache_dir=config.get("cache_dir") or "",
        device=config["embed"]["device"],
        settings=as_json(config["embed"]),
        splits=embed_split_flags,
        label_sets=",".join(LABEL_SETS_USED),
        label_set_dir=LABEL_SET_DIR or "",
        text_dir=lambda w, output: os.path.dirname(output.text[0]),
        n_splits=len(EMBED_DATASETS) * len(SPLITS),
    threads: config["embed"]["threads"]
    resources:
        gpu=0,  # a cluster profile asks for one (workflow/profiles/slurm)
    priority: PRIORITY["models"]
    conda:
        CONDA_ENV
    log:
        "logs/embed/{backbone}_{datasource}.log",
    benchmark:
        "benchmarks/embed/{backbone}_{datasource}.tsv"
    message:
        "Embed the prompts and {params.n_splits} splits with {wildcards.backbone}/{wildcards.datasource}"
        " (gpu={resources.gpu})"
    shell:
        "clipfair step embed --backbone {params.backbone:q} --datasource {params.datasource:q}"
        " --checkpoint '{input.checkpoint}' --cache-dir '{params.cache_dir}'"
        " --device {params.device} --threads {threads} {params.splits}"
        " --settings {params.settings:q} --label-sets {params.label_sets}"
        " --label-set-dir '{params.label_set_dir}' --text-dir {params.text_dir} > {log} 2>&1"
