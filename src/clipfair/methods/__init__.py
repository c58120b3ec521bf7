"""Method registry: ``kind`` in params.yaml -> what the kind needs and where its code is.

Each entry says which inputs the grid gives the kind's cells (``needs``: "train"/"val" image
embeddings with their index as "<split>_index", "text" = the label set's prompt embeddings,
"finetuned" = val scores of a model trained by the ``finetune`` or ``vggface_transfer`` rule),
which grid job runs its cells (``batch``: one job per model and batch), and the threads that
job takes. The module's ``run(spec, inputs, seed, options)`` returns (scores (N, C), class
names, info dict); a kind that fits on train has ``fit(spec, inputs, seed, options)`` -> (fit,
info) and ``predict(fit, spec, inputs)`` -> (scores, classes) instead, so cells that train alike
share one fit (:mod:`clipfair.methods.runner`); an optional ``predict_index(scores, classes,
spec)`` resolves ties its own way. Modules are imported on first use: the registry itself
imports nothing heavy, so the Snakefile reads it without torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class MethodKind:
    """What the grid needs to know about a method kind (the one place for it: config, rules
    and the schema's ``kind`` enum read this; a test checks the enum).

    ``trains``: fits on a dataset's train split (so it has a ``train_on`` role).
    ``backbone``: "clip" (embeddings and prompts) or "vggface" (the VGG-Face transfer).
    ``options``: the params.yaml section its cells get as ``options`` and, if not all of it,
    which keys (changing other keys of the section does not rerun its cells).
    ``scores_from``: the rule whose saved val scores its cells read (needs "finetuned").
    """

    module: str
    needs: tuple[str, ...]
    batch: str
    threads: int = 1
    trains: bool = False
    backbone: str = "clip"
    options: tuple[str, tuple[str, ...] | None] | None = None
    scores_from: str | None = None


METHODS: dict[str, MethodKind] = {
    "zeroshot": MethodKind(
        "clipfair.methods.zeroshot", ("val", "text"), "zeroshot",
        options=("zeroshot", ("label_set_dir",)),
    ),
    "linear_probe": MethodKind(
        "clipfair.methods.linear_probe", ("train", "val"), "probes", 2, trains=True,
        options=("probe", None),
    ),
    "sklearn_probe": MethodKind(
        "clipfair.methods.sklearn_probe", ("train", "val"), "probes", 2, trains=True,
        options=("probe", None),
    ),
    "nearest_mean": MethodKind(
        "clipfair.methods.nearest_mean", ("train", "val"), "probes", trains=True,
    ),
    # scores from the finetune rule (a GPU job; its cells run on the CPU)
    "finetune": MethodKind(
        "clipfair.methods.finetuned", ("finetuned",), "finetuned", trains=True,
        scores_from="finetune",
    ),
    # scores from the vggface_transfer rule
    "vggface_transfer": MethodKind(
        "clipfair.methods.finetuned", ("finetuned",), "vggface", trains=True,
        backbone="vggface", scores_from="vggface_transfer",
    ),
}  # fmt: skip


def kind_options(kind: str, params: dict) -> dict:
    """The options a kind's cells get: its params section, or the keys of it it names."""
    entry = method_kind(kind).options
    if entry is None:
        return {}
    section, keys = entry
    values = params.get(section) or {}
    return dict(values) if keys is None else {k: values.get(k) for k in keys}


def method_kind(kind: str) -> MethodKind:
    """The registry entry of ``kind``; KeyError naming the known kinds."""
    if kind not in METHODS:
        raise KeyError(f"unknown method kind {kind!r}; known: {sorted(METHODS)}")
    return METHODS[kind]


def get_method(kind: str) -> ModuleType:
    """The module implementing method ``kind``."""
    return importlib.import_module(method_kind(kind).module)
