"""Command line: ``clipfair <subcommand>``. A thin layer over functions that tests call directly.

Every Snakemake rule calls exactly one of these subcommands with explicit paths.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from clipfair import __version__

log = logging.getLogger("clipfair")


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(max(1, n))


def cmd_validate(args: argparse.Namespace) -> None:
    from clipfair.config import cells, load_params

    params = load_params(args.params, args.schema)
    print(f"{args.params}: valid; {len(cells(params))} cells")


def cmd_demo_data(args: argparse.Namespace) -> None:
    from clipfair.data.demo import write_demo_release

    counts = write_demo_release(
        args.out, args.n_train, args.n_val, args.image_size, args.seed, args.ambiguous
    )
    print(f"wrote demo release to {args.out}: {counts}")


def cmd_acquire(args: argparse.Namespace) -> None:
    from clipfair.data.acquire import acquire, acquire_adience

    if args.format == "adience":
        acquire_adience(json.loads(args.source), args.out)
        print(f"Adience release ready in {args.out}")
        return
    files = acquire(json.loads(args.source), args.out, args.lock or None)
    print(f"release ready in {args.out}: {[f.name for f in files]}")


def cmd_ingest(args: argparse.Namespace) -> None:
    from clipfair.data.ingest import ingest_split

    index = ingest_split(
        args.raw,
        args.split,
        args.out_index,
        args.out_images,
        args.image_size,
        args.threads,
        on_bad_rows=args.on_bad_rows,
        expect=json.loads(args.expect) or None,
        report=args.report,
        on_count_mismatch=args.on_count_mismatch,
    )
    print(f"ingested {len(index)} {args.split} images into {args.out_images}")


def cmd_ingest_adience(args: argparse.Namespace) -> None:
    from clipfair.data.adience import ingest_adience

    index = ingest_adience(
        args.raw,
        args.split,
        [int(f) for f in args.val_folds.split(",")],
        args.out_index,
        args.out_images,
        args.image_size,
        args.threads,
        on_bad_rows=args.on_bad_rows,
        report=args.report,
        expect=json.loads(args.expect) or None,
    )
    print(f"ingested {len(index)} Adience {args.split} faces into {args.out_images}")


def cmd_train_clip(args: argparse.Namespace) -> None:
    from clipfair.models.train_clip import train_tiny_clip

    result = train_tiny_clip(
        args.index,
        args.images,
        args.model,
        args.config_dir,
        args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        drop_attribute=args.drop_attribute,
        captions=args.captions,
        seed=args.seed,
        threads=args.threads,
    )
    print(f"trained {args.model} -> {args.out}: {result}")


def cmd_convert_hf(args: argparse.Namespace) -> None:
    from clipfair.models.hf_convert import convert_checkpoint

    out = convert_checkpoint(args.checkpoint, args.model_config, args.out)
    print(f"converted {args.checkpoint} -> transformers CLIPModel folder {out}")


def _backbone(args: argparse.Namespace):
    from clipfair.models.backbone import load_backbone, pick_device

    return load_backbone(
        json.loads(args.backbone),
        json.loads(args.datasource),
        checkpoint=args.checkpoint or None,
        cache_dir=args.cache_dir or None,
        device=pick_device(args.device),
    )


def cmd_embed(args: argparse.Namespace) -> None:
    import shutil as _shutil

    from clipfair.embed import EmbedSettings, embed_images, embed_label_set
    from clipfair.methods.label_sets import get_label_set

    _threads(args.threads)
    names = [n for n in args.label_sets.split(",") if n]
    user_dir = args.label_set_dir or None
    label_sets = {name: get_label_set(name, user_dir) for name in names}  # unknown: fail first
    splits = [s.split(",") for s in args.split or []]  # index,images,out
    embed = json.loads(args.settings)
    backbone = _backbone(args)
    backbone.configure_inference(embed["precision"], embed["channels_last"], embed["compile"])
    for name, label_set in label_sets.items():
        out = args.text_dir / f"{name}.parquet"
        embed_label_set(backbone, name, label_set, out)
        print(f"embedded {sum(map(len, label_set.prompts.values()))} prompts of {name} -> {out}")
    for index, images, out in splits:
        # shards stay until every split of the job is done: a kill during a later split
        # (after which Snakemake deletes all of the job's outputs) redoes no finished split
        meta = embed_images(
            backbone, index, images, out, EmbedSettings.from_params(embed), keep_shards=True
        )
        run = meta["run"]
        print(f"embedded {meta['n']} images (dim {meta['dim']}) -> {out}")
        if run["images_encoded"]:
            print(
                f"{run['images_per_s']} img/s on {run['device']} ({run['precision']}), loader "
                f"wait {run['loader_wait_share']:.1%}, {run['resumed_shards']} shards resumed, "
                f"peak RSS {run['peak_rss_mb']:.0f} MiB"
            )
    for _, _, out in splits:
        _shutil.rmtree(f"{out}.shards", ignore_errors=True)


def cmd_prompts(args: argparse.Namespace) -> None:
    from clipfair.methods.label_sets import LabelSetError, available, get_label_set

    try:
        if args.name is None:
            for name in available(args.label_set_dir):
                ls = get_label_set(name, args.label_set_dir)
                counts = ", ".join(f"{c} {len(p)}" for c, p in ls.prompts.items())
                print(f"{name} ({ls.task}): {counts}")
            return
        ls = get_label_set(args.name, args.label_set_dir)
    except LabelSetError as exc:
        sys.exit(f"error: {exc}")
    if args.json:
        record = {"label_set": args.name, "task": ls.task, "file": str(ls.path)}
        record.update(prompts=ls.prompts, categories=ls.categories, excluded=ls.excluded)
        print(json.dumps(record, indent=2))
        return
    print(f"{args.name}: {ls.task}, {sum(map(len, ls.prompts.values()))} prompts ({ls.path})")
    for cls, prompts in ls.prompts.items():
        print(f"{cls}:")
        print("\n".join(f"  {p}" for p in prompts))
    for category, members in ls.categories.items():
        print(f"category {category}: {', '.join(members)}")
    if ls.excluded:
        print("excluded from prediction: " + "; ".join(ls.excluded))


def cmd_finetune(args: argparse.Namespace) -> None:
    import pandas as pd

    from clipfair.image_cache import CacheReader
    from clipfair.io import write_json, write_parquet
    from clipfair.labels import score_columns
    from clipfair.models.finetune import FinetuneConfig, finetune, predict_scores, save_model

    _threads(args.threads)
    opts = json.loads(args.settings)
    tasks = [t for t in args.tasks.split(",") if t]
    backbone = _backbone(args)
    backbone.configure_inference(opts.get("precision", "auto"), channels_last=False)
    config = FinetuneConfig(
        tasks=tasks,
        epochs=opts["epochs"],
        lr=opts["lr"],
        weight_decay=opts["weight_decay"],
        batch_size=opts["batch_size"],
        trainable_blocks=opts["trainable_blocks"],
        seed=args.seed,
    )
    from clipfair.digests import file_sha256

    train_index = pd.read_parquet(args.train_index)
    model, history = finetune(
        backbone,
        train_index,
        CacheReader(args.train_images),
        config,
        args.checkpoint_dir,
        inputs={
            "train_index": file_sha256(args.train_index),
            "train_images": file_sha256(args.train_images),
        },
    )
    provenance = {
        "backbone": json.loads(args.backbone),
        "datasource": json.loads(args.datasource),
        "checkpoint": args.checkpoint,
    }
    save_model(model, args.out_model, provenance, backbone)
    val_index = pd.read_parquet(args.val_index)
    scores = predict_scores(model, backbone, CacheReader(args.val_images))
    frame = pd.DataFrame({"file": val_index["file"]})
    for task, s in scores.items():
        for col, values in zip(score_columns(task), s.T, strict=True):
            frame[col] = values
    write_parquet(args.out_scores, frame)
    write_json(args.out_history, {"tasks": tasks, "config": opts, "history": history})
    shutil.rmtree(args.checkpoint_dir)  # done: the per-epoch checkpoints were only for resuming
    print(f"fine-tuned {','.join(tasks)} heads for {config.epochs} epochs -> {args.out_model}")


def cmd_predict(args: argparse.Namespace) -> None:
    from clipfair.models.backbone import pick_device
    from clipfair.models.finetune import load_model
    from clipfair.predict import Predictor, as_records, render_predictions

    _threads(args.threads)
    model, backbone = load_model(args.model, pick_device(args.device))
    predictor = Predictor(model, backbone, detect=args.detect, padding=args.padding)
    results = predictor.predict(args.paths)
    if args.json:
        print(json.dumps(as_records(results), indent=2))
    else:
        render_predictions(results)
    failed = [r for r in results if r.status == "error"]
    if failed:  # every other file was still predicted and printed
        print(f"{len(failed)} of {len(results)} inputs failed (status error)", file=sys.stderr)
        sys.exit(1)


def cmd_run_cells(args: argparse.Namespace) -> None:
    from clipfair.methods.runner import run_cells

    _threads(args.threads)
    plan = json.loads(Path(args.plan[1:]).read_text() if args.plan.startswith("@") else args.plan)
    lines = run_cells(plan, args.seed, json.loads(args.bootstrap))
    print(f"ran and evaluated {len(lines)} cells")


def cmd_summarize(args: argparse.Namespace) -> None:
    from clipfair.metrics.summary import load_cells, render_table, write_summary

    df = write_summary(load_cells(args.cells), args.out_dir)
    render_table(df, args.headline, title=f"summary ({len(df)} cells)")


def cmd_reproduce(args: argparse.Namespace) -> None:
    from clipfair.metrics.reproduction import render_reproduction, write_reproduction

    if not args.summary.is_file():
        sys.exit(f"{args.summary} not found: run the pipeline first (or pass --summary)")
    report = write_reproduction(args.summary, args.out, args.topk)
    render_reproduction(report, all_rows=args.all)
    print(f"wrote {args.out}")


def cmd_compare(args: argparse.Namespace) -> None:
    from clipfair.io import atomic_path
    from clipfair.metrics.compare import compare_to_references, render_comparison

    predictions = dict(pair.split("=", 1) for pair in args.cell)
    df = compare_to_references(
        json.loads(args.references), predictions, args.n_resamples, args.seed, args.alpha
    )
    with atomic_path(args.out) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    render_comparison(df, alpha=args.alpha)


def cmd_topk_sweep(args: argparse.Namespace) -> None:
    from clipfair.io import atomic_path
    from clipfair.methods.label_sets import get_label_set
    from clipfair.metrics.topk_sweep import topk_sweep

    embeddings = dict(pair.split("=", 1) for pair in args.embedding or [])
    texts = {}
    for pair in args.text or []:
        key, path = pair.split("=", 1)
        model, label_set = key.rsplit(":", 1)
        texts[(model, label_set)] = path
    user_dir = args.label_set_dir or None
    task_of = {name: get_label_set(name, user_dir).task for _, name in texts}
    df = topk_sweep(
        args.val_index,
        embeddings,
        texts,
        task_of,
        args.k_max,
        args.n_resamples,
        args.seed,
        args.alpha,
    )
    with atomic_path(args.out) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    print(f"k analysis: {len(df)} rows ({df['model'].nunique()} models) -> {args.out}")


def cmd_plots(args: argparse.Namespace) -> None:
    import pandas as pd

    from clipfair.metrics.summary import load_cells
    from clipfair.report.plots import write_plots

    references = json.loads(args.references)
    predictions = dict(pair.split("=", 1) for pair in args.reference_predictions or [])
    cells = load_cells(args.cells)
    written = write_plots(cells, references, predictions, pd.read_csv(args.topk), args.out_dir)
    print(f"wrote {len(written)} plot files to {args.out_dir}")


def cmd_table(args: argparse.Namespace) -> None:
    import pandas as pd

    from clipfair.metrics.summary import render_table

    if not Path(args.csv).is_file():
        sys.exit(
            f"{args.csv} not found: run the pipeline first (make demo / snakemake --cores all)"
        )
    render_table(pd.read_csv(args.csv), args.headline, title=str(args.csv))
    comparison = Path(args.csv).with_name("comparison.csv")
    if comparison.is_file():
        from clipfair.metrics.compare import render_comparison

        render_comparison(pd.read_csv(comparison), title=str(comparison))


def cmd_bench_embed(args: argparse.Namespace) -> None:
    from clipfair.bench.embed import format_embed_bench, run_embed_bench
    from clipfair.embed import EmbedSettings
    from clipfair.models.backbone import pick_device

    _threads(args.threads)
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    model = args.model or ("ViT-L-14" if cuda else "ViT-B-32")
    n = args.n or (8192 if cuda else 256)
    out = args.out or Path("metrics/bench") / f"embed_{model}_{device.type}.json"
    result = run_embed_bench(
        model=model,
        pretrained=args.pretrained,
        config_dir=args.config_dir,
        n=n,
        n_naive=args.n_naive or min(n, 1024 if cuda else 64),
        device=device,
        settings=EmbedSettings(args.batch_size, args.workers, args.shard_size),
        precision=args.precision,
        compile=args.compile,
        out=out,
    )
    print(format_embed_bench(result))
    print(f"-> {out}")


def cmd_bench_probe(args: argparse.Namespace) -> None:
    from clipfair.bench.probe import format_probe_bench, run_probe_bench
    from clipfair.models.backbone import pick_device

    _threads(args.threads)
    if args.profile:
        from clipfair.bench.probe import format_probe_profile, profile_probe_bench

        p = profile_probe_bench(n_train=args.n_train, dim=args.dim, n_classes=args.classes,
                                n_c=args.n_c, threads=args.threads)  # fmt: skip
        print(format_probe_profile(p))
        return
    device = pick_device(args.device)
    out = args.out or Path("metrics/bench") / f"probe_{device.type}.json"
    result = run_probe_bench(
        n_train=args.n_train,
        n_val=args.n_val,
        dim=args.dim,
        n_classes=args.classes,
        n_c=args.n_c,
        device=device,
        out=out,
    )
    print(format_probe_bench(result))
    print(f"-> {out}")


def cmd_bench_stages(args: argparse.Namespace) -> None:
    from clipfair.bench.stages import disk_usage, markdown, stage_rows, write_csv

    root = Path(args.run)
    rows = stage_rows(root / "benchmarks")
    if not rows:
        sys.exit(f"no benchmark files under {root / 'benchmarks'}: run the pipeline there first")
    disk = disk_usage([root / d for d in args.disk])
    write_csv(args.out, rows)
    write_csv(args.out.with_name("disk.csv"), disk)
    print(markdown(rows) + "\n\n" + markdown(disk))
    print(f"\nwrote {args.out} and {args.out.with_name('disk.csv')}")


def cmd_bench_project(args: argparse.Namespace) -> None:
    from clipfair.bench.dag import planned_jobs
    from clipfair.bench.projection import (
        ASSUMPTIONS,
        REAL_ENCODERS,
        as_dicts,
        encoder_gflops,
        project,
        read_stages,
    )
    from clipfair.bench.stages import markdown, write_csv

    if not args.stages.is_file():
        sys.exit(f"{args.stages} not found: run the scale preset, then clipfair bench-stages")
    jobs = planned_jobs(".", args.preset)
    gflops = encoder_gflops(list(REAL_ENCODERS))
    rows = as_dicts(project(read_stages(args.stages), jobs, gflops))
    write_csv(args.out, rows)
    print(f"PROJECTION (not measured): the {args.preset} grid on one GPU\n")
    print(markdown(rows))
    print(
        "\nencoder GFLOPs/image (flop counter): "
        + ", ".join(f"{k} {v:.1f}" for k, v in gflops.items())
    )
    print("assumptions: " + "; ".join(f"{k}={v}" for k, v in ASSUMPTIONS.items()))
    print(f"wrote {args.out}")


def cmd_slurm_plan(args: argparse.Namespace) -> None:
    from clipfair.bench.slurm_plan import slurm_plan
    from clipfair.bench.stages import markdown

    rows = slurm_plan(args.preset, args.profile)
    print(f"Slurm requests of the {args.preset} grid ({args.profile}):\n")
    print(markdown(rows))
    total = rows[-1]
    print(
        f"\n{total['jobs']} jobs, {total['sbatch']} sbatch submissions (local rules run beside "
        "Snakemake)"
    )


def cmd_bench_cache_read(args: argparse.Namespace) -> None:
    from clipfair.bench.cache_read import run_cache_read_bench

    r = run_cache_read_bench(args.images, args.batch)
    for how, m in r.items():
        print(f"  {how:5s}: {m['rows']} rows in {m['seconds']:.1f} s, peak RSS "
              f"{m['peak_rss_mb']:.0f} MiB")  # fmt: skip
    ratio = r["mmap"]["peak_rss_mb"] / r["pread"]["peak_rss_mb"]
    print(f"  peak RSS: memory map / pread = {ratio:.0f}x")


def cmd_bench_grid(args: argparse.Namespace) -> None:
    from clipfair.bench.grid import read_jobs, render_grid, summarize_jobs

    root = Path(args.run)
    jobs = read_jobs(root / "benchmarks", root / "logs")
    if not jobs:
        sys.exit(f"no benchmark files under {root / 'benchmarks'}: run the pipeline there first")
    summary = summarize_jobs(jobs)
    render_grid(summary, f"{root}: {summary['total']['jobs']} jobs")
    if args.json:
        from clipfair.io import write_json

        write_json(args.json, summary)


def cmd_vggface(args: argparse.Namespace) -> None:
    from clipfair.models import vggface_gender as vg

    _threads(args.threads)
    folds = tuple(int(f) for f in args.val_folds.split(","))
    if args.verb == "train":
        out = vg.train(
            args.weights,
            args.input,
            args.output,
            epochs=args.epochs,
            batch_train=args.b1,
            batch_val=args.b2,
            mode=args.memory,
            val_folds=folds,
            seed=args.seed,
        )
        print(
            f"trained on {out['train_faces']} faces, validated on {out['val_faces']} -> "
            f"{args.output}"
        )
    elif args.verb == "evaluate":
        for split, s in vg.evaluate(args.model, args.input, args.b2, folds).items():
            print(f"{split}: {s['n']} faces, loss {s['bce']:.4f}, accuracy {s['accuracy']:.4f}")
    elif args.verb == "classify":
        label, value = vg.classify(args.model, args.input)
        print(f"output class is {label}. (sigmoid value={value})")
    elif args.verb == "init":
        from clipfair.models.vggface_weights import write_random_t7

        write_random_t7("tiny" if args.tiny else "full", args.seed, args.output)
        print(f"random-init VGG-Face -> {args.output}")


def cmd_vggface_transfer(args: argparse.Namespace) -> None:
    from clipfair.io import write_json
    from clipfair.models import vggface_gender as vg
    from clipfair.models.backbone import pick_device
    from clipfair.models.vggface import load_t7

    _threads(args.threads)
    s = json.loads(args.settings)
    device = str(pick_device(s["device"]))
    data = {
        split: vg.FaceBatches.from_cache(index, images, s["memory"])
        for split, index, images in (
            ("train", args.train_index, args.train_images),
            ("val", args.val_index, args.val_images),
        )
    }
    out = vg.fit(
        load_t7(args.weights),
        data,
        args.out_model,
        epochs=s["epochs"],
        batch_train=s["batch_train"],
        batch_val=s["batch_val"],
        keep_layers=s["keep_layers"],
        hidden=s["hidden"],
        lr=s["lr"],
        seed=args.seed,
        device=device,
    )
    write_json(args.out_history, out)
    print(f"trained on {out['train_faces']} faces ({device}) -> {args.out_model}")
    for spec in args.score or []:  # the val split of each dataset a cell predicts
        index, images, scores = spec.split(",")
        df = vg.score_cache(args.out_model, index, images, scores, s["batch_val"], device)
        print(f"scored {len(df)} faces -> {scores}")


def cmd_vggface_weights(args: argparse.Namespace) -> None:
    from clipfair.models.vggface_weights import make_weights

    out = make_weights(json.loads(args.datasource), args.out, args.archive_dir, args.lock or None)
    print(f"VGG-Face weights -> {out}")


def cmd_demo_adience(args: argparse.Namespace) -> None:
    from clipfair.data.adience import write_demo_adience

    info = write_demo_adience(args.out, args.users, args.faces_per_user, args.image_size, args.seed)
    print(f"wrote {info['faces']} faces of {info['users']} users in Adience's layout -> {args.out}")


def _backbone_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbone", required=True, help="backbone entry of params.yaml (JSON)")
    p.add_argument("--datasource", required=True, help="datasource entry of params.yaml (JSON)")
    p.add_argument("--checkpoint", default="", help="trained weights overriding 'pretrained'")
    p.add_argument("--cache-dir", default="", help="weight cache folder")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clipfair", description="Benchmark CLIP-family models on FairFace attributes."
    )
    parser.add_argument("--version", action="version", version=f"clipfair {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], None], help: str):
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("validate-config", cmd_validate, "validate a params file against the schema")
    p.add_argument("params", nargs="?", default="params.yaml")
    p.add_argument("--schema", default="workflow/schemas/params.schema.yaml")

    p = add("demo-data", cmd_demo_data, "write the synthetic FairFace-format demo release")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--n-val", type=int, default=1000)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ambiguous", type=float, default=0.0, help="share of weak-gender faces")

    p = add("acquire", cmd_acquire, "get a release (demo, local folder, or download)")
    p.add_argument("--source", required=True, help="dataset source entry of params.yaml (JSON)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--format", default="fairface", choices=["fairface", "adience"])
    p.add_argument("--lock", default="", help="downloads lock file (sizes, sha256; '' for none)")

    p = add("ingest", cmd_ingest, "validate a release split; write its index and image cache")
    p.add_argument("--raw", required=True, type=Path, help="folder with images.zip and the CSVs")
    p.add_argument("--split", required=True, choices=["train", "val"])
    p.add_argument("--out-index", required=True, type=Path)
    p.add_argument("--out-images", required=True, type=Path)
    p.add_argument("--image-size", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--on-bad-rows", default="fail", choices=["fail", "skip"])
    p.add_argument("--expect", default="{}", help='JSON {"rows": N, "gender": {...}, ...}')
    p.add_argument(
        "--on-count-mismatch",
        default="fail",
        choices=["fail", "note"],
        help="counts that differ from --expect: fail, or note them in the report",
    )
    p.add_argument("--report", type=Path, help="CSV of rejected rows (written when not failing)")

    p = add("ingest-adience", cmd_ingest_adience, "Adience folds -> index and image cache")
    p.add_argument("--raw", required=True, type=Path, help="fold files + aligned/ folder")
    p.add_argument("--split", required=True, choices=["train", "val"])
    p.add_argument("--val-folds", default="4", help="comma-separated validation folds")
    p.add_argument("--out-index", required=True, type=Path)
    p.add_argument("--out-images", required=True, type=Path)
    p.add_argument("--image-size", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--on-bad-rows", default="fail", choices=["fail", "skip"])
    p.add_argument("--expect", default="{}", help='JSON {"rows": N, "gender": {...}}')
    p.add_argument("--report", type=Path, required=True, help="CSV of dropped/rejected rows")

    p = add("train-clip", cmd_train_clip, "train the demo's tiny open_clip model contrastively")
    p.add_argument("--index", required=True)
    p.add_argument("--images", required=True)
    p.add_argument("--model", required=True, help="open_clip model name")
    p.add_argument("--config-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--drop-attribute", type=float, default=0.3)
    p.add_argument("--captions", default="full", choices=["full", "no_age"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)

    p = add("convert-hf", cmd_convert_hf, "open_clip checkpoint -> transformers CLIPModel folder")
    p.add_argument("--checkpoint", required=True, help="open_clip .safetensors state dict")
    p.add_argument("--model-config", required=True, help="the open_clip model config JSON")
    p.add_argument("--out", required=True, type=Path)

    p = add("embed", cmd_embed, "one model: its prompt embeddings, then every split's images")
    _backbone_args(p)
    p.add_argument("--split", action="append", help="INDEX,IMAGES,OUT.npy of one split (repeat)")
    p.add_argument("--settings", required=True, help="the embed: section of params.yaml (JSON)")
    p.add_argument("--label-sets", required=True, help="comma-separated label set names")
    p.add_argument("--label-set-dir", required=True, help="your label set folder ('' for none)")
    p.add_argument("--text-dir", required=True, type=Path, help="writes <label_set>.parquet/.json")

    p = add("prompts", cmd_prompts, "print a zero-shot label set: class -> prompts")
    p.add_argument("name", nargs="?", help="label set name (none: list every set)")
    p.add_argument("--json", action="store_true", help="JSON instead of text")
    p.add_argument("--label-set-dir", help="your own label set folder (searched first)")

    p = add("finetune", cmd_finetune, "fine-tune heads on a vision tower; score val")
    _backbone_args(p)
    p.add_argument("--tasks", required=True, help="comma-separated heads: age,gender,race")
    p.add_argument("--settings", required=True, help="the finetune: section of params (JSON)")
    p.add_argument("--train-index", required=True)
    p.add_argument("--train-images", required=True)
    p.add_argument("--val-index", required=True)
    p.add_argument("--val-images", required=True)
    p.add_argument("--checkpoint-dir", required=True, help="per-epoch checkpoints (resume)")
    p.add_argument("--out-model", required=True, help="model.safetensors (seed-000 loadable)")
    p.add_argument("--out-scores", required=True, help="val scores per task (parquet)")
    p.add_argument("--out-history", required=True, help="per-epoch losses (JSON)")
    p.add_argument("--seed", type=int, default=0)

    p = add("predict", cmd_predict, "age, gender, race of the faces in photos (fine-tuned model)")
    p.add_argument("model", help="a fine-tuned model.safetensors (data/finetuned/...)")
    p.add_argument("paths", nargs="+", help="image files or folders")
    p.add_argument(
        "--no-detect",
        dest="detect",
        action="store_false",
        help="the images are face crops already (FairFace-style): no MTCNN",
    )
    p.add_argument("--padding", type=float, default=0.25, help="crop margin, FairFace: 0.25")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=2)

    p = add("run-cells", cmd_run_cells, "run and evaluate a batch of cells of one model")
    p.add_argument(
        "--plan",
        required=True,
        help="JSON list (or @file) of cells: cell, spec, data, options, inputs, outputs",
    )
    p.add_argument("--bootstrap", required=True, help="the bootstrap: section of params (JSON)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)

    p = add("summarize", cmd_summarize, "aggregate cell metrics into summary.json/.csv")
    p.add_argument("cells", nargs="+")
    p.add_argument("--out-dir", required=True, type=Path)
    p.add_argument("--headline", default="accuracy")

    p = add("reproduce", cmd_reproduce, "published numbers beside this run's (reproduction.csv)")
    p.add_argument("--summary", type=Path, default=Path("metrics/summary.csv"))
    p.add_argument("--topk", type=Path, default=Path("metrics/plots/topk.csv"))
    p.add_argument("--out", type=Path, default=Path("metrics/reproduction.csv"))
    p.add_argument("--all", action="store_true", help="also list rows not in this grid")

    p = add("compare", cmd_compare, "paired comparison of every cell with its task's reference")
    p.add_argument("--references", required=True, help='JSON {task: "backbone/datasource/method"}')
    p.add_argument("--cell", action="append", required=True, help="backbone/datasource/method=PATH")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--n-resamples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--alpha", type=float, default=0.05)

    p = add("plots", cmd_plots, "plot data (dvc plots) and PNG figures (Snakemake report)")
    p.add_argument("cells", nargs="+", help="cell metric JSONs")
    p.add_argument("--references", default="{}", help='JSON {task: "backbone/datasource/method"}')
    p.add_argument("--reference-predictions", action="append", help="TASK=PREDICTIONS.parquet")
    p.add_argument("--topk", required=True, help="the k analysis CSV (clipfair topk-sweep)")
    p.add_argument("--out-dir", required=True, type=Path)

    p = add("topk-sweep", cmd_topk_sweep, "seed 002's k analysis from saved embeddings")
    p.add_argument("--val-index", required=True)
    p.add_argument("--embedding", action="append", help="MODEL=val embeddings .npy")
    p.add_argument("--text", action="append", help="MODEL:LABEL_SET=prompt embeddings .parquet")
    p.add_argument("--k-max", type=int, required=True)
    p.add_argument("--label-set-dir", required=True, help="your label set folder ('' for none)")
    p.add_argument("--n-resamples", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--out", required=True, type=Path)

    p = add("bench-grid", cmd_bench_grid, "where a finished run's job-seconds went, per rule")
    p.add_argument("run", nargs="?", default=".", help="the project folder of the run")
    p.add_argument("--json", type=Path, help="also write the figures as JSON")

    p = add("bench-stages", cmd_bench_stages, "per-stage time, CPU, peak RSS, MB written, disk")
    p.add_argument("run", nargs="?", default=".", help="the project folder of the run")
    p.add_argument("--out", type=Path, default=Path("metrics/scale/stages.csv"))
    p.add_argument(
        "--disk", nargs="+", default=["data", ".dvc/cache"], help="folders whose disk use to sum"
    )

    p = add("bench-project", cmd_bench_project, "the real grid's GPU cost, projected")
    p.add_argument("--stages", type=Path, default=Path("metrics/scale/stages.csv"))
    p.add_argument("--out", type=Path, default=Path("metrics/scale/projection.csv"))
    p.add_argument("--preset", default="real", help="the grid to project (default: real)")

    p = add("slurm-plan", cmd_slurm_plan, "per rule: jobs, sbatch jobs, GPU, memory, time")
    p.add_argument("--preset", default="real", help="the grid (default: real)")
    p.add_argument("--profile", default="workflow/profiles/slurm", help="Snakemake profile")

    p = add("bench-cache-read", cmd_bench_cache_read, "peak RSS: memory-mapped vs pread reads")
    p.add_argument("images", type=Path, help="an image cache (<split>_images.npy)")
    p.add_argument("--batch", type=int, default=512)

    p = add("bench-embed", cmd_bench_embed, "embedding speed: naive vs model alone vs pipeline")
    p.add_argument("--model", help="open_clip model (default ViT-L-14 on CUDA, ViT-B-32 on CPU)")
    p.add_argument("--pretrained", help="open_clip tag or file (default: random weights)")
    p.add_argument("--config-dir", help="folder of extra open_clip model configs")
    p.add_argument("--n", type=int, help="images (default 8192 on CUDA, 256 on CPU)")
    p.add_argument("--n-naive", type=int, help="images for the slow naive loop")
    p.add_argument("--batch-size", type=int, help="default 512 on CUDA, 16 on CPU")
    p.add_argument("--workers", type=int, help="loader processes (default 4 on CUDA, 0 on CPU)")
    p.add_argument("--shard-size", type=int, default=8192)
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument("--compile", action="store_true", help="torch.compile the image encoder")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", type=Path, help="JSON (default metrics/bench/embed_<model>_<dev>.json)")

    p = add("bench-probe", cmd_bench_probe, "probe C sweep: batched torch vs sklearn, one C each")
    p.add_argument("--n-train", type=int, default=86_744)
    p.add_argument("--n-val", type=int, default=10_954)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--classes", type=int, default=7)
    p.add_argument("--n-c", type=int, default=20)
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", type=Path, help="JSON (default metrics/bench/probe_<device>.json)")
    p.add_argument(
        "--profile", action="store_true", help="why: profile the torch sweep, count sklearn's work"
    )

    p = add("vggface", cmd_vggface, "seed 004: VGG-Face gender transfer on Adience")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    v = verbs.add_parser("train", help="train the transfer model on an Adience folder")
    v.add_argument("-w", "--weights", required=True, help="VGG-Face torch7 weights (.t7)")
    v.add_argument("-i", "--input", required=True, type=Path, help="Adience folder (fold files)")
    v.add_argument("-o", "--output", required=True, type=Path, help="model (.safetensors)")
    v.add_argument("-e", "--epochs", type=int, default=1)
    v.add_argument("-b1", type=int, default=32, help="training batch size")
    v.add_argument("-b2", type=int, default=32, help="validation batch size")
    v.add_argument(
        "-m",
        "--memory",
        default="low",
        choices=["low", "high"],
        help="low: read each batch from disk; high: load every image first",
    )
    v = verbs.add_parser("evaluate", help="accuracy and loss on the val and train folds")
    v.add_argument("-m", "--model", required=True)
    v.add_argument("-i", "--input", required=True, type=Path, help="Adience folder")
    v.add_argument("-b2", type=int, default=32, help="batch size")
    v = verbs.add_parser("classify", help="the class of one face image")
    v.add_argument("-m", "--model", required=True)
    v.add_argument("-i", "--input", required=True, type=Path, help="a face image")
    v = verbs.add_parser("init", help="write a random-init VGG-Face .t7 (offline demo)")
    v.add_argument("-o", "--output", required=True, type=Path)
    v.add_argument("--tiny", action="store_true", help="the demo's narrow network (128 px)")
    for v in verbs.choices.values():
        v.add_argument("--val-folds", default="4", help="comma-separated validation folds")
        v.add_argument("--seed", type=int, default=0)
        v.add_argument("--threads", type=int, default=2)

    p = add("vggface-transfer", cmd_vggface_transfer, "VGG-Face transfer on an ingested dataset")
    p.add_argument("--weights", required=True, help="VGG-Face .t7")
    p.add_argument("--train-index", required=True)
    p.add_argument("--train-images", required=True)
    p.add_argument("--val-index", required=True, help="scored after every epoch (history)")
    p.add_argument("--val-images", required=True)
    p.add_argument("--settings", required=True, help="the vggface: section of params (JSON)")
    p.add_argument("--out-model", required=True)
    p.add_argument("--out-history", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--score", action="append", help="INDEX,IMAGES,OUT.parquet to score (repeat)")

    p = add("vggface-weights", cmd_vggface_weights, "VGG-Face .t7: download + unpack, or init")
    p.add_argument("--datasource", required=True, help="datasource entry of params (JSON)")
    p.add_argument("--out", required=True, type=Path, help="the .t7 to write")
    p.add_argument("--archive-dir", required=True, type=Path, help="where the download goes")
    p.add_argument("--lock", default="", help="downloads lock file (sizes, sha256; '' for none)")

    p = add("demo-adience", cmd_demo_adience, "write a synthetic release in Adience's layout")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--users", type=int, default=40)
    p.add_argument("--faces-per-user", type=int, default=12)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)

    p = add("table", cmd_table, "print the summary table of the last run")
    p.add_argument("csv", nargs="?", default="metrics/summary.csv")
    p.add_argument("--headline", default="accuracy")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=os.environ.get("CLIPFAIR_LOG", "INFO"), format="%(message)s")
    args = build_parser().parse_args(argv)
    from clipfair.phases import PhaseTimer

    timer = PhaseTimer()
    try:
        with timer:
            args.func(args)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as exc:
        # Known input problems: one clear line naming the item, no traceback.
        sys.exit(f"clipfair {args.command}: error: {exc}")
    if os.environ.get("CLIPFAIR_PHASES") == "1":  # set for the pipeline's jobs: bench-grid
        timer.print()


if __name__ == "__main__":
    main()
