"""Embedding benchmark: three ways to embed the same images with the same model, in one run.

(a) naive: the prompt-ensemble report's loop, one JPEG at a time: PIL open, open_clip's torchvision
preprocess,
    ``encode_image`` on a batch of 1 in fp32;
(b) ceiling: the model alone on ready, preprocessed tensors (same batch and precision as c);
(c) pipeline: ``clipfair.embed.embed_images`` from the uint8 cache (the path the grid uses).

Prints images/s of each, the ratios, the loader's share of the pipeline's time, the MFU
estimate (FLOPs per image counted by ``torch.utils.flop_counter`` x images/s / device peak),
peak RSS, and the cosine between the naive and pipeline embeddings of the same images.
Offline the model has random weights: the speed is the same as with trained ones.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

from clipfair.bench.hardware import describe, device_peak_flops
from clipfair.data.demo import draw_face
from clipfair.data.ingest import decode_image
from clipfair.embed import EmbedSettings, embed_images
from clipfair.io import write_json, write_parquet
from clipfair.models.backbone import Backbone, load_open_clip
from clipfair.progress import progress
from clipfair.runtime import peak_rss_mb


def write_jpegs(folder: Path, n: int, size: int = 224, seed: int = 0) -> list[Path]:
    """``n`` synthetic face JPEGs of FairFace's size (224 px at padding 0.25)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        path = folder / f"{i:06d}.jpg"
        draw_face(rng, int(rng.integers(9)), int(rng.integers(2)), int(rng.integers(7)), size).save(
            path, quality=90
        )
        files.append(path)
    return files


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def flops_per_image(backbone: Backbone) -> float:
    """Forward FLOPs of the image encoder for one image (matmuls and convolutions).

    Counted with autograd on: under inference mode ``nn.MultiheadAttention`` takes a fused
    fast path whose projections the counter does not see.
    """
    from torch.utils.flop_counter import FlopCounterMode

    pixels = torch.zeros(1, 3, backbone.image_size, backbone.image_size, device=backbone.device)
    counter = FlopCounterMode(display=False)
    with counter, torch.enable_grad():
        backbone.model.encode_image(pixels)
    return float(counter.get_total_flops())


def naive_loop(backbone: Backbone, files: list[Path]) -> tuple[np.ndarray, float]:
    """The prompt-ensemble report's way: one image at a time from its JPEG, fp32, batch 1."""
    import open_clip

    preprocess = open_clip.image_transform(
        backbone.image_size, is_train=False, mean=backbone.mean, std=backbone.std
    )
    out = []
    _sync(backbone.device)
    start = time.perf_counter()
    with torch.inference_mode():
        for path in progress(iterable=files, desc="naive loop", unit="img"):
            image = preprocess(Image.open(path).convert("RGB")).unsqueeze(0).to(backbone.device)
            feats = backbone.model.encode_image(image)
            out.append(F.normalize(feats.float(), dim=-1).cpu())
    _sync(backbone.device)
    return torch.cat(out).numpy(), time.perf_counter() - start


def model_ceiling(backbone: Backbone, n: int, batch: int) -> float:
    """Seconds to encode ``n`` images from ready tensors already on the device."""
    pixels = torch.randn(batch, 3, backbone.image_size, backbone.image_size, device=backbone.device)
    if backbone.channels_last:
        pixels = pixels.contiguous(memory_format=torch.channels_last)
    backbone.encode_pixels(pixels)  # warm-up (and compile, if asked)
    _sync(backbone.device)
    done, start = 0, time.perf_counter()
    while done < n:
        backbone.encode_pixels(pixels)
        done += batch
    _sync(backbone.device)
    return (time.perf_counter() - start) * n / done


def run_embed_bench(
    *,
    model: str,
    pretrained: str | None = None,
    config_dir: str | Path | None = None,
    n: int = 256,
    n_naive: int = 64,
    device: torch.device,
    settings: EmbedSettings,
    precision: str = "auto",
    compile: bool = False,
    workdir: Path | None = None,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Run (a), (b) and (c) on the same images and model; return (and write) the figures."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        files = write_jpegs(tmp / "jpegs", n)
        size = 224
        t0 = time.perf_counter()
        cache = np.lib.format.open_memmap(
            tmp / "cache.npy", mode="w+", dtype=np.uint8, shape=(n, size, size, 3)
        )
        for i, path in enumerate(files):
            cache[i] = decode_image(path.read_bytes(), path.name, size)
        cache.flush()
        del cache
        decode_s = time.perf_counter() - t0
        write_parquet(tmp / "index.parquet", pd.DataFrame({"file": [p.name for p in files]}))

        backbone = load_open_clip(model, pretrained, config_dir=config_dir, device=device)
        flops = flops_per_image(backbone)
        naive_emb, naive_s = naive_loop(backbone, files[:n_naive])
        backbone.configure_inference(precision, channels_last=True, compile=compile)
        batch = settings.batch_for(device)
        ceiling_s = model_ceiling(backbone, n, batch)  # also warms the model up for (c)
        start = time.perf_counter()
        meta = embed_images(
            backbone, tmp / "index.parquet", tmp / "cache.npy", tmp / "emb.npy", settings
        )
        pipeline_s = time.perf_counter() - start  # all of it: loader start-up, shards, files
        ceiling_s = min(ceiling_s, model_ceiling(backbone, n, batch))  # the better of two
        pipe_emb = np.load(tmp / "emb.npy")[:n_naive]
    run = meta["run"]
    peak, peak_info = device_peak_flops(device, backbone.precision != "fp32")
    rates = {
        "naive": n_naive / naive_s,
        "ceiling": n / ceiling_s,
        "pipeline": n / pipeline_s,
    }
    result = {
        "benchmark": "embed",
        "machine": describe(device),
        "model": model,
        "pretrained": pretrained,
        "images": n,
        "naive_images": n_naive,
        "batch_size": batch,
        "precision": backbone.precision,
        "compile": compile,
        "workers": run["workers"],
        "gflops_per_image": flops / 1e9,
        "peak_tflops": peak / 1e12,
        "peak_info": peak_info,
        "images_per_s": rates,
        "pipeline_vs_ceiling": rates["pipeline"] / rates["ceiling"],
        "pipeline_vs_naive": rates["pipeline"] / rates["naive"],
        "loader_wait_share": run["loader_wait_share"],
        "mfu": {k: v * flops / peak for k, v in rates.items()},
        "decode_images_per_s": n / decode_s,
        "min_cosine_naive_vs_pipeline": float((naive_emb * pipe_emb).sum(1).min()),
        "peak_rss_mb": peak_rss_mb(),
    }
    if out:
        write_json(out, result)
    return result


def format_embed_bench(r: dict[str, Any]) -> str:
    """Human-readable lines of an embedding benchmark result."""
    rate, mfu = r["images_per_s"], r["mfu"]
    lines = [
        f"embed benchmark: {r['model']} ({r['gflops_per_image']:.1f} GFLOPs/image) on "
        f"{r['machine'].get('gpu', r['machine']['device'])}, {r['images']} images, batch "
        f"{r['batch_size']}, {r['precision']}, peak {r['peak_tflops']:.1f} TFLOP/s",
    ]
    for key, label in (
        ("naive", "(a) naive loop"),
        ("ceiling", "(b) model alone"),
        ("pipeline", "(c) pipeline"),
    ):
        lines.append(f"  {label:16s}: {rate[key]:9.1f} img/s   MFU {100 * mfu[key]:5.1f}%")
    lines += [
        f"  pipeline / model alone: {r['pipeline_vs_ceiling']:.3f}   pipeline / naive: "
        f"{r['pipeline_vs_naive']:.2f}x   loader wait {100 * r['loader_wait_share']:.1f}% of the"
        " pipeline's time",
        f"  JPEG decode (once per dataset): {r['decode_images_per_s']:.0f} img/s; min cosine"
        f" naive vs pipeline {r['min_cosine_naive_vs_pipeline']:.5f}; peak RSS"
        f" {r['peak_rss_mb']:.0f} MiB",
    ]
    return "\n".join(lines)
