"""``clipfair bench-project``: the real grid's cost on one GPU, projected (not measured) from
the full-size rehearsal's measured stages and a FLOP model of the real encoders.

What is measured: ``metrics/scale/stages.csv`` (per rule at FairFace's real size on this
machine, tiny-vit at 224 px), the disk the rehearsal's outputs take, and the FLOPs per image
of the real image encoders (``torch.utils.flop_counter`` on random-init open_clip models, the
count ``clipfair bench-embed`` uses). What is assumed is in ``ASSUMPTIONS`` and printed with
the table. GPU rules: images x FLOPs / (peak x MFU), at least the time to read the uint8
cache; CPU rules keep their measured wall time, scaled by the width of the embeddings where
their work grows with it (probes).
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Stated assumptions of the projection (printed beside the table).
ASSUMPTIONS: dict[str, Any] = {
    "gpu": "H100 SXM, bf16 dense peak 989 TFLOP/s",
    "peak_flops": 989e12,
    "mfu_embed": 0.40,  # inference, bf16, batch 512 (bench-embed's target)
    "mfu_finetune": 0.30,  # training the last blocks: smaller matmuls, optimizer steps
    "cache_read_gb_s": 2.0,  # uint8 cache from local NVMe / page cache
    "fairface_images": 97_698,
    "fairface_train": 86_744,
    "fairface_val": 10_954,
    "adience_images": 19_370,  # Adience faces with a gender label (all folds)
    "finetune_epochs": 5,  # params.yaml finetune.epochs
    "trainable_fraction": 3 / 24,  # trainable_blocks 3 of ViT-L-14's 24
    "vggface_epochs": 3,
    "vggface_gflops": 30.9,  # VGG16 at 224 px (15.5 GMACs), forward
    "download_mb_s": 20.0,  # Google Drive to a cluster, per file
    "real_zip_mb": 551.0,  # fairface-img-margin025-trainval.zip as published (approx.)
    "embed_dim_real": 768,  # ViT-L-14 (hf B/32: 512)
    "embed_dim_measured": 128,  # tiny-vit-224
    "checkpoint_gb": 1.2,  # a fine-tuned ViT-L-14 vision tower + heads, fp32 safetensors
    "vggface_model_gb": 0.6,  # the VGG-Face transfer's saved model
}

# The real grid's image encoders -> their embed jobs (ViT-L-14: 5 open_clip datasources and
# hf_openai_l14); their GFLOPs per image come from encoder_gflops().
REAL_ENCODERS = {"ViT-L-14": 6, "ViT-B-32": 1}


@dataclass
class Row:
    rule: str
    jobs: int
    device: str
    hours: float
    gpu_hours: float
    disk_gb: float
    basis: str


def read_stages(path: str | Path) -> dict[str, dict[str, float]]:
    with open(path, newline="") as fh:
        return {
            r["rule"]: {k: float(v) for k, v in r.items() if k != "rule"}
            for r in csv.DictReader(fh)
        }


def encoder_gflops(names: list[str]) -> dict[str, float]:
    """Forward GFLOPs per 224-px image of each open_clip image encoder (random weights)."""
    import torch

    from clipfair.bench.embed import flops_per_image
    from clipfair.models.backbone import load_open_clip

    out = {}
    for name in names:
        torch.manual_seed(0)
        out[name] = flops_per_image(load_open_clip(name, None, device="cpu")) / 1e9
    return out


def project(
    stages: dict[str, dict[str, float]],
    jobs: dict[str, int],
    gflops: dict[str, float],
    a: dict[str, Any] = ASSUMPTIONS,
) -> list[Row]:
    """One row per rule of the real grid (``jobs``: its jobs per rule, from ``snakemake -n``)."""
    rate = {k: a["peak_flops"] * a[f"mfu_{k}"] for k in ("embed", "finetune")}
    cache_gb = a["fairface_images"] * 224 * 224 * 3 / 1e9
    rows: list[Row] = []

    def measured(rule: str, n: int, scale: float = 1.0, disk: float = 0.0, basis: str = "") -> None:
        s = stages.get(rule)
        if s is None or n == 0:
            return
        per_job = s["wall_s"] / max(1.0, s["jobs"]) * scale
        rows.append(Row(rule, n, "cpu", per_job * n / 3600, 0.0, disk, basis or "measured"))

    download_s = a["real_zip_mb"] / a["download_mb_s"]
    rows.append(
        Row("acquire", jobs.get("acquire", 0), "cpu", download_s / 3600, 0.0,
            a["real_zip_mb"] / 1e3, f"{a['real_zip_mb']:.0f} MB at {a['download_mb_s']:.0f} MB/s")
    )  # fmt: skip
    measured("ingest", jobs.get("ingest", 0), disk=cache_gb, basis="measured (2 cores)")
    images = a["fairface_images"] + a["adience_images"]
    read = images * 224 * 224 * 3 / (a["cache_read_gb_s"] * 1e9)
    embed_h = sum(
        n * max(images * gflops[name] * 1e9 / rate["embed"], read) / 3600
        for name, n in REAL_ENCODERS.items()
    )
    emb_gb = sum(REAL_ENCODERS.values()) * images * a["embed_dim_real"] * 4 / 1e9
    rows.append(Row("embed", jobs.get("embed", 0), "gpu", embed_h, embed_h, emb_gb,
                    f"FLOP model, MFU {a['mfu_embed']:.0%}"))  # fmt: skip
    g = gflops["ViT-L-14"] * 1e9
    train = a["finetune_epochs"] * a["fairface_train"] * g * (1 + 2 * a["trainable_fraction"])
    score = a["fairface_val"] * g
    ft_h = jobs.get("finetune", 0) * (train + score) / rate["finetune"] / 3600
    rows.append(Row("finetune", jobs.get("finetune", 0), "gpu", ft_h, ft_h,
                    jobs.get("finetune", 0) * a["checkpoint_gb"],
                    f"FLOP model, MFU {a['mfu_finetune']:.0%}, backward 2x trainable"))  # fmt: skip
    # one job per VGG-Face model: a transfer trained on FairFace's train split and one on
    # Adience, each saved
    n_vgg = jobs.get("vggface_transfer", 0)
    vgg = a["vggface_epochs"] * (a["fairface_train"] + a["adience_images"]) * a["vggface_gflops"]
    vgg_h = n_vgg * vgg * 1e9 * 3 / rate["finetune"] / 3600
    vgg_gb = n_vgg * 2 * a["vggface_model_gb"]
    rows.append(Row("vggface_transfer", n_vgg, "gpu", vgg_h, vgg_h, vgg_gb,
                    "FLOP model, forward + 2x backward"))  # fmt: skip
    width = a["embed_dim_real"] / a["embed_dim_measured"]
    basis = f"measured x {width:.0f} (embedding width)"
    measured("cells_probes", jobs.get("cells_probes", 0), width, basis=basis)
    for rule in ("cells_zeroshot", "cells_finetuned", "topk_sweep", "summarize", "compare",
                 "plots"):  # fmt: skip
        measured(rule, jobs.get(rule, 0))
    total = Row(
        "total",
        sum(r.jobs for r in rows),
        "",
        sum(r.hours for r in rows),
        sum(r.gpu_hours for r in rows),
        sum(r.disk_gb for r in rows),
        "projection",
    )
    return [*rows, total]


def as_dicts(rows: list[Row]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        d = asdict(r)
        for k in ("hours", "gpu_hours", "disk_gb"):
            d[k] = round(d[k], 3 if k != "disk_gb" else 1)
        out.append(d)
    return out


def projection_report(stages: Path, out: Path, preset: str) -> str:
    """``clipfair bench-project``: project ``preset``'s grid from a rehearsal's stage table,
    write ``out`` and return the report (labelled a projection)."""
    from clipfair.bench.dag import planned_jobs
    from clipfair.bench.stages import markdown, write_csv

    gflops = encoder_gflops(list(REAL_ENCODERS))
    rows = as_dicts(project(read_stages(stages), planned_jobs(".", preset), gflops))
    write_csv(out, rows)
    per_image = ", ".join(f"{k} {v:.1f}" for k, v in gflops.items())
    assumptions = "; ".join(f"{k}={v}" for k, v in ASSUMPTIONS.items())
    return (
        f"PROJECTION (not measured): the {preset} grid on one GPU\n\n{markdown(rows)}\n\n"
        f"encoder GFLOPs/image (flop counter): {per_image}\nassumptions: {assumptions}\n"
        f"wrote {out}"
    )
