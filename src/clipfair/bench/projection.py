"""``clipfair bench project``: the real grid's cost on one GPU, projected (not measured) from
the full-size rehearsal's measured stages and a FLOP model of the real encoders.

What is measured: ``metrics/scale/stages.csv`` (per rule at FairFace's real size on this
machine, tiny-vit at 224 px), the disk the rehearsal's outputs take, and the FLOPs per image
of the real image encoders (``torch.utils.flop_counter`` on random-init open_clip models, the
count ``clipfair bench embed`` uses). What is assumed is in ``ASSUMPTIONS`` and printed with
the table. GPU rules: images x FLOPs / (peak x MFU), at least the time to read the uint8
cache; CPU rules keep their measured wall time. The probe jobs run on a GPU (the Slurm
profile gives ``cells_probes`` one): each distinct fit's C sweep by the same FLOP model in
fp32, plus per L-BFGS iteration a fixed overhead, sklearn's reference fit and each cell's
evaluation at their measured CPU times. The probes on CPU (the rehearsal's time scaled by the
embedding width) are printed beside it.
"""

from __future__ import annotations

import copy
import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Stated assumptions of the projection (printed beside the table).
ASSUMPTIONS: dict[str, Any] = {
    "gpu": "H100 SXM, bf16 dense peak 989 TFLOP/s",
    "peak_flops": 989e12,
    "mfu_embed": 0.40,  # inference, bf16, batch 512 (bench embed's target)
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
    "vggface_weights_mb": 580.0,  # the VGG-Face torch archive (approx.)
    "embed_dim_real": 768,  # ViT-L-14 (hf B/32: 512)
    "embed_dim_measured": 128,  # tiny-vit-224
    "fp32_peak_flops": 67e12,  # H100 SXM fp32 (the probe's L-BFGS runs in fp32)
    "mfu_probe": 0.30,  # (N x 768) x (768 x 7C) matmuls: large but thin
    "lbfgs_evals_per_iter": 1.25,  # loss + gradient evaluations per iteration (line search)
    "lbfgs_iter_overhead_s": 2e-3,  # Python and L-BFGS bookkeeping per iteration and batch
    "probe_classes": 7,  # race (age 9, gender 2)
    "sklearn_probe_s": 15.0,  # bench probe: sklearn warm-started sweep + refit, 86,744 x 768
    "cell_eval_s": 1.5,  # a cell's predictions, metrics and intervals (rehearsal: 24 in 36 s)
    "checkpoint_gb": 1.2,  # a fine-tuned ViT-L-14 vision tower + heads, fp32 safetensors
    "vggface_model_gb": 0.6,  # the VGG-Face transfer's saved model
}

C_CHUNK = 7  # values of C per batched problem (clipfair.methods.logreg.fit_logreg_path)

# The real grid's image encoders -> their models (ViT-L-14: 6 open_clip datasources and
# hf_openai_l14; ViT-L-14-336: openai); their GFLOPs per image come from encoder_gflops().
REAL_ENCODERS = {"ViT-L-14": 7, "ViT-L-14-336": 1, "ViT-B-32": 1}


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
    """Forward GFLOPs per image (at its own size) of each open_clip encoder (random weights)."""
    import torch

    from clipfair.bench.embed import flops_per_image
    from clipfair.models.backbone import load_open_clip

    out = {}
    for name in names:
        torch.manual_seed(0)
        out[name] = flops_per_image(load_open_clip(name, None, device="cpu")) / 1e9
    return out


def probe_job_seconds(fits: dict[str, int], probe: dict[str, Any], a: dict[str, Any]) -> float:
    """One model's probe job with its torch sweeps on the GPU (``fits``: per kind its distinct
    fits and the job's ``cells``, :func:`clipfair.grid.probe_fits`; ``probe``: params.yaml's
    section). Every C batch is taken to run all ``max_iter`` iterations: an upper bound."""
    evals = probe["max_iter"] * a["lbfgs_evals_per_iter"]
    batches = math.ceil(probe["n_c"] / C_CHUNK)
    per_row = 4 * a["embed_dim_real"] * a["probe_classes"] * evals  # X W and X^T G, per C
    n_sweep = a["fairface_train"] * (1 - probe["holdout"])
    flops = per_row * (n_sweep * probe["n_c"] + a["fairface_train"])  # sweep + refit
    fit_s = flops / (a["fp32_peak_flops"] * a["mfu_probe"])
    fit_s += (batches + 1) * evals * a["lbfgs_iter_overhead_s"]
    return (
        fits.get("linear_probe", 0) * fit_s
        + fits.get("sklearn_probe", 0) * a["sklearn_probe_s"]
        + fits["cells"] * a["cell_eval_s"]
    )


def project(
    stages: dict[str, dict[str, float]],
    jobs: dict[str, int],
    gflops: dict[str, float],
    a: dict[str, Any] = ASSUMPTIONS,
    probe_jobs: list[float] | None = None,
) -> list[Row]:
    """One row per rule of the real grid (``jobs``: its jobs per rule, from ``snakemake -n``;
    ``probe_jobs``: each probe job's seconds on a GPU, :func:`probe_job_seconds`; without
    them the probes are the rehearsal's CPU time scaled by the embedding width)."""
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
    # each model's head sets train alike: the jobs of an encoder cost its FLOPs
    heads = jobs.get("finetune", 0) / sum(REAL_ENCODERS.values())
    ft_flops = sum(
        n * heads * gflops[name] * 1e9
        * (a["finetune_epochs"] * a["fairface_train"] * (1 + 2 * a["trainable_fraction"])
           + a["fairface_val"])
        for name, n in REAL_ENCODERS.items()
    )  # fmt: skip
    ft_h = ft_flops / rate["finetune"] / 3600
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
    if probe_jobs:
        probe_h = sum(probe_jobs) / 3600
        rows.append(Row("cells_probes", len(probe_jobs), "gpu", probe_h, probe_h, 0.0,
                        f"FLOP model fp32, MFU {a['mfu_probe']:.0%}, each fit once"))  # fmt: skip
    else:
        width = a["embed_dim_real"] / a["embed_dim_measured"]
        basis = f"CPU: measured x {width:.0f} (embedding width)"
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


def probe_jobs_seconds(params: dict[str, Any], a: dict[str, Any] = ASSUMPTIONS) -> list[float]:
    """Each CLIP model's probe job on a GPU, from the grid's distinct fits."""
    from clipfair.grid import pairs, probe_fits

    fits = [probe_fits(params, b, d) for b, d in pairs(params)]
    return [probe_job_seconds(f, params["probe"], a) for f in fits if f["cells"]]


def job_seconds(rows: list[Row], a: dict[str, Any] = ASSUMPTIONS) -> dict[str, tuple[float, bool]]:
    """Per rule: one job's projected seconds and whether it runs on a GPU. Rules the table
    does not project get a stated share: Adience's download and ingest scale FairFace's by
    images, the VGG-Face weights download at the same rate, VGG-Face cells as the fine-tuned
    ones; bookkeeping rules take no time."""
    out = {r.rule: (r.hours * 3600 / r.jobs, r.device == "gpu") for r in rows if r.jobs}
    share = a["adience_images"] / a["fairface_images"]
    for rule, like, factor in (
        ("acquire_adience", "acquire", share),
        ("ingest_adience", "ingest", share),
        ("vggface_weights", "acquire", a["vggface_weights_mb"] / a["real_zip_mb"]),
        ("cells_vggface", "cells_finetuned", 1.0),
    ):
        if like in out:
            out.setdefault(rule, (out[like][0] * factor, False))
    return out


def encoder_of(label: str) -> str:
    """The image encoder of a job, from its wildcards as ``snakemake --dag`` labels them."""
    if label.startswith("ViT-L-14-336"):
        return "ViT-L-14-336"
    return "ViT-B-32" if "b32" in label else "ViT-L-14"


def critical_paths(
    seconds: dict[str, tuple[float, bool]], gflops: dict[str, float], gpus: list[int], preset: str
) -> str:
    """For each N of ``gpus``: the time until the table exists and the chain that sets it.
    The jobs of a rule whose cost follows the encoder (embed, finetune) share its projected
    time in proportion to their encoder's FLOPs; the others take the rule's mean."""
    from clipfair.bench.critical_path import describe_chain, planned_dag, schedule

    plan = planned_dag(".", preset)
    for job in plan.values():
        job.seconds, job.gpu = seconds.get(job.rule, (0.0, False))
    for rule in ("embed", "finetune"):
        mine = [j for j in plan.values() if j.rule == rule]
        weights = [gflops[encoder_of(j.label)] for j in mine]
        for job, weight in zip(mine, weights, strict=True):
            job.seconds *= weight * len(mine) / sum(weights)
    parts = []
    for n in gpus:
        jobs = copy.deepcopy(plan)
        chain = schedule(jobs, n)
        parts.append(f"{n} GPU(s): the table after {chain[-1].end / 3600:.2f} h; the chain "
                     f"that sets it:\n{describe_chain(chain)}")  # fmt: skip
    return "\n\n".join(parts)


def projection_report(stages: Path, out: Path, preset: str, gpus: list[int] | None = None) -> str:
    """``clipfair bench project``: project ``preset``'s grid from a rehearsal's stage table,
    write ``out`` and return the report (labelled a projection), with the time until the
    table on each number of ``gpus``."""
    from clipfair.bench.dag import planned_jobs
    from clipfair.bench.stages import markdown, write_csv
    from clipfair.config import load_params

    gflops = encoder_gflops(list(REAL_ENCODERS))
    stage_table, jobs = read_stages(stages), planned_jobs(".", preset)
    probes = probe_jobs_seconds(load_params("params.yaml", preset=preset))
    projected = project(stage_table, jobs, gflops, probe_jobs=probes)
    rows = as_dicts(projected)
    write_csv(out, rows)
    on_cpu = next(r for r in project(stage_table, jobs, gflops) if r.rule == "cells_probes")
    total = projected[-1].hours
    probe_share = next(r.hours for r in projected if r.rule == "cells_probes") / total
    per_image = ", ".join(f"{k} {v:.1f}" for k, v in gflops.items())
    assumptions = "; ".join(f"{k}={v}" for k, v in ASSUMPTIONS.items())
    paths = critical_paths(job_seconds(projected), gflops, gpus or [1], preset)
    return (
        f"PROJECTION (not measured): the {preset} grid\n\n{markdown(rows)}\n\n"
        f"probes: {probe_share:.1%} of the {total:.2f} job-hours on a GPU (on CPUs instead: "
        f"{on_cpu.hours:.2f} h, {on_cpu.basis})\n\n{paths}\n\n"
        f"encoder GFLOPs/image (flop counter): {per_image}\nassumptions: {assumptions}\n"
        f"wrote {out}"
    )
