"""Tools for users: validate a params file, print label sets and tables, predict photos."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from clipfair.cli.common import Add
from clipfair.runtime import set_threads


def cmd_validate(args: argparse.Namespace) -> None:
    from clipfair.config import load_params
    from clipfair.grid import cells

    params = load_params(args.params, args.schema)
    print(f"{args.params}: valid; {len(cells(params))} cells")


def cmd_prompts(args: argparse.Namespace) -> None:
    from clipfair.methods.label_sets import LabelSetError, describe_label_set, list_label_sets

    try:
        if args.name is None:
            print("\n".join(list_label_sets(args.label_set_dir)))
        else:
            print(describe_label_set(args.name, args.label_set_dir, as_json=args.json))
    except LabelSetError as exc:
        sys.exit(f"error: {exc}")


def cmd_predict(args: argparse.Namespace) -> None:
    from clipfair.models.finetune import load_model
    from clipfair.predict import Predictor, as_records, render_predictions
    from clipfair.runtime import pick_device

    set_threads(args.threads)
    model, backbone = load_model(args.model, pick_device(args.device))
    results = Predictor(model, backbone, detect=args.detect, padding=args.padding).predict(
        args.paths
    )
    if args.json:
        print(json.dumps(as_records(results), indent=2))
    else:
        render_predictions(results)
    failed = [r for r in results if r.status == "error"]
    if failed:  # every other file was still predicted and printed
        print(f"{len(failed)} of {len(results)} inputs failed (status error)", file=sys.stderr)
        sys.exit(1)


def cmd_diff(args: argparse.Namespace) -> None:
    from clipfair.config import load_params
    from clipfair.io import write_csv
    from clipfair.metrics.diff import diff_runs, render_diff
    from clipfair.revisions import Revision

    params = load_params(args.params)
    settings, paths = params["bootstrap"], params["paths"]
    result = diff_runs(Revision(args.a), Revision(args.b), paths["data"], paths["metrics"],
                       settings["n_resamples"], settings["seed"], settings["alpha"])  # fmt: skip
    render_diff(result, args.a, args.b, settings["alpha"])
    write_csv(args.out, result["table"], "%.6g")
    print(f"-> {args.out}")


def cmd_record_run(args: argparse.Namespace) -> None:
    from clipfair.dvc_record import record_run

    record_run(args.preset, args.params)
    print(f"recorded the run in DVC (dvc.lock) as preset {args.preset}")


def cmd_table(args: argparse.Namespace) -> None:
    from clipfair.metrics.summary import render_run_tables

    if not Path(args.csv).is_file():
        sys.exit(
            f"{args.csv} not found: run the pipeline first (make demo / snakemake --cores all)"
        )
    render_run_tables(Path(args.csv), args.headline)


def cmd_reproduce(args: argparse.Namespace) -> None:
    from clipfair.metrics.reproduction import render_reproduction, write_reproduction

    if args.plan:
        from clipfair.config import load_params
        from clipfair.grid import cells
        from clipfair.metrics.reproduction import published_numbers, render_plan, reproduction_plan

        params = load_params(args.params, preset=args.preset)
        planned = {(c.backbone, c.datasource, c.method) for c in cells(params)}
        k_analysis = params["zeroshot"].get("k_analysis") or {}
        render_plan(reproduction_plan(published_numbers(), planned, k_analysis), params["preset"])
        return
    if not args.summary.is_file():
        sys.exit(f"{args.summary} not found: run the pipeline first (or pass --summary)")
    report = write_reproduction(args.summary, args.out, args.topk)
    render_reproduction(report, all_rows=args.all)
    print(f"wrote {args.out}")


def cmd_offline_template(args: argparse.Namespace) -> None:
    from clipfair.report.offline_html import build_template

    for package, integrity in build_template(args.out).items():
        print(f"{package}: npm integrity {integrity}")
    print(f"wrote {args.out} (.dvc/config plots.html_template names it)")


def cmd_fetch_weights(args: argparse.Namespace) -> None:
    from clipfair.config import load_params
    from clipfair.models.fetch import fetch_weights, remote_weights

    config = load_params(args.params, args.schema, args.preset)
    cache_dir = args.cache_dir or config.get("cache_dir")
    todo = remote_weights(config)
    where = cache_dir or "the default Hugging Face cache"
    print(f"{len(todo)} pretrained model(s) of the {config['preset']} grid -> {where}")
    done = fetch_weights(config, cache_dir)
    print(
        f"fetched {len(done)}: the jobs can load them offline (HF_HUB_OFFLINE=1"
        + (f", cache_dir: {cache_dir}" if cache_dir else "")
        + ")"
    )


def register(add: Add) -> None:
    p = add("validate-config", cmd_validate, "validate a params file against the schema")
    p.add_argument("params", nargs="?", default="params.yaml")
    p.add_argument("--schema", default="workflow/schemas/params.schema.yaml")

    p = add(
        "offline-plots-template",
        cmd_offline_template,
        "write the dvc plots HTML template with vega inlined (npm), for pages without network",
    )
    p.add_argument("--out", default=".dvc/offline_plots.html")

    p = add("diff", cmd_diff, "is run B's accuracy different from run A's? (every cell of both)")
    p.add_argument("a", nargs="?", default="HEAD", help="git revision or DVC experiment (HEAD)")
    p.add_argument("b", nargs="?", default="workspace", help="the same, or workspace (default)")
    p.add_argument("--out", type=Path, default=Path("diff.csv"), help="the table as CSV")
    p.add_argument("--params", default="params.yaml", help="bootstrap settings and paths")

    p = add("record-run", cmd_record_run, "record a finished run in DVC (dvc commit) as a preset")
    p.add_argument("--preset", required=True, help="the preset the run ran (demo for make demo)")
    p.add_argument("--params", default="params.yaml")

    p = add("prompts", cmd_prompts, "print a zero-shot label set: class -> prompts")
    p.add_argument("name", nargs="?", help="label set name (none: list every set)")
    p.add_argument("--json", action="store_true", help="JSON instead of text")
    p.add_argument("--label-set-dir", help="your own label set folder (searched first)")

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

    p = add(
        "fetch-weights",
        cmd_fetch_weights,
        "download the grid's pretrained weights into cache_dir (for compute nodes offline)",
    )
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--preset", help="the grid to fetch for (default: the params' preset)")
    p.add_argument("--cache-dir", help="where to (default: cache_dir of the params)")
    p.add_argument("--schema", default="workflow/schemas/params.schema.yaml")

    p = add("table", cmd_table, "print the summary table of the last run")
    p.add_argument("csv", nargs="?", default="metrics/summary.csv")
    p.add_argument("--headline", default="accuracy")

    p = add("reproduce", cmd_reproduce, "published numbers beside this run's (reproduction.csv)")
    p.add_argument("--summary", type=Path, default=Path("metrics/summary.csv"))
    p.add_argument("--topk", type=Path, default=Path("metrics/plots/topk.csv"))
    p.add_argument("--out", type=Path, default=Path("metrics/reproduction.csv"))
    p.add_argument("--all", action="store_true", help="also list rows not in this grid")
    p.add_argument(
        "--plan",
        action="store_true",
        help="no run needed: which planned cell will answer each published number",
    )
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="with --plan")
    p.add_argument("--preset", default="real", help="with --plan: the grid (default: real)")
