"""The VGG-Face gender_classifier's commands on VGG-Face: train on Adience, evaluate, classify one
image.

``train``: the transfer model (frozen VGG-Face base + two dense layers, binary
cross-entropy, Adam) on the train folds, validated on the val folds after every epoch, with
two batch sizes (``-b1`` train, ``-b2`` validation) and two memory modes: ``low`` decodes
each batch's JPEGs from disk, ``high`` decodes every image once into memory first. The model
is saved as safetensors with the VGG-Face widths and the class order in its metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

from clipfair.data.adience import parse_folds
from clipfair.errors import InputError, MissingFileError
from clipfair.image_cache import CacheReader
from clipfair.io import write_safetensors
from clipfair.models.vggface import GenderTransfer, VGGFace, VGGFaceConfig, load_t7, preprocess
from clipfair.progress import progress

CLASSES = ("female", "male")  # sigmoid > 0.5 is male, as in the VGG-Face gender_classifier's output


def read_face(path: Path, size: int) -> np.ndarray:
    """One face image as uint8 RGB (size, size, 3); ValueError naming the file if unreadable."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
    except OSError as exc:
        raise InputError(f"{path}: cannot read image ({exc})") from exc


class FaceBatches:
    """Batches of (uint8 images, targets) of one split, streamed (low) or preloaded (high)."""

    def __init__(self, root: Path, files: list[str], targets: np.ndarray, size: int, mode: str):
        if mode not in ("low", "high"):
            raise InputError(f"memory mode must be 'low' or 'high'; got {mode!r}")
        self.root, self.files, self.targets, self.size = root, files, targets, size
        self.images: np.ndarray | None = None
        if mode == "high":
            self.images = np.stack(
                [
                    read_face(root / f, size)
                    for f in progress(iterable=files, desc="preload", unit="img")
                ]
            )

    @classmethod
    def from_cache(cls, index: str | Path, images: str | Path, mode: str) -> FaceBatches:
        """A split ingested by the pipeline (parquet index + uint8 cache): the memory-mapped
        cache is read batch by batch (low, ``pread``: no mapping) or loaded into RAM (high)."""
        idx = pd.read_parquet(index)
        cache = CacheReader(images) if mode == "low" else np.load(images)
        if len(cache) != len(idx):
            raise InputError(f"{images} has {len(cache)} images; its index {index} {len(idx)}")
        data = cls(
            Path(images).parent,
            idx["file"].tolist(),
            (idx["gender"] == "Male").to_numpy(np.float32),
            cache.shape[1],
            "low",
        )
        data.images = cache
        return data

    def __len__(self) -> int:
        return len(self.files)

    def images_at(self, idx: np.ndarray) -> torch.Tensor:
        """uint8 images (B, H, W, 3) of the given rows: from memory or the cache, or decoded."""
        if self.images is not None:
            return torch.from_numpy(self.images[idx])  # fancy indexing: a copy, also of a memmap
        return torch.from_numpy(
            np.stack([read_face(self.root / self.files[i], self.size) for i in idx])
        )

    def batches(self, batch_size: int, order: np.ndarray | None = None):
        order = np.arange(len(self.files)) if order is None else order
        for lo in range(0, len(order), batch_size):
            idx = order[lo : lo + batch_size]
            yield self.images_at(idx), torch.from_numpy(self.targets[idx])


def split_faces(root: Path, val_folds: list[int], size: int, mode: str) -> dict[str, FaceBatches]:
    """Train and val faces of an Adience release (usable genders only)."""
    folds, bad, _ = parse_folds(root)
    if bad:
        raise InputError(f"{root}: {len(bad)} bad fold rows, first: {bad[0]}")
    out = {}
    for split, rows in (
        ("train", folds[~folds["fold"].isin(val_folds)]),
        ("val", folds[folds["fold"].isin(val_folds)]),
    ):
        targets = (rows["gender"] == "Male").to_numpy(np.float32)
        out[split] = FaceBatches(root, rows["file"].tolist(), targets, size, mode)
    return out


@torch.inference_mode()
def score(model: GenderTransfer, data: FaceBatches, batch_size: int) -> dict[str, float]:
    """Accuracy and binary cross-entropy on a split."""
    model.eval()
    correct, loss, n = 0.0, 0.0, 0
    device = next(model.parameters()).device
    for imgs, y in data.batches(batch_size):
        y = y.to(device)
        batch_loss, batch_correct = _sums(model(preprocess(imgs.to(device), model.image_size)), y)
        loss, correct, n = loss + batch_loss, correct + batch_correct, n + len(y)
    return {"accuracy": correct / n, "bce": loss / n, "n": n}


def _sums(logit: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Summed binary cross-entropy and number right of a batch of logits."""
    loss = F.binary_cross_entropy_with_logits(logit, y, reduction="sum")
    return float(loss), float(((logit > 0).float() == y).sum())


def train(
    weights: str | Path,
    root: str | Path,
    out: str | Path,
    *,
    epochs: int = 1,
    batch_train: int = 32,
    batch_val: int = 32,
    mode: str = "low",
    val_folds: tuple[int, ...] = (4,),
    keep_layers: int = 31,
    hidden: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
) -> dict[str, Any]:
    """The VGG-Face gender_classifier's `train` on an Adience folder: returns the per-epoch
    history."""
    base = load_t7(weights)
    size = base.config.image_size
    data = split_faces(Path(root), list(val_folds), size, mode)
    return fit(
        base,
        data,
        out,
        epochs=epochs,
        batch_train=batch_train,
        batch_val=batch_val,
        keep_layers=keep_layers,
        hidden=hidden,
        lr=lr,
        seed=seed,
    )


FEATURE_CACHE_MB = 1024  # frozen-base features kept in RAM when both splits' fit in this


@torch.inference_mode()
def frozen_features(model: GenderTransfer, data: FaceBatches, batch_size: int) -> torch.Tensor:
    """The frozen base's output for every image of a split, in order (float32, CPU)."""
    model.eval()
    device = next(model.parameters()).device
    out = [
        model.base(preprocess(imgs.to(device), model.image_size)).cpu()
        for imgs, _ in progress(iterable=data.batches(batch_size), desc="base", unit="batch")
    ]
    return torch.cat(out)


def _feature_mb(model: GenderTransfer, n_images: int) -> float:
    return n_images * model.head[1].in_features * 4 / 2**20


def fit(
    base: VGGFace,
    data: dict[str, FaceBatches],
    out: str | Path,
    *,
    epochs: int,
    batch_train: int,
    batch_val: int,
    keep_layers: int,
    hidden: int,
    lr: float,
    seed: int,
    device: str = "cpu",
    feature_cache_mb: float = FEATURE_CACHE_MB,
    kept_features: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Train the transfer head on ``data["train"]``, score ``data["val"]`` after every epoch,
    save the model (safetensors, architecture in the metadata); return the history.

    The base is frozen and has no dropout or statistics in eval mode, so its output for an
    image never changes: when both splits' features fit ``feature_cache_mb``, the base runs
    once per image and every epoch trains the head on the kept features (the same batches,
    order and updates as running the base each epoch; tested). Else it runs every epoch.
    ``kept_features``: a dict that receives those features by split (left empty if none)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = GenderTransfer(base, keep_layers, hidden).to(device)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    n_all = len(data["train"]) + len(data["val"])
    cached = _feature_mb(model, n_all) <= feature_cache_mb
    feats = {s: frozen_features(model, data[s], batch_val) for s in data} if cached else {}
    if kept_features is not None:
        kept_features.update(feats)
    history = []
    for epoch in range(epochs):
        model.train()
        total, n = 0.0, 0
        bar = progress(total=len(data["train"]), desc=f"epoch {epoch + 1}/{epochs}", unit="img")
        order = rng.permutation(len(data["train"]))
        for lo in range(0, len(order), batch_train):
            idx = order[lo : lo + batch_train]
            y = torch.from_numpy(data["train"].targets[idx]).to(device)
            if cached:
                logit = model.head(feats["train"][idx].to(device)).squeeze(1)
            else:
                imgs = data["train"].images_at(idx).to(device)
                logit = model(preprocess(imgs, model.image_size))
            loss = F.binary_cross_entropy_with_logits(logit, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(y)
            n += len(y)
            bar.update(len(y))
        bar.close()
        val = score_features(model, feats["val"], data["val"]) if cached else (
            score(model, data["val"], batch_val)
        )  # fmt: skip
        history.append(
            {
                "epoch": epoch + 1,
                "train_bce": total / n,
                "val_accuracy": val["accuracy"],
                "val_bce": val["bce"],
            }
        )
        print(f"epoch {epoch + 1}: train bce {total / n:.4f}, val accuracy {val['accuracy']:.4f}")
    meta = {
        "vggface": json.dumps(base.config.__dict__),
        "keep_layers": str(keep_layers),
        "hidden": str(hidden),
        "classes": json.dumps(CLASSES),
        "history": json.dumps(history),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_safetensors(out, state, meta)
    return {
        "history": history,
        "train_faces": len(data["train"]),
        "val_faces": len(data["val"]),
        "base_features_cached": cached,
    }


@torch.inference_mode()
def score_features(model: GenderTransfer, feats: torch.Tensor, data: FaceBatches) -> dict:
    """:func:`score` from the base's kept features."""
    model.eval()
    device = next(model.parameters()).device
    logit = model.head(feats.to(device)).squeeze(1)
    y = torch.from_numpy(data.targets).to(device)
    loss, correct = _sums(logit, y)
    return {"accuracy": correct / len(y), "bce": loss / len(y), "n": len(y)}


def load_transfer(path: str | Path) -> GenderTransfer:
    """A model saved by ``train`` (safetensors; the architecture from its metadata)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"model {path} does not exist")
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata() or {}
    if "vggface" not in meta:
        raise InputError(f"{path} is not a model written by `clipfair vggface train`")
    base = VGGFace(VGGFaceConfig.from_dict(json.loads(meta["vggface"])))
    model = GenderTransfer(base, int(meta["keep_layers"]), int(meta["hidden"]))
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def evaluate(
    model_path: str | Path,
    root: str | Path,
    batch_size: int = 32,
    val_folds: tuple[int, ...] = (4,),
    mode: str = "low",
) -> dict[str, dict[str, float]]:
    """The VGG-Face gender_classifier's `evaluate`: accuracy and BCE on the validation and the
    training faces."""
    model = load_transfer(model_path)
    data = split_faces(Path(root), list(val_folds), model.image_size, mode)
    return {split: score(model, data[split], batch_size) for split in ("val", "train")}


@torch.inference_mode()
def classify(model_path: str | Path, image: str | Path) -> tuple[str, float]:
    """The VGG-Face gender_classifier's `classify`: the class of one face image and the sigmoid
    value."""
    model = load_transfer(model_path)
    face = torch.from_numpy(read_face(Path(image), model.image_size)[None].copy())
    value = float(torch.sigmoid(model(preprocess(face, model.image_size)))[0])
    return CLASSES[int(value > 0.5)], value


@torch.inference_mode()
def score_cache(
    model_path: str | Path,
    index: str | Path,
    images: str | Path,
    out: str | Path,
    batch_size: int = 64,
    device: str = "cpu",
    base_features: torch.Tensor | None = None,
) -> pd.DataFrame:
    """Scores of an ingested split (the pipeline's cells): file + ``gender:score_<label>``
    (sigmoid for Male, its complement for Female), in the index's order. ``base_features``:
    the frozen base's output for these images, in order, when training already computed it
    (the head then scores them; the base does not run again)."""
    from clipfair.labels import VOCAB
    from clipfair.scores import write_scores

    model = load_transfer(model_path).to(device)
    data = FaceBatches.from_cache(index, images, "low")
    if base_features is not None:
        if len(base_features) != len(data):
            raise InputError(
                f"{len(base_features)} base features for {len(data)} images of {index}"
            )
        male = [torch.sigmoid(model.head(base_features.to(device)).squeeze(1)).cpu()]
    else:
        male = [
            torch.sigmoid(model(preprocess(imgs.to(device), model.image_size))).cpu()
            for imgs, _ in progress(iterable=data.batches(batch_size), desc="score", unit="batch")
        ]
    p = torch.cat(male).double().numpy()
    by_label = {"Male": p, "Female": 1 - p}
    gender = np.stack([by_label[label] for label in VOCAB["gender"]], axis=1)
    df = write_scores(out, data.files, {"gender": gender})
    return df


@dataclass(frozen=True)
class TransferSettings:
    """The ``vggface:`` section of params.yaml (validated: every key present)."""

    epochs: int
    lr: float
    batch_train: int
    batch_val: int
    hidden: int
    keep_layers: int
    memory: str  # low: stream the cache batch by batch | high: load it in RAM
    device: str  # auto | cpu | cuda

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> TransferSettings:
        return cls(**{k: section[k] for k in cls.__dataclass_fields__})


def transfer_job(
    weights: str | Path,
    train: tuple[Path, Path],
    val: tuple[Path, Path],
    settings: TransferSettings,
    out_model: Path,
    out_history: Path,
    score: list[tuple[Path, Path, Path]],
    seed: int,
) -> dict[str, Any]:
    """The pipeline's VGG-Face transfer on ingested splits ((index, image cache) each): train,
    write the history, then score each (index, images, out.parquet) the cells predict."""
    from clipfair.io import write_json
    from clipfair.runtime import pick_device

    device = str(pick_device(settings.device))
    data = {
        split: FaceBatches.from_cache(index, images, settings.memory)
        for split, (index, images) in (("train", train), ("val", val))
    }
    kept: dict[str, torch.Tensor] = {}
    out = fit(
        load_t7(weights), data, out_model, epochs=settings.epochs,
        batch_train=settings.batch_train, batch_val=settings.batch_val,
        keep_layers=settings.keep_layers, hidden=settings.hidden, lr=settings.lr, seed=seed,
        device=device, kept_features=kept,
    )  # fmt: skip
    write_json(out_history, out)
    scored = []
    for index, images, out_path in score:
        # the val split trained on: its base features were computed during training
        same = (Path(index).resolve(), Path(images).resolve()) == tuple(
            Path(p).resolve() for p in val
        )
        feats = kept.get("val") if same else None
        df = score_cache(out_model, index, images, out_path, settings.batch_val, device, feats)
        scored.append((out_path, len(df), feats is not None))
    return {**out, "device": device, "scored": scored}
