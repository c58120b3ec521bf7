"""Data steps: acquire and ingest (every flag from the rules), and the demo release writers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from clipfair.cli.common import Add


def cmd_demo_data(args: argparse.Namespace) -> None:
    from clipfair.data.demo import write_demo_release

    counts = write_demo_release(
        args.out, args.n_train, args.n_val, args.image_size, args.seed, args.ambiguous
    )
    print(f"wrote demo release to {args.out}: {counts}")


def cmd_demo_adience(args: argparse.Namespace) -> None:
    from clipfair.data.adience import write_demo_adience

    info = write_demo_adience(args.out, args.users, args.faces_per_user, args.image_size, args.seed)
    print(f"wrote {info['faces']} faces of {info['users']} users in Adience's layout -> {args.out}")


def cmd_acquire(args: argparse.Namespace) -> None:
    from clipfair.data.sources import fetch

    out = fetch(json.loads(args.source), args.out, args.format, args.lock or None)
    print(f"{args.format} release ready: {out}")


def cmd_ingest(args: argparse.Namespace) -> None:
    from clipfair.data.ingest import ingest_split

    index = ingest_split(
        args.raw, args.split, args.out_index, args.out_images, args.image_size, args.threads,
        on_bad_rows=args.on_bad_rows, expect=json.loads(args.expect) or None,
        report=args.report, on_count_mismatch=args.on_count_mismatch,
    )  # fmt: skip
    print(f"ingested {len(index)} {args.split} images into {args.out_images}")


def cmd_ingest_adience(args: argparse.Namespace) -> None:
    from clipfair.data.adience import ingest_adience

    folds = [int(f) for f in args.val_folds.split(",")]
    index = ingest_adience(
        args.raw, args.split, folds, args.out_index, args.out_images, args.image_size,
        args.threads, on_bad_rows=args.on_bad_rows, report=args.report,
        expect=json.loads(args.expect) or None,
    )  # fmt: skip
    print(f"ingested {len(index)} Adience {args.split} faces into {args.out_images}")


def cmd_ingest_utkface(args: argparse.Namespace) -> None:
    from clipfair.data.utkface import ingest_utkface

    index = ingest_utkface(
        args.raw, args.split, args.out_index, args.out_images, args.image_size, args.threads,
        seed=args.split_seed, on_bad_rows=args.on_bad_rows, report=args.report,
        expect=json.loads(args.expect) or None,
    )  # fmt: skip
    print(f"ingested {len(index)} UTKFace {args.split} faces into {args.out_images}")


def _split_flags(p: argparse.ArgumentParser, raw_help: str) -> None:
    p.add_argument("--raw", required=True, type=Path, help=raw_help)
    p.add_argument("--split", required=True, choices=["train", "val"])
    p.add_argument("--out-index", required=True, type=Path)
    p.add_argument("--out-images", required=True, type=Path)
    p.add_argument("--image-size", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--on-bad-rows", required=True, choices=["fail", "skip"])


def register(add: Add) -> None:
    # tools for users (no rule runs them: the demo sources run inside `acquire`); their
    # defaults are those of the demo preset's datasets in params.yaml
    p = add("demo-data", cmd_demo_data, "write the synthetic FairFace-format demo release")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--n-train", type=int, default=4000, help="default: the demo's 4000")
    p.add_argument("--n-val", type=int, default=1000, help="default: the demo's 1000")
    p.add_argument("--image-size", type=int, default=64, help="default: the demo's 64")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ambiguous", type=float, default=0.0, help="share of weak-gender faces")

    p = add("demo-adience", cmd_demo_adience, "write a synthetic release in Adience's layout")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--users", type=int, default=40)
    p.add_argument("--faces-per-user", type=int, default=12, help="default: the demo's 12")
    p.add_argument("--image-size", type=int, default=64, help="default: the demo's 64")
    p.add_argument("--seed", type=int, default=0)

    p = add("acquire", cmd_acquire, "get a release (demo, local folder, or download)")
    p.add_argument("--source", required=True, help="dataset source entry of params.yaml (JSON)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--format", required=True, choices=["fairface", "adience", "utkface"])
    p.add_argument("--lock", required=True, help="downloads lock file (sizes, sha256; '' for none)")

    p = add("ingest", cmd_ingest, "validate a release split; write its index and image cache")
    _split_flags(p, "folder with images.zip and the CSVs")
    p.add_argument("--expect", required=True, help='JSON {"rows": N, "gender": {...}, ...}')
    p.add_argument(
        "--on-count-mismatch",
        required=True,
        choices=["fail", "note"],
        help="counts that differ from --expect: fail, or note them in the report",
    )
    p.add_argument("--report", type=Path, help="CSV of rejected rows (written when not failing)")

    p = add("ingest-utkface", cmd_ingest_utkface, "UTKFace archive -> index and image cache")
    _split_flags(p, "the release's UTKFace.tar.gz")
    p.add_argument("--split-seed", type=int, required=True, help="seed of the 80/20 split")
    p.add_argument("--expect", required=True, help='JSON {"rows": N, "gender": {...}}')
    p.add_argument("--report", type=Path, required=True, help="CSV of rejected rows")

    p = add("ingest-adience", cmd_ingest_adience, "Adience folds -> index and image cache")
    _split_flags(p, "fold files + aligned/ folder")
    p.add_argument("--val-folds", required=True, help="comma-separated validation folds")
    p.add_argument("--expect", required=True, help='JSON {"rows": N, "gender": {...}}')
    p.add_argument("--report", type=Path, required=True, help="CSV of dropped/rejected rows")
