# Embeddings, once per (backbone, datasource, split) and per zero-shot label set.


rule embed_images:
    input:
        index=f"{DATA}/interim/{{dataset}}/{{split}}.parquet",
        images=f"{DATA}/interim/{{dataset}}/{{split}}_images.npy",
        checkpoint=checkpoint_of,
    output:
        emb=f"{DATA}/embeddings/{{dataset}}/{{backbone}}/{{datasource}}/{{split}}.npy",
        meta=f"{DATA}/embeddings/{{dataset}}/{{backbone}}/{{datasource}}/{{split}}.json",
    params:
        code=code("clipfair.embed"),  # the code it runs: changed code reruns it
        backbone=backbone_json,
        datasource=datasource_json,
        cache_dir=config.get("cache_dir") or "",
        device=config["embed"]["device"],
        settings=as_json(config["embed"]),
    threads: config["embed"]["threads"]
    resources:
        gpu=0,  # a cluster profile asks for one (workflow/profiles/slurm)
    conda:
        CONDA_ENV
    log:
        "logs/embed_images/{dataset}_{backbone}_{datasource}_{split}.log",
    benchmark:
        "benchmarks/embed_images/{dataset}_{backbone}_{datasource}_{split}.tsv"
    message:
        "Embed {wildcards.dataset} {wildcards.split} with {wildcards.backbone}/{wildcards.datasource}"
        " (gpu={resources.gpu})"
    shell:
        "clipfair embed-images --backbone {params.backbone:q} --datasource {params.datasource:q}"
        " --checkpoint '{input.checkpoint}' --cache-dir '{params.cache_dir}'"
        " --device {params.device} --threads {threads} --index {input.index}"
        " --images {input.images} --out {output.emb} --settings {params.settings:q}"
        " > {log} 2>&1"


rule embed_text:
    input:
        checkpoint=checkpoint_of,
        label_sets=LABEL_SET_FILES,
    output:
        # every label set the grid uses, in one job (one model load); .json: the sidecar
        expand(
            f"{DATA}/embeddings/text/{{{{backbone}}}}/{{{{datasource}}}}/{{label_set}}.{{ext}}",
            label_set=LABEL_SETS_USED,
            ext=["parquet", "json"],
        ),
    params:
        code=code("clipfair.embed", "clipfair.methods.label_sets"),  # the code it runs: changed code reruns it
        backbone=backbone_json,
        datasource=datasource_json,
        cache_dir=config.get("cache_dir") or "",
        device=config["embed"]["device"],
        out_dir=lambda w, output: os.path.dirname(output[0]),
        label_sets=",".join(LABEL_SETS_USED),
        label_set_dir=LABEL_SET_DIR or "",
    threads: 1
    resources:
        gpu=0,
    conda:
        CONDA_ENV
    log:
        "logs/embed_text/{backbone}_{datasource}.log",
    benchmark:
        "benchmarks/embed_text/{backbone}_{datasource}.tsv"
    message:
        "Embed the prompts of {params.label_sets} with {wildcards.backbone}/{wildcards.datasource}"
        " (gpu={resources.gpu})"
    shell:
        "clipfair embed-text --backbone {params.backbone:q} --datasource {params.datasource:q}"
        " --checkpoint '{input.checkpoint}' --cache-dir '{params.cache_dir}'"
        " --device {params.device} --threads {threads} --label-sets {params.label_sets}"
        " --label-set-dir '{params.label_set_dir}' --out-dir {params.out_dir} > {log} 2>&1"
