# Config validation (one schema) and the small helpers that spell the grid into file paths.
import json
import os
import shlex
from dataclasses import astuple
from pathlib import Path

import clipfair
from clipfair.code_version import code_version
from clipfair.config import resolve_params, run_config_digest
from clipfair.grid import (
    Cell,
    batch_threads,
    cell_batches,
    cells,
    clip_pairs,
    compare_references,
    embed_datasets,
    label_sets_used,
    method_data,
    vggface_datasets,
)
from clipfair.data.sources import knows_counts, source_for_padding
from clipfair.methods import METHODS, kind_options
from clipfair.methods.label_sets import label_set_path
from clipfair.metrics import CELL_SCHEMA
from clipfair.models.vggface_weights import is_url
from clipfair.report import FIGURES

# `CLIPFAIR_IMPORTTIME=1 snakemake ...`: every job's log also holds `python -X importtime`'s
# lines, from which `clipfair bench grid` splits each rule's job-seconds into imports and work
if os.environ.get("CLIPFAIR_IMPORTTIME"):
    shell.prefix("export PYTHONPROFILEIMPORTTIME=1; ")

# Apply the selected preset (params.yaml `preset:`) and validate against the one schema.
_resolved = resolve_params(config, workflow.source_path("../schemas/params.schema.yaml"))
config.clear()
config.update(_resolved)

DATA = config["paths"]["data"]
# sizes and sha256 of downloads, recorded on first use and checked after (commit it)
DOWNLOADS_LOCK = config["paths"]["downloads_lock"]
METRICS = config["paths"]["metrics"]
DATASET = config["grid"]["dataset"]  # the FairFace-format dataset; also names the run's outputs
HEADLINE = config["grid"]["headline"]
VGGFACE = config.get("vggface", {})  # the VGG-Face gender_classifier's transfer settings (only with VGG-Face cells)
SPLITS = ["train", "val"]

# Every file the pipeline writes under data/, defined once. Rules use the templates as they
# are (their wildcards: dataset = the data a file holds or predicts, backbone, datasource,
# split, ...); code fills them with path(name, key=value, ...), leaving unnamed keys as
# wildcards.
_DATA_PATHS = {
    "release": "raw/{dataset}/{padding}",  # a FairFace-format release (one padding)
    "release_file": "raw/{dataset}/{padding}/{file}",
    "adience_release": "raw/{dataset}/adience",
    "utkface_release": "raw/{dataset}/utkface/UTKFace.tar.gz",
    "download_dir": "raw/{backbone}",  # a VGG-Face weights archive
    "index": "interim/{dataset}/{split}.parquet",
    "images": "interim/{dataset}/{split}_images.npy",
    "rejected": "interim/{dataset}/{split}_rejected.csv",
    "weights": "models/{backbone}/{datasource}.safetensors",  # trained here
    "converted": "models/{backbone}/{datasource}",  # a transformers folder
    "t7": "models/{backbone}/{datasource}.t7",
    "embeddings": "embeddings/{dataset}/{backbone}/{datasource}/{split}.npy",
    "embeddings_meta": "embeddings/{dataset}/{backbone}/{datasource}/{split}.json",
    "text": "embeddings/text/{backbone}/{datasource}/{label_set}.parquet",
    "text_meta": "embeddings/text/{backbone}/{datasource}/{label_set}.json",
    "finetuned": "finetuned/{dataset}/{backbone}/{datasource}/{heads}/{file}",
    "vggface": "vggface/{dataset}/{backbone}/{datasource}/{file}",
    "predictions": "predictions/{dataset}/{backbone}/{datasource}/{method}.parquet",
    "cell_info": "predictions/{dataset}/{backbone}/{datasource}/{method}.info.json",
}
PATHS = {name: f"{DATA}/{rel}" for name, rel in _DATA_PATHS.items()}


class _Wildcards(dict):
    def __missing__(self, key):
        return f"{{{key}}}"


def path(name, **values):
    """PATHS[name] with the given keys filled in (the others stay wildcards)."""
    return PATHS[name].format_map(_Wildcards(values))
# the rules' software with `--sdm conda` (the same hashed lock as `make venv`, installed by uv)
CONDA_ENV = "../envs/clipfair.yaml"  # relative to rules/

# Which ready job starts first (Snakemake's `priority:`, higher first): grid.dataset's data
# (the trainings read it alone), then the trainings (the demo's one is the longest job and
# everything after it waits for it: it starts while the other datasets are ingested), then the
# other data, then the other model jobs (embed, fine-tune, VGG-Face transfer: 15-40 s each on
# the demo), and the many short cell jobs fill the cores after them. Without priorities the
# scheduler favours jobs with large inputs (the VGG-Face transfer), and the last ingests and so
# every embed job waited behind the fine-tunes (measured on the demo: embeds began at 218 s of
# 373 s); with the fine-tunes and transfers after the cells, the last of them ran alone, one
# core idle for 30 s (demo: last job ended at 254 s). Of the jobs that wait for the last cell,
# the plots take longest: they go first.
PRIORITY = {"main_data": 50, "train": 40, "data": 30, "convert": 15, "models": 10, "cells": 5,
            "plots": 1}


def data_priority(wildcards):
    """A FairFace-format dataset's acquire and ingest: grid.dataset's before the trainings."""
    return PRIORITY["main_data" if wildcards.dataset == DATASET else "data"]


NAME = "[A-Za-z0-9][A-Za-z0-9_+-]*"  # as the schema's names: no dots, no slashes


wildcard_constraints:
    dataset=NAME,
    backbone=NAME,
    datasource=NAME,
    split="train|val",


# the package sources of this checkout (the installed package's when run from elsewhere)
SRC = Path(workflow.basedir) / "src"
SRC = SRC if (SRC / "clipfair").is_dir() else Path(clipfair.__file__).parent.parent


def code(*modules):
    """Fingerprint of the given clipfair modules and all they import. As a param of the
    rules that run them, it reruns a job when its code changes (src/clipfair/code_version.py)."""
    return code_version(tuple(modules), SRC)


def datasets_of(fmt):
    """Regex of the dataset names of one format (fairface / adience), for rule constraints."""
    names = [n for n, d in config["datasets"].items() if d["format"] == fmt]
    return "|".join(names) or "(?!)"  # (?!) matches nothing


def raw_release(dataset):
    """Folder of a FairFace-format release, per padding (data/raw/<dataset>/<padding>)."""
    return path("release", dataset=dataset, padding=config["datasets"][dataset]["padding"])


def source_code(wildcards):
    """Code fingerprint of an acquire job: the source registry and the dataset's kind."""
    kind = config["datasets"][wildcards.dataset]["source"]["kind"]
    return code("clipfair.data.sources", ".".join(("clipfair.data.sources", kind)))


def as_json(obj):
    """A config entry as one JSON string for a CLI flag."""
    return json.dumps(obj, sort_keys=True)


def expected_counts(dataset, split):
    """Counts a split must have after ingest: `expect:` of the dataset; the synthetic sources
    (demo, rehearsal) know their own."""
    entry = config["datasets"][dataset]
    expect = dict((entry.get("expect") or {}).get(split) or {})
    if knows_counts(entry["source"]):
        expect.setdefault("rows", entry["source"][f"n_{split}"])
    return expect


def ingest_outputs():
    """An ingest job's outputs: the index, image cache and rejected rows of every split."""
    return {
        f"{kind}_{split}": path(kind, split=split)
        for split in SPLITS
        for kind in ("index", "images", "rejected")
    }


def ingest_runs(wildcards, output):
    """One `ingest` (the rule's shell function) per split, val first (the smaller: a bad row
    there fails the job before the train split is decoded), joined by &&; each names its
    split's outputs and expected counts."""

    def run(split):
        expect = shlex.quote(as_json(expected_counts(wildcards.dataset, split)))
        return (
            f"ingest --split {split} --out-index {output[f'index_{split}']}"
            f" --out-images {output[f'images_{split}']}"
            f" --report {output[f'rejected_{split}']} --expect {expect}"
        )

    return " && ".join(run(split) for split in ("val", "train"))


def backbone_json(wildcards):
    return as_json(config["backbones"][wildcards.backbone])


def datasource_json(wildcards):
    """What loading needs (tag/path, QuickGELU); trained weights come in as a file input."""
    entry = config["datasources"][wildcards.datasource]
    return as_json({k: entry[k] for k in ("pretrained", "quick_gelu") if k in entry})


def checkpoint_of(wildcards):
    """Weights made in the pipeline: a converted folder or a trained checkpoint; else []."""
    if "convert_from" in config["backbones"][wildcards.backbone]:
        return path("converted", backbone=wildcards.backbone, datasource=wildcards.datasource)
    if "train" in config["datasources"][wildcards.datasource]:
        return path("weights", backbone=wildcards.backbone, datasource=wildcards.datasource)
    return []


def converted_from(wildcards):
    """The open_clip checkpoint a converted backbone's weights come from."""
    source = config["backbones"][wildcards.backbone]["convert_from"]
    return path("weights", backbone=source, datasource=wildcards.datasource)


def source_model_config(wildcards):
    source = config["backbones"][config["backbones"][wildcards.backbone]["convert_from"]]
    return os.path.join(source.get("config_dir", "."), f"{source['model']}.json")


# method kind -> the options its cells get (the registry names the params section and keys)
METHOD_OPTIONS = {kind: kind_options(kind, config) for kind in METHODS}
LABEL_SET_DIR = METHOD_OPTIONS["zeroshot"]["label_set_dir"]  # user label set files, or None


def cell_inputs(backbone, datasource, method):
    """Inputs the method's kind needs: split embeddings/indexes (of the datasets its
    train_on / eval_on roles name), prompt embeddings, or a trained model's val scores."""
    spec = config["methods"][method]
    needs = set(METHODS[spec["kind"]].needs)
    data = method_data(config, method)
    model = dict(backbone=backbone, datasource=datasource)
    inputs = {"val_index": path("index", dataset=data["eval"], split="val")}
    for split, dataset in (("train", data["train"]), ("val", data["eval"])):
        if split in needs:
            inputs[f"{split}_index"] = path("index", dataset=dataset, split=split)
            inputs[f"{split}_emb"] = path("embeddings", dataset=dataset, split=split, **model)
    scores_from = METHODS[spec["kind"]].scores_from  # the rule that saved its val scores
    if scores_from == "finetune":
        inputs["finetuned"] = path(
            "finetuned", dataset=data["train"], heads=spec["heads"], file="val_scores.parquet",
            **model,
        )  # fmt: skip
    elif scores_from == "vggface_transfer":
        scores = f"scores_{data['eval']}.parquet"
        inputs["finetuned"] = path("vggface", dataset=data["train"], file=scores, **model)
    if "text" in needs:
        inputs["text"] = path("text", label_set=spec["label_set"], **model)
    return inputs


def cell_outputs(backbone, datasource, method):
    """A cell's predictions and method info (under the dataset it predicts), and metrics."""
    cell = dict(backbone=backbone, datasource=datasource, method=method)
    predicts = method_data(config, method)["eval"]
    return {
        "predictions": path("predictions", dataset=predicts, **cell),
        "info": path("cell_info", dataset=predicts, **cell),
        "metrics": f"{METRICS}/cells/{backbone}/{datasource}/{method}.json",
    }


def batch_input_files(methods):
    """Input function of a batch job: every file its cells read."""

    def files(wildcards):
        paths = set()
        for method in methods:
            paths.update(cell_inputs(wildcards.backbone, wildcards.datasource, method).values())
        return sorted(paths)

    return files


def batch_plan(methods):
    """Params function of a batch job: the cells it runs, as `clipfair step run-cells` reads them."""

    def plan(wildcards):
        entries = []
        for method in methods:
            spec = config["methods"][method]
            entries.append(
                {
                    "cell": f"{wildcards.backbone}/{wildcards.datasource}/{method}",
                    "spec": spec,
                    "data": method_data(config, method),
                    "options": METHOD_OPTIONS.get(spec["kind"], {}),
                    "inputs": cell_inputs(wildcards.backbone, wildcards.datasource, method),
                    "outputs": cell_outputs(wildcards.backbone, wildcards.datasource, method),
                }
            )
        return as_json(entries)

    return plan


K_ANALYSIS = config["zeroshot"].get("k_analysis") or {"label_sets": [], "k_max": 1}
# zero-shot label sets the grid's methods and the k analysis use (embedded once per model)
LABEL_SETS_USED = label_sets_used(config)
# their files: editing one re-embeds its prompts and reruns its cells
LABEL_SET_FILES = [str(label_set_path(name, LABEL_SET_DIR)) for name in LABEL_SETS_USED]


def grid_predictions(wildcards):
    """{cell key: predictions file} of the cells predicting grid.dataset's val or its other
    crop (the same faces: comparable with the references image by image)."""
    same_faces = {DATASET, config["grid"].get("other_crop")}
    return {
        c.key: cell_outputs(c.backbone, c.datasource, c.method)["predictions"]
        for c in cells(config)
        if method_data(config, c.method)["eval"] in same_faces
    }


def vggface_weights(wildcards):
    """A VGG-Face datasource's .t7: a local file it names, else the one a rule downloads
    (a URL) or writes (random init)."""
    entry = config["datasources"][wildcards.datasource]
    if "pretrained" in entry and not is_url(entry["pretrained"]):
        return entry["pretrained"]
    return path("t7", backbone=wildcards.backbone, datasource=wildcards.datasource)


def datasource_entry_json(wildcards):
    return as_json(config["datasources"][wildcards.datasource])


PLOT_DATA = [
    "accuracy_by_race",
    "probe_sweep",
    "cross_dataset",
    "confusion_gender",
    "confusion_age",
    "confusion_race",
]


# each model's embed job encodes these datasets, grid.dataset first; the VGG-Face transfer
# trains on some and scores others (clipfair.grid)
EMBED_DATASETS = embed_datasets(config)
VGGFACE_TRAINED, VGGFACE_SCORED = vggface_datasets(config)


def split_files(datasets):
    """The index and image cache of both splits of each dataset (keys kind_dataset_split)."""
    return {
        f"{kind}_{dataset}_{split}": path(kind, dataset=dataset, split=split)
        for dataset in datasets
        for split in SPLITS
        for kind in ("index", "images")
    }


def embed_inputs(wildcards):
    """The index and image cache of every split the embed job encodes."""
    return split_files(EMBED_DATASETS)


def embed_split_flags(wildcards, input, output):
    """--split INDEX,IMAGES,OUT for each (dataset, split), in the order of the outputs."""
    model = dict(backbone=wildcards.backbone, datasource=wildcards.datasource)
    return " ".join(
        f"--split {input[f'index_{d}_{s}']},{input[f'images_{d}_{s}']},"
        + path("embeddings", dataset=d, split=s, **model)
        for d in EMBED_DATASETS
        for s in SPLITS
    )


def vggface_inputs(wildcards):
    """The train and val splits of every dataset the transfers train on or score."""
    return split_files(dict.fromkeys(VGGFACE_TRAINED + VGGFACE_SCORED))


def vggface_outputs():
    """Per trained dataset: the transfer's model, its history and its gender scores on the
    val split of every scored dataset (backbone and datasource left as wildcards)."""
    out = {}
    for d in VGGFACE_TRAINED:
        out[f"model_{d}"] = path("vggface", dataset=d, file="model.safetensors")
        out[f"history_{d}"] = path("vggface", dataset=d, file="history.json")
        for s in VGGFACE_SCORED:
            out[f"scores_{d}_{s}"] = path("vggface", dataset=d, file=f"scores_{s}.parquet")
    return out


def vggface_runs(wildcards, input, output):
    """One `transfer` (the rule's shell function) per trained dataset, joined by &&."""

    def split(d, s):
        return f"--{s}-index {input[f'index_{d}_{s}']} --{s}-images {input[f'images_{d}_{s}']}"

    return " && ".join(
        f"transfer {split(d, 'train')} {split(d, 'val')} --out-model {output[f'model_{d}']}"
        f" --out-history {output[f'history_{d}']} "
        + " ".join(
            f"--score {input[f'index_{s}_val']},{input[f'images_{s}_val']},"
            + output[f"scores_{d}_{s}"]
            for s in VGGFACE_SCORED
        )
        for d in VGGFACE_TRAINED
    )


TOPK_CSV = f"{METRICS}/plots/topk.csv"  # the prompt-ensemble report's k analysis (plots and reproduction read it)


def topk_sweep_inputs(wildcards):
    """grid.dataset's val index, each CLIP model's val embeddings and the analysed sets'
    prompt embeddings (keys: emb:<model>, text:<model>:<set>)."""
    inputs = {"val_index": path("index", dataset=DATASET, split="val")}
    for b, d in clip_pairs(config):
        model = dict(backbone=b, datasource=d)
        inputs[f"emb:{b}/{d}"] = path("embeddings", dataset=DATASET, split="val", **model)
        for name in K_ANALYSIS["label_sets"]:
            inputs[f"text:{b}/{d}:{name}"] = path("text", label_set=name, **model)
    return inputs


def reference_predictions(wildcards):
    """{task: predictions of the task's reference cell} (for the confusion matrices)."""
    return {
        task: cell_outputs(*astuple(Cell.from_key(key)))["predictions"]
        for task, key in compare_references(config).items()
    }


def final_targets():
    """Summary (with the reproduction report), plots and the run's config, plus the
    comparison table when references are configured."""
    targets = [*rules.summarize.output, *rules.plots.output, *rules.run_config.output]
    if compare_references(config):
        targets += rules.compare.output
    return targets


def cell_metric_files():
    return [cell_outputs(c.backbone, c.datasource, c.method)["metrics"] for c in cells(config)]
