# Config validation (one schema) and the small helpers that spell the grid into file paths.
import json

from clipfair.config import cells, compare_references, method_data, pairs, resolve_params
from clipfair.data.layout import source_for_padding
from clipfair.methods import get_method
from clipfair.methods.label_sets import label_set_path
from clipfair.metrics import CELL_SCHEMA
from clipfair.models.vggface_weights import is_url
from clipfair.report import FIGURES

# Apply the selected profile (params.yaml `profile:`) and validate against the one schema.
_resolved = resolve_params(config, workflow.source_path("../schemas/params.schema.yaml"))
config.clear()
config.update(_resolved)

DATA = config["paths"]["data"]
METRICS = config["paths"]["metrics"]
DATASET = config["grid"]["dataset"]  # the FairFace-format dataset; also names the run's outputs
HEADLINE = config["grid"].get("headline", "accuracy")
VGGFACE = config.get("vggface", {})  # seed 004's transfer settings (only with VGG-Face cells)
SPLITS = ["train", "val"]
CONDA_ENV = "../envs/clipfair.yaml"  # relative to rules/
NAME = "[A-Za-z0-9][A-Za-z0-9_+-]*"  # as the schema's names: no dots, no slashes


wildcard_constraints:
    dataset=NAME,
    backbone=NAME,
    datasource=NAME,
    method=NAME,
    split="train|val",
    label_set=NAME,
    eval_dataset=NAME,


def datasets_of(fmt):
    """Regex of the dataset names of one format (fairface / adience), for rule constraints."""
    names = [n for n, d in config["datasets"].items() if d["format"] == fmt]
    return "|".join(names) or "(?!)"  # (?!) matches nothing


def raw_release(dataset):
    """Folder of a FairFace-format release, per padding (data/raw/<dataset>/<padding>)."""
    return f"{DATA}/raw/{dataset}/{config['datasets'][dataset]['padding']}"


def as_json(obj):
    """A config entry as one JSON string for a CLI flag."""
    return json.dumps(obj, sort_keys=True)


def expected_counts(dataset, split):
    """Counts a split must have after ingest: `expect:` of the dataset; the demo knows its own."""
    entry = config["datasets"][dataset]
    expect = dict((entry.get("expect") or {}).get(split) or {})
    if entry["source"]["kind"] == "demo":
        expect.setdefault("rows", entry["source"][f"n_{split}"])
    return expect


def backbone_json(wildcards):
    return as_json(config["backbones"][wildcards.backbone])


def datasource_json(wildcards):
    """What loading needs (tag/path, QuickGELU); trained weights come in as a file input."""
    entry = config["datasources"][wildcards.datasource]
    return as_json({k: entry[k] for k in ("pretrained", "quick_gelu") if k in entry})


def checkpoint_of(wildcards):
    """Weights made in the pipeline: a converted folder or a trained checkpoint; else []."""
    if "convert_from" in config["backbones"][wildcards.backbone]:
        return f"{DATA}/models/{wildcards.backbone}/{wildcards.datasource}"
    if "train" in config["datasources"][wildcards.datasource]:
        return f"{DATA}/models/{wildcards.backbone}/{wildcards.datasource}.safetensors"
    return []


def converted_from(wildcards):
    """The open_clip checkpoint a converted backbone's weights come from."""
    source = config["backbones"][wildcards.backbone]["convert_from"]
    return f"{DATA}/models/{source}/{wildcards.datasource}.safetensors"


def source_model_config(wildcards):
    source = config["backbones"][config["backbones"][wildcards.backbone]["convert_from"]]
    return os.path.join(source.get("config_dir", "."), f"{source['model']}.json")


def method_spec(wildcards):
    return config["methods"][wildcards.method]


LABEL_SET_DIR = config.get("zeroshot", {}).get("label_set_dir")
# method kind -> the shared options of that family (the probe's C sweep; where zero-shot
# finds label set files)
METHOD_OPTIONS = {
    "linear_probe": config["probe"],
    "sklearn_probe": config["probe"],
    "zeroshot": {"label_set_dir": LABEL_SET_DIR},
}


def method_options(wildcards):
    """The shared options of the method's family, as JSON."""
    return as_json(METHOD_OPTIONS.get(method_spec(wildcards)["kind"], {}))


def method_inputs(wildcards):
    """Inputs named by the method's NEEDS: split embeddings/indexes (of the datasets its
    train_on / eval_on roles name), prompt embeddings, or a trained model's val scores."""
    spec = method_spec(wildcards)
    needs = set(get_method(spec["kind"]).NEEDS)
    data = method_data(config, wildcards.method)
    model = f"{wildcards.backbone}/{wildcards.datasource}"
    inputs = {"val_index": f"{DATA}/interim/{data['eval']}/val.parquet"}
    for split, dataset in (("train", data["train"]), ("val", data["eval"])):
        if split in needs:
            inputs[f"{split}_index"] = f"{DATA}/interim/{dataset}/{split}.parquet"
            inputs[f"{split}_emb"] = f"{DATA}/embeddings/{dataset}/{model}/{split}.npy"
    if spec["kind"] == "finetune":
        inputs["finetuned"] = (
            f"{DATA}/finetuned/{data['train']}/{model}/{spec['heads']}/val_scores.parquet"
        )
    elif spec["kind"] == "vggface_transfer":
        inputs["finetuned"] = f"{DATA}/vggface/{data['train']}/{model}/scores_{data['eval']}.parquet"
    if "text" in needs:
        inputs["text"] = (
            f"{DATA}/embeddings/text/{wildcards.backbone}/{wildcards.datasource}/"
            f"{spec['label_set']}.parquet"
        )
    return inputs


def optional_flags(wildcards, input):
    """CLI flags for the optional method inputs that this method has."""
    names = ("train_index", "train_emb", "val_emb", "text", "finetuned")
    return " ".join(f"--{n.replace('_', '-')} {input[n]}" for n in names if n in input.keys())


K_ANALYSIS = config.get("zeroshot", {}).get("k_analysis") or {"label_sets": [], "k_max": 1}
# zero-shot label sets the grid's methods and the k analysis use (embedded once per model)
LABEL_SETS_USED = sorted(
    {
        config["methods"][m]["label_set"]
        for m in config["grid"]["methods"]
        if config["methods"][m]["kind"] == "zeroshot"
    }
    | set(K_ANALYSIS["label_sets"])
)
# their files: editing one re-embeds its prompts and reruns its cells
LABEL_SET_FILES = [str(label_set_path(name, LABEL_SET_DIR)) for name in LABEL_SETS_USED]


def grid_predictions(wildcards):
    """{cell key: predictions file} of the cells predicting grid.dataset's val (comparable
    with the references image by image)."""
    return {
        c.key: f"{DATA}/predictions/{DATASET}/{c.key}.parquet"
        for c in cells(config)
        if method_data(config, c.method)["eval"] == DATASET
    }


def vggface_weights(wildcards):
    """A VGG-Face datasource's .t7: a local file it names, else the one a rule downloads
    (a URL) or writes (random init)."""
    entry = config["datasources"][wildcards.datasource]
    if "pretrained" in entry and not is_url(entry["pretrained"]):
        return entry["pretrained"]
    return f"{DATA}/models/{wildcards.backbone}/{wildcards.datasource}.t7"


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


def clip_pairs():
    """(backbone, datasource) pairs with a CLIP backbone (image and prompt embeddings)."""
    return [
        (b, d) for b, d in pairs(config) if config["backbones"][b]["library"] != "vggface"
    ]


def topk_sweep_inputs(wildcards):
    """grid.dataset's val index, each CLIP model's val embeddings and the analysed sets'
    prompt embeddings (keys: emb:<model>, text:<model>:<set>)."""
    inputs = {"val_index": f"{DATA}/interim/{DATASET}/val.parquet"}
    for b, d in clip_pairs():
        inputs[f"emb:{b}/{d}"] = f"{DATA}/embeddings/{DATASET}/{b}/{d}/val.npy"
        for name in K_ANALYSIS["label_sets"]:
            inputs[f"text:{b}/{d}:{name}"] = f"{DATA}/embeddings/text/{b}/{d}/{name}.parquet"
    return inputs


def reference_predictions(wildcards):
    """{task: predictions of the task's reference cell} (for the confusion matrices)."""
    return {
        task: f"{DATA}/predictions/{DATASET}/{cell}.parquet"
        for task, cell in compare_references(config).items()
    }


def final_targets():
    """Summary and plots, plus the comparison table when references are configured."""
    targets = [*rules.summarize.output, *rules.plots.output]
    if compare_references(config):
        targets += rules.compare.output
    return targets


def cell_metric_files():
    return [f"{METRICS}/cells/{c.key}.json" for c in cells(config)]
