# Datasources with a `train:` block are trained here (the demo's tiny CLIP).


rule train_clip:
    input:
        index=path("index", dataset=DATASET, split="train"),
        images=path("images", dataset=DATASET, split="train"),
        model_config=lambda w: os.path.join(
            config["backbones"][w.backbone].get("config_dir", "."),
            f"{config['backbones'][w.backbone]['model']}.json",
        ),
    output:
        PATHS["weights"],
    params:
        code=code("clipfair.models.train_clip"),  # the code it runs: changed code reruns it
        model=lambda w: config["backbones"][w.backbone]["model"],
        config_dir=lambda w: config["backbones"][w.backbone].get("config_dir", "."),
        train=lambda w: config["datasources"][w.datasource]["train"],
        # what the weights depend on (the thread count is not among them)
        opt={k: v for k, v in config["train_clip"].items() if k != "threads"},
    threads: config["train_clip"]["threads"]
    resources:
        gpu=0,  # a cluster profile asks for one (workflow/profiles/slurm)
    priority: PRIORITY["train"]
    conda:
        CONDA_ENV
    log:
        "logs/train_clip/{backbone}_{datasource}.log",
    benchmark:
        "benchmarks/train_clip/{backbone}_{datasource}.tsv"
    message:
        "Train {wildcards.backbone} weights '{wildcards.datasource}' on {DATASET} train"
        " (gpu={resources.gpu})"
    shell:
        "clipfair step train-clip --index {input.index} --images {input.images}"
        " --model {params.model} --config-dir {params.config_dir} --out {output}"
        " --epochs {params.train[epochs]} --seed {params.train[seed]}"
        " --batch-size {params.opt[batch_size]}"
        " --lr {params.opt[lr]} --weight-decay {params.opt[weight_decay]}"
        " --drop-attribute {params.opt[drop_attribute]}"
        " --token-embedding {params.opt[token_embedding]} --threads {threads} > {log} 2>&1"


rule convert_hf:
    input:
        checkpoint=converted_from,
        model_config=source_model_config,
    output:
        directory(PATHS["converted"]),
    params:
        code=code("clipfair.models.hf_convert"),  # the code it runs: changed code reruns it
    priority: PRIORITY["convert"]
    conda:
        CONDA_ENV
    log:
        "logs/convert_hf/{backbone}_{datasource}.log",
    benchmark:
        "benchmarks/convert_hf/{backbone}_{datasource}.tsv"
    message:
        "Convert {input.checkpoint} to a transformers CLIPModel ({wildcards.backbone})"
    shell:
        "clipfair step convert-hf --checkpoint {input.checkpoint}"
        " --model-config {input.model_config} --out {output} > {log} 2>&1"


rule finetune:
    input:
        train_index=path("index", split="train"),
        train_images=path("images", split="train"),
        val_index=path("index", split="val"),
        val_images=path("images", split="val"),
        checkpoint=checkpoint_of,
    output:
        model=path("finetuned", file="model.safetensors"),
        scores=path("finetuned", file="val_scores.parquet"),
        history=path("finetuned", file="history.json"),
        card=path("finetuned", file="README.md"),
    params:
        code=code("clipfair.models.finetune", "clipfair.models.export", "clipfair.methods.finetuned"),  # the code it runs: changed code reruns it
        backbone=backbone_json,
        datasource=datasource_json,
        cache_dir=config.get("cache_dir") or "",
        device=config["finetune"]["device"],
        settings=as_json(config["finetune"]),
        tasks=lambda w: ",".join(config["finetune"]["heads"][w.heads]),
        checkpoints=lambda w, output: os.path.join(os.path.dirname(output.model), "checkpoints"),
        seed=config["seed"],
    threads: config["finetune"]["threads"]
    priority: PRIORITY["models"]
    resources:
        gpu=0,  # a cluster profile asks for one (workflow/profiles/slurm)
    conda:
        CONDA_ENV
    log:
        "logs/finetune/{dataset}_{backbone}_{datasource}_{heads}.log",
    benchmark:
        "benchmarks/finetune/{dataset}_{backbone}_{datasource}_{heads}.tsv"
    message:
        "Fine-tune {wildcards.heads} heads on {wildcards.backbone}/{wildcards.datasource}"
        " (gpu={resources.gpu})"
    shell:
        "clipfair step finetune --backbone {params.backbone:q} --datasource {params.datasource:q}"
        " --checkpoint '{input.checkpoint}' --cache-dir '{params.cache_dir}'"
        " --device {params.device} --threads {threads} --tasks {params.tasks}"
        " --settings {params.settings:q} --train-index {input.train_index}"
        " --train-images {input.train_images} --val-index {input.val_index}"
        " --val-images {input.val_images} --checkpoint-dir {params.checkpoints}"
        " --out-model {output.model} --out-scores {output.scores}"
        " --out-history {output.history} --seed {params.seed} > {log} 2>&1"


# VGG-Face (the VGG-Face gender_classifier): one job per model trains a transfer on each dataset and scores the val
# split of every dataset with each.


rule vggface_weights:
    output:
        PATHS["t7"],
    params:
        lock=DOWNLOADS_LOCK,
        code=code("clipfair.models.vggface_weights"),  # the code it runs: changed code reruns it
        datasource=datasource_entry_json,
        archive_dir=lambda w: path("download_dir", backbone=w.backbone),
    priority: PRIORITY["data"]
    conda:
        CONDA_ENV
    log:
        "logs/vggface_weights/{backbone}_{datasource}.log",
    benchmark:
        "benchmarks/vggface_weights/{backbone}_{datasource}.tsv"
    message:
        "VGG-Face weights '{wildcards.datasource}' (download and unpack, or random init)"
    shell:
        "clipfair step vggface-weights --datasource {params.datasource:q} --out {output}"
        " --lock {params.lock:q}"
        " --archive-dir {params.archive_dir} > {log} 2>&1"


rule vggface_transfer:
    input:
        unpack(vggface_inputs),
        weights=vggface_weights,
    output:
        **vggface_outputs(),
    params:
        code=code("clipfair.models.vggface_gender"),  # the code it runs: changed code reruns it
        settings=as_json(VGGFACE),
        seed=config["seed"],
        runs=vggface_runs,
        trained=", ".join(VGGFACE_TRAINED),
    threads: VGGFACE.get("threads", 2)
    priority: PRIORITY["models"]
    resources:
        gpu=0,  # a cluster profile asks for one (workflow/profiles/slurm)
    conda:
        CONDA_ENV
    log:
        "logs/vggface_transfer/{backbone}_{datasource}.log",
    benchmark:
        "benchmarks/vggface_transfer/{backbone}_{datasource}.tsv"
    message:
        "Train the VGG-Face gender transfer ({wildcards.datasource}) on {params.trained},"
        " score every dataset's val with each (gpu={resources.gpu})"
    shell:
        "transfer() {{ clipfair step vggface-transfer --weights {input.weights}"
        " --settings {params.settings:q} --seed {params.seed} --threads {threads} \"$@\"; }};"
        " ({params.runs}) > {log} 2>&1"
