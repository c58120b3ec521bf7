"""Fine-tuned heads on a CLIP vision tower (the fine-tuned heads' model cards).

The clip-face-attribute-classifier card: heads for age (9), gender (2) and race (7) on the tower's
pooled output, loss = sum
of the three cross-entropies, the last N transformer blocks trainable (3 by default), the rest
frozen, AdamW. The gender-classification-clip card: the same with a gender head only. Labels are
sorted alphabetically
(as the seeds do) and stored in the checkpoint's metadata.

Towers: a transformers ``CLIPVisionModel``-style ``vision_model`` (``pooler_output``, as the
seeds) or an open_clip ``visual`` tower (its projected output). The saved ``model.safetensors``
uses each family's key names (:mod:`clipfair.models.export`): a transformers export loads
with the seed-000/001 cards' code as is, an open_clip one with open_clip's factory; the
``README.md`` beside it holds the loading code.

Training writes a checkpoint after every epoch (trainable weights, AdamW state, RNG state, in
safetensors) and resumes from the last one; the same seed gives the same result on the CPU.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from clipfair.errors import InputError, MissingFileError
from clipfair.io import atomic_path, resume_folder, write_safetensors
from clipfair.labels import VOCAB
from clipfair.models.backbone import Backbone
from clipfair.progress import progress


def sorted_labels(task: str) -> list[str]:
    """The seeds' label order: alphabetical."""
    return sorted(VOCAB[task])


class VisionClassifier(nn.Module):
    """A CLIP vision tower with one linear head per task (``<task>_head``)."""

    def __init__(self, vision_model: nn.Module, kind: str, dim: int, tasks: list[str]) -> None:
        super().__init__()
        self.vision_model, self.kind, self.tasks = vision_model, kind, list(tasks)
        for task in self.tasks:
            setattr(self, f"{task}_head", nn.Linear(dim, len(VOCAB[task])))

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.kind == "transformers":
            return self.vision_model(pixel_values=pixels).pooler_output
        return self.vision_model(pixels)

    def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.features(pixels)
        return {task: getattr(self, f"{task}_head")(pooled) for task in self.tasks}

    def blocks(self) -> list[nn.Module]:
        """The transformer blocks, input to output."""
        if self.kind == "transformers":
            return list(self.vision_model.encoder.layers)
        return list(self.vision_model.transformer.resblocks)

    def after_blocks(self) -> list[nn.Parameter]:
        """Parameters after the last block (final norm, projection)."""
        tower = self.vision_model
        if self.kind == "transformers":
            return list(tower.post_layernorm.parameters())
        params = list(tower.ln_post.parameters())
        return [*params, tower.proj] if isinstance(tower.proj, nn.Parameter) else params

    def set_trainable(self, last_blocks: int) -> None:
        """Freeze the tower except its last ``last_blocks`` blocks and what follows them."""
        self.vision_model.requires_grad_(False)
        blocks = self.blocks()
        for block in blocks[max(0, len(blocks) - last_blocks) :] if last_blocks else []:
            block.requires_grad_(True)
        for p in self.after_blocks() if last_blocks else []:
            p.requires_grad_(True)


def classifier_for(backbone: Backbone, tasks: list[str]) -> VisionClassifier:
    """Wrap the backbone's vision tower (it is shared, not copied) with fresh heads."""
    if backbone.description["library"] == "transformers":
        tower = backbone.model.model.vision_model
        return VisionClassifier(tower, "transformers", tower.config.hidden_size, tasks)
    tower = backbone.model.visual
    return VisionClassifier(tower, "open_clip", tower.output_dim, tasks)


@dataclass
class FinetuneConfig:
    """``finetune:`` in params.yaml, plus the heads of this run."""

    tasks: list[str]
    epochs: int = 5
    lr: float = 1e-5
    weight_decay: float = 0.01
    batch_size: int = 32
    trainable_blocks: int = 3
    seed: int = 0

    @classmethod
    def from_params(cls, section: dict[str, Any], tasks: list[str], seed: int) -> FinetuneConfig:
        """From the validated ``finetune:`` section (every key present) and this run's heads."""
        keys = ("epochs", "lr", "weight_decay", "batch_size", "trainable_blocks")
        return cls(tasks=tasks, seed=seed, **{k: section[k] for k in keys})


@dataclass(frozen=True)
class FinetuneFiles:
    """A fine-tune job's inputs (index + image cache per split) and outputs."""

    train_index: Path
    train_images: Path
    val_index: Path
    val_images: Path
    checkpoint_dir: Path  # per-epoch checkpoints (resume), removed when done
    model: Path
    scores: Path
    history: Path


def _targets(index: Any, tasks: list[str]) -> dict[str, torch.Tensor]:
    """Label ids in each head's (alphabetical) order."""
    return {
        t: torch.tensor(
            index[t].map({label: i for i, label in enumerate(sorted_labels(t))}).to_numpy(np.int64)
        )
        for t in tasks
    }


def _state_for_checkpoint(
    model: VisionClassifier, opt: torch.optim.Optimizer
) -> dict[str, torch.Tensor]:
    state = {f"model.{k}": v for k, v in _trainable_state(model).items()}
    for i, p in enumerate(opt.param_groups[0]["params"]):
        for key, value in opt.state.get(p, {}).items():
            state[f"optim.{i}.{key}"] = (
                torch.as_tensor(value).reshape(-1).clone() if key == "step" else value
            )
    state["rng"] = torch.get_rng_state()
    return {k: v.contiguous() for k, v in state.items()}


def _trainable_state(model: VisionClassifier) -> dict[str, torch.Tensor]:
    names = {id(p) for p in model.parameters() if p.requires_grad}
    return {k: v.detach() for k, v in model.state_dict(keep_vars=True).items() if id(v) in names}


def _restore_checkpoint(model: VisionClassifier, opt: torch.optim.Optimizer, path: Path) -> None:
    state = load_file(str(path))
    model.load_state_dict(
        {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")},
        strict=False,
    )
    for i, p in enumerate(opt.param_groups[0]["params"]):
        entry = {k.split(".", 2)[2]: v for k, v in state.items() if k.startswith(f"optim.{i}.")}
        if entry:  # moments on the parameter's device; AdamW keeps its step count on the CPU
            opt.state[p] = {
                k: v.reshape(()) if k == "step" else v.to(p.device) for k, v in entry.items()
            }
    torch.set_rng_state(state["rng"])


def train_step(
    model: VisionClassifier,
    backbone: Backbone,
    opt: torch.optim.Optimizer,
    images: torch.Tensor,
    targets: dict[str, torch.Tensor],
) -> float:
    """One optimizer step on a uint8 batch (in the backbone's autocast precision): the summed
    cross-entropy of the heads, as a float."""
    pixels = backbone.preprocess(images)
    with backbone.autocast():
        logits = model(pixels)
    loss = sum(
        F.cross_entropy(logits[t].float(), y.to(backbone.device)) for t, y in targets.items()
    )
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def finetune(
    backbone: Backbone,
    train_index: Any,
    train_images: np.ndarray,
    config: FinetuneConfig,
    checkpoint_dir: str | Path,
    on_epoch_end: Callable[[int], None] | None = None,
    inputs: dict[str, str] | None = None,
) -> tuple[VisionClassifier, list[dict[str, float]]]:
    """Train the heads (and the last blocks); resume from ``checkpoint_dir`` if it has epochs.

    ``inputs``: content digests of the training data (index, image cache); with the config
    and the base weights' digest they decide whether saved epochs belong to this run."""
    checkpoint_dir = Path(checkpoint_dir)
    # checkpoints of this very run are resumed, those of other inputs or config dropped
    resume_folder(
        checkpoint_dir,
        {"config": asdict(config), "inputs": inputs or {}, **backbone.description},
    )
    torch.manual_seed(config.seed)
    model = classifier_for(backbone, config.tasks).to(backbone.device)
    model.set_trainable(config.trainable_blocks)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    targets = _targets(train_index, config.tasks)
    history: list[dict[str, float]] = []
    done = sorted(checkpoint_dir.glob("epoch_*.safetensors"))
    start = 0
    if done:
        _restore_checkpoint(model, opt, done[-1])
        start = int(done[-1].stem.split("_")[1])
        history = json.loads((checkpoint_dir / "history.json").read_text())[:start]
    n = len(train_images)
    for epoch in range(start, config.epochs):
        model.train()
        order = torch.randperm(n)
        total, seen = 0.0, 0
        bar = progress(total=n, desc=f"fine-tune epoch {epoch + 1}/{config.epochs}", unit="img")
        for lo in range(0, n, config.batch_size):
            idx = order[lo : lo + config.batch_size]
            rows = np.sort(idx.numpy())  # memory-map friendly; labels follow the same rows
            images = torch.from_numpy(np.ascontiguousarray(train_images[rows]))
            batch_targets = {t: targets[t][rows] for t in config.tasks}
            loss = train_step(model, backbone, opt, images, batch_targets)
            total += loss * len(rows)
            seen += len(rows)
            bar.update(len(rows))
        bar.close()
        history.append({"epoch": epoch + 1, "train_loss": total / seen})
        write_safetensors(
            checkpoint_dir / f"epoch_{epoch + 1:03d}.safetensors", _state_for_checkpoint(model, opt)
        )
        with atomic_path(checkpoint_dir / "history.json") as tmp:
            tmp.write_text(json.dumps(history))
        for old in checkpoint_dir.glob("epoch_*.safetensors"):  # the last one is enough
            if old.stem != f"epoch_{epoch + 1:03d}":
                old.unlink()
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
    model.eval()
    return model, history


@torch.inference_mode()
def predict_scores(
    model: VisionClassifier, backbone: Backbone, images: np.ndarray, batch_size: int = 64
) -> dict[str, np.ndarray]:
    """Softmax scores per task, columns in the canonical vocabulary order (VOCAB)."""
    out: dict[str, list[np.ndarray]] = {t: [] for t in model.tasks}
    for lo in range(0, len(images), batch_size):
        pixels = backbone.preprocess(torch.from_numpy(np.array(images[lo : lo + batch_size])))
        with backbone.autocast():
            logits = model(pixels)
        for t in model.tasks:
            out[t].append(torch.softmax(logits[t].float(), -1).cpu().numpy())
    scores = {}
    for t in model.tasks:
        alpha = np.concatenate(out[t])
        order = [sorted_labels(t).index(label) for label in VOCAB[t]]
        scores[t] = alpha[:, order]
    return scores


def save_model(
    model: VisionClassifier,
    path: str | Path,
    provenance: dict[str, Any] | None = None,
    backbone: Backbone | None = None,
) -> None:
    """``model.safetensors`` with its family's keys (:mod:`clipfair.models.export`);
    metadata: label order, tower kind and how to rebuild the architecture (``provenance``:
    backbone, datasource, base checkpoint; paths stored relative to the file's folder).
    With ``backbone``, also ``README.md`` beside it with the code that loads the file."""
    from clipfair.models.export import card_code, export_key, relative_to, write_card

    path = Path(path)
    state = {
        export_key(k, model.kind): v.detach().contiguous().cpu()
        for k, v in model.state_dict().items()
    }
    provenance = dict(provenance or {})
    if provenance.get("checkpoint"):
        provenance["checkpoint"] = relative_to(provenance["checkpoint"], path.parent)
    if (provenance.get("backbone") or {}).get("config_dir"):
        config_dir = relative_to(provenance["backbone"]["config_dir"], path.parent)
        provenance["backbone"] = {**provenance["backbone"], "config_dir": config_dir}
    labels = {t: sorted_labels(t) for t in model.tasks}
    meta = {
        "labels": json.dumps(labels),
        "tower": model.kind,
        "provenance": json.dumps(provenance),
    }
    write_safetensors(path, state, meta)
    if backbone is not None:
        description = dict(backbone.description)
        description["pretrained"] = relative_to(description.get("pretrained"), path.parent)
        code = card_code(
            model.kind,
            path.name,
            labels,
            description,
            backbone.mean,
            backbone.std,
            (provenance.get("backbone") or {}).get("config_dir"),
        )
        write_card(path.with_name("README.md"), code, provenance, model.kind)


def load_model(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[VisionClassifier, Backbone]:
    """A saved fine-tuned model and its backbone (preprocessing), rebuilt from the metadata
    (relative paths in it are read from the file's folder, so it loads from anywhere)."""
    from safetensors import safe_open

    from clipfair.models.backbone import load_backbone
    from clipfair.models.export import import_key, resolve_from

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"fine-tuned model {path} does not exist")
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata() or {}
    if "labels" not in meta or not meta.get("provenance"):
        raise InputError(f"{path} has no clipfair metadata (labels, provenance)")
    prov = json.loads(meta["provenance"])
    spec = dict(prov["backbone"])
    if spec.get("config_dir"):
        spec["config_dir"] = resolve_from(spec["config_dir"], path.parent)
    backbone = load_backbone(
        spec,
        prov["datasource"],
        checkpoint=resolve_from(prov.get("checkpoint"), path.parent) or None,
        device=device,
    )
    model = classifier_for(backbone, list(json.loads(meta["labels"])))
    tower = meta.get("tower", model.kind)
    state = load_file(str(path), device=str(device))
    model.load_state_dict({import_key(k, tower): v for k, v in state.items()})
    return model.eval(), backbone


def finetune_job(
    backbone: Backbone,
    config: FinetuneConfig,
    files: FinetuneFiles,
    provenance: dict[str, Any],
    settings: dict[str, Any],
) -> None:
    """The pipeline's fine-tune: train the heads (resumable), save the model with its card,
    write the val scores per task (parquet) and the history; drop the epoch checkpoints."""
    import shutil

    import pandas as pd

    from clipfair.digests import file_sha256
    from clipfair.image_cache import CacheReader
    from clipfair.io import write_json
    from clipfair.scores import write_scores

    inputs = {k: file_sha256(getattr(files, k)) for k in ("train_index", "train_images")}
    train_index = pd.read_parquet(files.train_index)
    model, history = finetune(
        backbone, train_index, CacheReader(files.train_images), config, files.checkpoint_dir,
        inputs=inputs,
    )  # fmt: skip
    save_model(model, files.model, provenance, backbone)
    scores = predict_scores(model, backbone, CacheReader(files.val_images))
    write_scores(files.scores, pd.read_parquet(files.val_index)["file"].tolist(), scores)
    write_json(files.history, {"tasks": config.tasks, "config": settings, "history": history})
    shutil.rmtree(files.checkpoint_dir)  # done: the epoch checkpoints were only for resuming
