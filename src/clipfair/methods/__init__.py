"""Method registry: ``kind`` in params.yaml -> what the kind needs and where its code is.

Each entry says which inputs the grid gives the kind's cells (``needs``: "train"/"val" image
embeddings with their index as "<split>_index", "text" = the label set's prompt embeddings,
"finetuned" = val scores of a model trained by the ``finetune`` or ``vggface_score`` rule),
which grid job runs its cells (``batch``: one job per model and batch), and the threads that
job takes. The module's ``run(spec, inputs, seed, options)`` returns (scores (N, C), class
names, info dict); an optional ``predict_index(scores, classes, spec)`` resolves ties its own
way. Modules are imported on first use: the registry itself imports nothing heavy, so the
Snakefile reads it without torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class MethodKind:
    """What the grid needs to know about a method kind."""

    module: str
    needs: tuple[str, ...]
    batch: str
    threads: int = 1


METHODS: dict[str, MethodKind] = {
    "zeroshot": MethodKind("clipfair.methods.zeroshot", ("val", "text"), "zeroshot"),
    "linear_probe": MethodKind("clipfair.methods.linear_probe", ("train", "val"), "probes", 2),
    "sklearn_probe": MethodKind("clipfair.methods.sklearn_probe", ("train", "val"), "probes", 2),
    "finetune": MethodKind("clipfair.methods.finetuned", ("finetuned",), "finetuned"),
    # scores from the vggface_score rule
    "vggface_transfer": MethodKind("clipfair.methods.finetuned", ("finetuned",), "vggface"),
}


def method_kind(kind: str) -> MethodKind:
    """The registry entry of ``kind``; KeyError naming the known kinds."""
    if kind not in METHODS:
        raise KeyError(f"unknown method kind {kind!r}; known: {sorted(METHODS)}")
    return METHODS[kind]


def get_method(kind: str) -> ModuleType:
    """The module implementing method ``kind``."""
    return importlib.import_module(method_kind(kind).module)
