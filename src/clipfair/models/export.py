"""Exported fine-tuned heads: each family's key names, and a model card whose code loads it.

- transformers towers (``CLIPVisionModel``-style, the fine-tuned heads' model cards): keys
``vision_model.*`` and
  ``<task>_head.*`` on ``pooler_output`` (1024-d for L/14), the keys of the seed cards'
  ``GenderClipVisionModel`` / ``MultiTaskClipVisionModel``, so the cards' own code loads it;
- open_clip towers: keys ``visual.*`` (open_clip's names) and ``<task>_head.*`` on the
  tower's projected output (768-d for ViT-L-14), loaded by open_clip's factory.

``README.md`` beside the weights carries the loading code of the file's family with its
values filled in; the tests run that code and compare its logits with ours.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from clipfair.io import atomic_path

#: the prefix of the tower's keys in an exported file, per tower kind
TOWER_PREFIX = {"transformers": "vision_model.", "open_clip": "visual."}


def export_key(key: str, tower: str) -> str:
    """Our module's key (``vision_model.*`` for both towers) as the family names it."""
    return (
        TOWER_PREFIX[tower] + key.removeprefix("vision_model.")
        if key.startswith("vision_model.")
        else key
    )


def import_key(key: str, tower: str) -> str:
    """An exported key back to our module's name."""
    prefix = TOWER_PREFIX[tower]
    return "vision_model." + key.removeprefix(prefix) if key.startswith(prefix) else key


def relative_to(path: str | None, folder: Path) -> str | None:
    """``path`` (relative to the working folder) as seen from ``folder``, so the metadata
    still points at it when read from anywhere; None and non-paths (hub ids) unchanged."""
    if not path or not Path(path).exists():
        return path
    return os.path.relpath(Path(path).resolve(), folder.resolve())


def resolve_from(path: str | None, folder: Path) -> str | None:
    """Inverse of :func:`relative_to`: a stored relative path read from ``folder``."""
    if not path or os.path.isabs(path) or not (folder / path).exists():
        return path
    return str((folder / path).resolve())


_TRANSFORMERS_CARD = '''\
import torch
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModel, CLIPImageProcessor

MODEL_FILE = {model_file!r}
BASE = {base!r}  # the tower's architecture and preprocessing; its weights come from MODEL_FILE
LABELS = {labels!r}  # per head: index -> label (alphabetical, as the seed cards)


class FaceAttributeModel(nn.Module):
    """The fine-tuned heads' cards' model: CLIP vision tower + one linear head per task."""

    def __init__(self):
        super().__init__()
        self.vision_model = AutoModel.from_pretrained(BASE).vision_model
        hidden_size = self.vision_model.config.hidden_size
        for task, labels in LABELS.items():
            setattr(self, f"{{task}}_head", nn.Linear(hidden_size, len(labels)))

    def forward(self, pixel_values):
        pooled_output = self.vision_model(pixel_values=pixel_values).pooler_output
        return {{task: getattr(self, f"{{task}}_head")(pooled_output) for task in LABELS}}


model = FaceAttributeModel()
model.load_state_dict(load_file(MODEL_FILE), strict=True)  # every key, none missing or extra
model.eval()
processor = CLIPImageProcessor.from_pretrained(BASE)
'''

_OPEN_CLIP_CARD = '''\
import open_clip
import torch
from safetensors.torch import load_file
from torch import nn

MODEL_FILE = {model_file!r}
MODEL_NAME = {model_name!r}
QUICK_GELU = {quick_gelu!r}  # the OpenAI weights need QuickGELU; the wrong one loads silently
MEAN, STD = {mean!r}, {std!r}  # the preprocessing of the pretrained weights
LABELS = {labels!r}  # per head: index -> label (alphabetical, as the seed cards)
{add_config}

class FaceAttributeModel(nn.Module):
    """open_clip's vision tower (every weight from MODEL_FILE) + one linear head per task on
    its projected output."""

    def __init__(self):
        super().__init__()
        clip, _, self.preprocess = open_clip.create_model_and_transforms(
            MODEL_NAME, pretrained=None, force_quick_gelu=QUICK_GELU, image_mean=MEAN,
            image_std=STD,
        )
        self.visual = clip.visual
        for task, labels in LABELS.items():
            setattr(self, f"{{task}}_head", nn.Linear(self.visual.output_dim, len(labels)))

    def forward(self, pixels):
        features = self.visual(pixels)
        return {{task: getattr(self, f"{{task}}_head")(features) for task in LABELS}}


model = FaceAttributeModel()
model.load_state_dict(load_file(MODEL_FILE), strict=True)  # every key, none missing or extra
model.eval()
'''


def card_code(
    tower: str,
    model_file: str,
    labels: dict[str, list[str]],
    description: dict[str, Any],
    mean: tuple[float, ...],
    std: tuple[float, ...],
    config_dir: str | None = None,
) -> str:
    """The Python that loads an exported file of this tower kind (see the module doc)."""
    if tower == "transformers":
        return _TRANSFORMERS_CARD.format(
            model_file=model_file, base=description["pretrained"], labels=labels
        )
    add_config = f"open_clip.add_model_config({config_dir!r})\n" if config_dir else ""
    return _OPEN_CLIP_CARD.format(
        model_file=model_file,
        model_name=description["model"],
        quick_gelu=bool(description.get("quick_gelu")),
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        labels=labels,
        add_config=add_config,
    )


def write_card(path: str | Path, code: str, provenance: dict[str, Any], tower: str) -> None:
    """``README.md`` for an exported model: what it is, and the code that loads it."""
    cards = "transformers (the fine-tuned heads' model cards)"
    family = cards if tower == "transformers" else "open_clip"
    text = (
        "# Fine-tuned face attribute heads (clipfair)\n\n"
        f"Tower: {tower}; heads on its "
        f"{'pooler_output' if tower == 'transformers' else 'projected output'}. "
        f"Provenance: `{json.dumps(provenance, sort_keys=True)}`.\n\n"
        f"Load it with the {family} code below (run from this folder or fix MODEL_FILE); "
        "the labels of each head are in alphabetical order, as the seed cards use.\n\n"
        f"```python\n{code}```\n"
    )
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def card_python(readme: str | Path) -> str:
    """The Python block of a card written by :func:`write_card`."""
    text = Path(readme).read_text()
    return text.split("```python\n", 1)[1].split("```", 1)[0]
