"""Method registry: ``kind`` in params.yaml -> module with ``NEEDS`` and ``run``.

Adding a method family is one module here plus one entry in params.yaml ``methods:``.
``NEEDS`` lists the inputs the Snakemake rule provides: "train"/"val" image embeddings
(with their index as "<split>_index"), "text" (the label set's prompt embeddings) and
"finetuned" (val scores of a trained model, made by the ``finetune`` or ``vggface_score`` rule).
``run(spec, inputs, seed, options)`` returns (scores (N, C), class names, info dict).
Modules are imported on first use, so a zero-shot job never pays for importing torch.
"""

from __future__ import annotations

import importlib
from types import ModuleType

METHODS: dict[str, str] = {
    "zeroshot": "clipfair.methods.zeroshot",
    "linear_probe": "clipfair.methods.linear_probe",
    "sklearn_probe": "clipfair.methods.sklearn_probe",
    "finetune": "clipfair.methods.finetuned",
    "vggface_transfer": "clipfair.methods.finetuned",  # scores from the vggface_score rule
}


def get_method(kind: str) -> ModuleType:
    """The module implementing method ``kind``; KeyError naming the known kinds."""
    if kind not in METHODS:
        raise KeyError(f"unknown method kind {kind!r}; known: {sorted(METHODS)}")
    return importlib.import_module(METHODS[kind])
