"""Image and text embeddings: computed once per (backbone, datasource), shared by every method.

Images come from the dataset's uint8 cache (decoded once per dataset and padding, shared by
every backbone and datasource): a DataLoader hands out contiguous uint8 slices of the
memory map (pinned on CUDA), resize and normalization run batched on the device, the model
runs under ``torch.inference_mode`` with the backbone's precision settings. Never more than
one batch is held as float.

Output: a float32 ``(N, D)`` .npy aligned row by row with the split's parquet index, plus a
JSON sidecar that records the model, a fingerprint of the index's file list (a method refuses
embeddings of another index) and the run's throughput. Work is written in shards under
``<out>.shards/``; an interrupted run resumes from the last finished shard.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from clipfair.digests import file_sha256
from clipfair.embedding_files import EmbeddingFileError, fingerprint, read_array
from clipfair.errors import InputError
from clipfair.image_cache import CacheReader
from clipfair.io import atomic_path, ensure_free_space, resume_folder, write_json, write_parquet
from clipfair.models.backbone import Backbone
from clipfair.progress import progress

if TYPE_CHECKING:
    from clipfair.methods.label_sets import LabelSet

CPU_BATCH = 16  # open_clip ViT-B-32 on 2 CPU cores: 12 img/s at 1, 20 at 16, 17 at 64
GPU_BATCH = 512


@dataclass
class EmbedSettings:
    """How to run the image encoder (``embed:`` in params.yaml)."""

    batch_size: int | None = None  # None: GPU_BATCH on CUDA, CPU_BATCH on the CPU
    workers: int | None = None  # DataLoader processes; None: 4 on CUDA, 0 (main) on the CPU
    shard_size: int = 8192  # images per resumable shard

    def batch_for(self, device: torch.device) -> int:
        """The batch size to use on ``device``."""
        if self.batch_size:
            return self.batch_size
        return GPU_BATCH if device.type == "cuda" else CPU_BATCH

    def workers_for(self, device: torch.device) -> int:
        """Loader processes on ``device``: on the CPU they would only take cores from the model."""
        if self.workers is not None:
            return self.workers
        return 4 if device.type == "cuda" else 0

    @classmethod
    def from_params(cls, embed: dict[str, Any]) -> EmbedSettings:
        """From the ``embed:`` section ('auto' -> None)."""

        def auto(value: Any) -> int | None:
            return None if value == "auto" else int(value)

        return cls(auto(embed["batch_size"]), auto(embed["workers"]), int(embed["shard_size"]))


class CacheBatches(Dataset):
    """Item ``i`` is the ``i``-th uint8 batch ``(B, H, W, 3)`` of rows [start, stop) of a cache.

    Rows are read with ``pread`` (``clipfair.image_cache``), never mapped: a forked worker
    opens its own descriptor and the job's RSS stays one batch per worker.
    """

    def __init__(self, path: str | Path, start: int, stop: int, batch_size: int) -> None:
        self.path, self.start, self.stop, self.batch_size = str(path), start, stop, batch_size
        self._images: CacheReader | None = None

    def __len__(self) -> int:
        return -(-(self.stop - self.start) // self.batch_size)

    def __getitem__(self, i: int) -> torch.Tensor:
        if self._images is None:
            self._images = CacheReader(self.path)
        lo = self.start + i * self.batch_size
        hi = min(lo + self.batch_size, self.stop)
        return torch.from_numpy(self._images[lo:hi])  # a fresh, writable array


@dataclass
class EmbedTimings:
    """Where the time went: waiting for the loader vs encoding (both wall-clock seconds)."""

    images: int = 0
    loader_wait_s: float = 0.0
    encode_s: float = 0.0

    @property
    def seconds(self) -> float:
        return self.loader_wait_s + self.encode_s


def encode_cache_rows(
    backbone: Backbone,
    images_path: str | Path,
    start: int,
    stop: int,
    settings: EmbedSettings,
    timings: EmbedTimings,
    bar: Any = None,
) -> np.ndarray:
    """Embeddings (float32, on CPU) of cache rows [start, stop)."""
    workers = settings.workers_for(backbone.device)
    loader = DataLoader(
        CacheBatches(images_path, start, stop, settings.batch_for(backbone.device)),
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        pin_memory=backbone.device.type == "cuda",
        prefetch_factor=2 if workers else None,  # batches travel through /dev/shm: keep few
    )
    out = []
    batches = iter(loader)
    while True:
        t0 = time.perf_counter()
        batch = next(batches, None)
        t1 = time.perf_counter()
        if batch is None:
            break
        feats = backbone.encode_pixels(backbone.preprocess(batch))
        out.append(feats.cpu())  # .cpu() waits for the device: encode time is real
        timings.loader_wait_s += t1 - t0
        timings.encode_s += time.perf_counter() - t1
        timings.images += len(batch)
        if bar is not None:
            bar.update(len(batch))
    return torch.cat(out).numpy().astype(np.float32, copy=False)


def embed_dim(backbone: Backbone) -> int:
    """The width of the backbone's image embeddings (open_clip's or transformers' config)."""
    visual = getattr(backbone.model, "visual", None)
    if visual is not None:
        return int(visual.output_dim)
    return int(backbone.model.model.config.projection_dim)


def embed_images(
    backbone: Backbone,
    index_path: str | Path,
    images_path: str | Path,
    out_npy: str | Path,
    settings: EmbedSettings | None = None,
    keep_shards: bool = False,
) -> dict[str, Any]:
    """Embed every cached image of a split; write ``out_npy`` and ``<out>.json`` atomically.

    Work goes into ``<out>.shards`` and resumes from there; ``keep_shards`` leaves that folder
    for the caller to remove (a job embedding several splits keeps every split's shards
    until all are done)."""
    from clipfair.runtime import peak_rss_mb

    settings = settings or EmbedSettings()
    out_npy = Path(out_npy)
    index = pd.read_parquet(index_path, columns=["file"])
    n = len(CacheReader(images_path))
    if n != len(index):
        raise InputError(f"{images_path} has {n} images but {index_path} {len(index)} rows")
    files_fp = fingerprint(index["file"].tolist())
    inputs = {
        "index": {"path": str(index_path), "sha256": file_sha256(index_path)},
        "images": {"path": str(images_path), "sha256": file_sha256(images_path)},
    }
    shard_dir = out_npy.with_name(out_npy.name + ".shards")
    resume_folder(  # shards of other weights, images, index or shard size are redone
        shard_dir,
        {
            "n": n,
            "index_fingerprint": files_fp,
            "inputs": {k: v["sha256"] for k, v in inputs.items()},
            "shard_size": settings.shard_size,
            "backbone": backbone.description,
            "precision": backbone.precision,
        },
    )
    starts = list(range(0, n, settings.shard_size))
    for start in starts:  # a shard cut short by a kill (or damaged) is redone, not trusted
        shard = shard_dir / f"{start:09d}.npy"
        if shard.exists():
            try:
                read_array(shard, min(start + settings.shard_size, n) - start)
            except EmbeddingFileError as exc:
                print(f"redoing shard: {exc}", file=sys.stderr)
                shard.unlink()
    done = [s for s in starts if (shard_dir / f"{s:09d}.npy").exists()]
    resumed = sum(min(s + settings.shard_size, n) - s for s in done)
    # float32 rows: the shards still to write, then the whole array once more
    need = (2 * n - resumed) * embed_dim(backbone) * 4
    ensure_free_space(out_npy, need, f"embedding {n} images")
    bar = progress(total=n, initial=resumed, desc=f"embed {out_npy.stem}", unit="img")
    timings = EmbedTimings()
    for start in starts:
        shard = shard_dir / f"{start:09d}.npy"
        if shard.exists():
            continue
        stop = min(start + settings.shard_size, n)
        feats = encode_cache_rows(backbone, images_path, start, stop, settings, timings, bar)
        with atomic_path(shard) as tmp, open(tmp, "wb") as fh:
            np.save(fh, feats)
    bar.close()
    dim = _concatenate_shards(shard_dir, starts, n, out_npy)
    if not keep_shards:
        shutil.rmtree(shard_dir)
    meta = {
        "n": n,
        "dim": dim,
        "index_fingerprint": files_fp,
        "inputs": inputs,
        "backbone": backbone.description,
        "run": {
            "device": str(backbone.device),
            "precision": backbone.precision,
            **asdict(settings),
            "batch_size": settings.batch_for(backbone.device),
            "workers": settings.workers_for(backbone.device),
            "resumed_shards": len(done),
            "images_encoded": timings.images,
            "seconds": round(timings.seconds, 3),
            "images_per_s": round(timings.images / timings.seconds, 2) if timings.images else None,
            "loader_wait_share": round(timings.loader_wait_s / timings.seconds, 4)
            if timings.seconds
            else None,
            "peak_rss_mb": round(peak_rss_mb(), 1),
        },
    }
    write_json(out_npy.with_suffix(".json"), meta)
    return meta


def _concatenate_shards(shard_dir: Path, starts: list[int], n: int, out_npy: Path) -> int:
    """Copy the shards into one (n, D) float32 .npy through a memory map; return D."""
    if n == 0:
        raise InputError(f"nothing to embed for {out_npy}: the split has no images")
    first = np.load(shard_dir / f"{starts[0]:09d}.npy", mmap_mode="r")
    dim = first.shape[1]
    with atomic_path(out_npy) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, dim))
        for start in starts:
            part = np.load(shard_dir / f"{start:09d}.npy", mmap_mode="r")
            out[start : start + len(part)] = part
        out.flush()
        del out
    return int(dim)


def embed_label_set(
    backbone: Backbone, name: str, label_set: LabelSet, out_path: str | Path
) -> None:
    """Embed the prompts of a label set: parquet with columns class, prompt, embedding, and a
    ``.json`` sidecar naming the set (its file's sha256) and the model that embedded it."""
    rows = [(cls, p) for cls, plist in label_set.prompts.items() for p in plist]
    too_long = backbone.prompts_over_context([p for _, p in rows])
    if too_long:
        text, n = too_long[0]
        raise InputError(
            f"label set {name!r} ({label_set.path}): {len(too_long)} prompt(s) longer than the "
            f"model's text context of {backbone.context_length} tokens, which its tokenizer "
            f"would cut without a word; first: {text!r} ({n} tokens). Shorten them, or use a "
            "model with a longer context."
        )
    feats = backbone.encode_text([p for _, p in rows]).numpy()
    df = pd.DataFrame(rows, columns=["class", "prompt"])
    df["embedding"] = list(feats.astype(np.float32))
    write_parquet(out_path, df)
    meta = {
        "label_set": name,
        "label_set_file": str(label_set.path),
        "label_set_sha256": label_set.sha256,
        "task": label_set.task,
        "n_prompts": len(rows),
        "dim": int(feats.shape[1]),
        "backbone": backbone.description,
    }
    write_json(Path(out_path).with_suffix(".json"), meta)


def embed_job(
    backbone: Backbone,
    label_sets: dict[str, LabelSet],
    text_dir: Path,
    splits: list[tuple[Path, Path, Path]],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """One model's embed job: the prompts of each label set (``text_dir/<name>.parquet``),
    then each split's images (index, image cache, out.npy). Returns what was written.

    Shards stay until every split is done: a kill during a later split (after which
    Snakemake deletes all the job's outputs) redoes no finished split."""
    backbone.configure_inference(
        settings["precision"], settings["channels_last"], settings["compile"]
    )
    done: dict[str, Any] = {"label_sets": {}, "splits": []}
    for name, label_set in label_sets.items():
        out = Path(text_dir) / f"{name}.parquet"
        embed_label_set(backbone, name, label_set, out)
        done["label_sets"][name] = (sum(map(len, label_set.prompts.values())), out)
    embed_settings = EmbedSettings.from_params(settings)
    for index, images, out in splits:
        meta = embed_images(backbone, index, images, out, embed_settings, keep_shards=True)
        done["splits"].append((out, meta))
    for _, _, out in splits:
        shutil.rmtree(f"{out}.shards", ignore_errors=True)
    return done
