"""Model steps of the pipeline: train, convert, embed, fine-tune, VGG-Face transfer.

Every flag comes from the rule (which reads params.yaml): none has a default here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from clipfair.cli.common import Add, backbone_flags, load_backbone
from clipfair.models.train_choices import TOKEN_EMBEDDING
from clipfair.runtime import set_threads


def cmd_train_clip(args: argparse.Namespace) -> None:
    from clipfair.models.train_clip import train_tiny_clip

    result = train_tiny_clip(
        args.index, args.images, args.model, args.config_dir, args.out, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        drop_attribute=args.drop_attribute, seed=args.seed,
        token_embedding=args.token_embedding, threads=args.threads,
    )  # fmt: skip
    print(f"trained {args.model} -> {args.out}: {result}")


def cmd_convert_hf(args: argparse.Namespace) -> None:
    from clipfair.models.hf_convert import convert_checkpoint

    out = convert_checkpoint(args.checkpoint, args.model_config, args.out)
    print(f"converted {args.checkpoint} -> transformers CLIPModel folder {out}")


def cmd_embed(args: argparse.Namespace) -> None:
    from clipfair.embed import embed_job
    from clipfair.methods.label_sets import get_label_set

    set_threads(args.threads)
    user_dir = args.label_set_dir or None
    names = [n for n in args.label_sets.split(",") if n]
    label_sets = {name: get_label_set(name, user_dir) for name in names}  # unknown: fail first
    splits = [tuple(map(Path, s.split(","))) for s in args.split or []]  # index,images,out
    done = embed_job(load_backbone(args), label_sets, args.text_dir, splits,
                     json.loads(args.settings))  # fmt: skip
    for name, (n, out) in done["label_sets"].items():
        print(f"embedded {n} prompts of {name} -> {out}")
    for out, meta in done["splits"]:
        print(f"embedded {meta['n']} images (dim {meta['dim']}) -> {out}")
        run = meta["run"]
        if run["images_encoded"]:
            print(
                f"{run['images_per_s']} img/s on {run['device']} ({run['precision']}), loader "
                f"wait {run['loader_wait_share']:.1%}, {run['resumed_shards']} shards resumed, "
                f"peak RSS {run['peak_rss_mb']:.0f} MiB"
            )


def cmd_finetune(args: argparse.Namespace) -> None:
    from clipfair.models.finetune import FinetuneConfig, FinetuneFiles, finetune_job

    set_threads(args.threads)
    settings = json.loads(args.settings)
    config = FinetuneConfig.from_params(settings, args.tasks.split(","), args.seed)
    files = FinetuneFiles(
        args.train_index, args.train_images, args.val_index, args.val_images,
        args.checkpoint_dir, args.out_model, args.out_scores, args.out_history,
    )  # fmt: skip
    backbone = load_backbone(args)
    backbone.configure_inference(settings["precision"], channels_last=False)
    provenance = {
        "backbone": json.loads(args.backbone),
        "datasource": json.loads(args.datasource),
        "checkpoint": args.checkpoint,
    }
    finetune_job(backbone, config, files, provenance, settings)
    print(f"fine-tuned {args.tasks} heads for {config.epochs} epochs -> {args.out_model}")


def cmd_vggface_transfer(args: argparse.Namespace) -> None:
    from clipfair.models.vggface_gender import TransferSettings, transfer_job

    set_threads(args.threads)
    out = transfer_job(
        args.weights, (args.train_index, args.train_images), (args.val_index, args.val_images),
        TransferSettings.from_params(json.loads(args.settings)), args.out_model,
        args.out_history, [tuple(map(Path, s.split(","))) for s in args.score or []], args.seed,
    )  # fmt: skip
    print(f"trained on {out['train_faces']} faces ({out['device']}) -> {args.out_model}")
    for path, n, reused in out["scored"]:
        how = " (the base's features from training)" if reused else ""
        print(f"scored {n} faces -> {path}{how}")


def cmd_vggface_weights(args: argparse.Namespace) -> None:
    from clipfair.models.vggface_weights import make_weights

    out = make_weights(json.loads(args.datasource), args.out, args.archive_dir, args.lock or None)
    print(f"VGG-Face weights -> {out}")


def _required(p: argparse.ArgumentParser, *flags: str, type=str) -> None:
    for flag in flags:
        p.add_argument(flag, required=True, type=type)


def register(add: Add) -> None:
    p = add("train-clip", cmd_train_clip, "train the demo's tiny open_clip model contrastively")
    _required(p, "--index", "--images", "--config-dir", "--out")
    p.add_argument("--model", required=True, help="open_clip model name")
    _required(p, "--epochs", "--batch-size", "--seed", "--threads", type=int)
    _required(p, "--lr", "--weight-decay", "--drop-attribute", type=float)
    p.add_argument("--token-embedding", required=True, choices=TOKEN_EMBEDDING)

    p = add("convert-hf", cmd_convert_hf, "open_clip checkpoint -> transformers CLIPModel folder")
    p.add_argument("--checkpoint", required=True, help="open_clip .safetensors state dict")
    p.add_argument("--model-config", required=True, help="the open_clip model config JSON")
    p.add_argument("--out", required=True, type=Path)

    p = add("embed", cmd_embed, "one model: its prompt embeddings, then every split's images")
    backbone_flags(p)
    p.add_argument("--split", action="append", help="INDEX,IMAGES,OUT.npy of one split (repeat)")
    p.add_argument("--settings", required=True, help="the embed: section of params.yaml (JSON)")
    p.add_argument("--label-sets", required=True, help="comma-separated label set names")
    p.add_argument("--label-set-dir", required=True, help="your label set folder ('' for none)")
    p.add_argument("--text-dir", required=True, type=Path, help="writes <label_set>.parquet/.json")

    p = add("finetune", cmd_finetune, "fine-tune heads on a vision tower; score val")
    backbone_flags(p)
    p.add_argument("--tasks", required=True, help="comma-separated heads: age,gender,race")
    p.add_argument("--settings", required=True, help="the finetune: section of params (JSON)")
    _required(p, "--train-index", "--train-images", "--val-index", "--val-images", type=Path)
    p.add_argument("--checkpoint-dir", required=True, type=Path, help="per-epoch checkpoints")
    p.add_argument("--out-model", required=True, type=Path, help="model.safetensors + README")
    p.add_argument("--out-scores", required=True, type=Path, help="val scores per task (parquet)")
    p.add_argument("--out-history", required=True, type=Path, help="per-epoch losses (JSON)")
    p.add_argument("--seed", type=int, required=True)

    p = add("vggface-transfer", cmd_vggface_transfer, "VGG-Face transfer on an ingested dataset")
    p.add_argument("--weights", required=True, help="VGG-Face .t7")
    _required(p, "--train-index", "--train-images", "--val-index", "--val-images", type=Path)
    p.add_argument("--settings", required=True, help="the vggface: section of params (JSON)")
    _required(p, "--out-model", "--out-history", type=Path)
    _required(p, "--seed", "--threads", type=int)
    p.add_argument("--score", action="append", help="INDEX,IMAGES,OUT.parquet to score (repeat)")

    p = add("vggface-weights", cmd_vggface_weights, "VGG-Face .t7: download + unpack, or init")
    p.add_argument("--datasource", required=True, help="datasource entry of params (JSON)")
    p.add_argument("--out", required=True, type=Path, help="the .t7 to write")
    p.add_argument("--archive-dir", required=True, type=Path, help="where the download goes")
    p.add_argument("--lock", required=True, help="downloads lock file ('' for none)")
