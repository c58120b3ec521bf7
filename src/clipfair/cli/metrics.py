"""Cell and table steps of the pipeline: run cells, summarize, compare, k analysis, plots.

None of these imports torch unless a cell needs it. Every flag comes from the rule.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from clipfair.cli.common import Add, pairs
from clipfair.runtime import set_threads


def cmd_run_cells(args: argparse.Namespace) -> None:
    from clipfair.methods.runner import run_cells

    set_threads(args.threads)
    plan = json.loads(Path(args.plan[1:]).read_text() if args.plan.startswith("@") else args.plan)
    lines = run_cells(plan, args.seed, json.loads(args.bootstrap))
    print(f"ran and evaluated {len(lines)} cells")


def cmd_summarize(args: argparse.Namespace) -> None:
    from clipfair.metrics.summary import load_cells, render_table, write_summary

    df = write_summary(load_cells(args.cells), args.out_dir, json.loads(args.references))
    render_table(df, args.headline, title=f"summary ({len(df)} cells)")


def cmd_compare(args: argparse.Namespace) -> None:
    from clipfair.metrics.compare import render_comparison, write_comparison

    df = write_comparison(
        args.out, json.loads(args.references), pairs(args.cell), args.n_resamples, args.seed,
        args.alpha,
    )  # fmt: skip
    render_comparison(df, alpha=args.alpha)


def cmd_topk_sweep(args: argparse.Namespace) -> None:
    from clipfair.metrics.topk_sweep import write_topk_sweep

    texts = {tuple(key.rsplit(":", 1)): path for key, path in pairs(args.text).items()}
    df = write_topk_sweep(
        args.out, args.val_index, pairs(args.embedding), texts, args.label_set_dir or None,
        args.k_max, args.alpha,
    )  # fmt: skip
    print(f"k analysis: {len(df)} rows ({df['model'].nunique()} models) -> {args.out}")


def cmd_plots(args: argparse.Namespace) -> None:
    from clipfair.report.plots import write_plot_files

    written = write_plot_files(
        args.cells, json.loads(args.references), pairs(args.reference_predictions), args.topk,
        args.out_dir,
    )  # fmt: skip
    print(f"wrote {len(written)} plot files to {args.out_dir}")


def _bootstrap_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-resamples", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--alpha", type=float, required=True)


def register(add: Add) -> None:
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
    p.add_argument("--headline", required=True, help="the table's metric (grid.headline)")
    p.add_argument(
        "--references", required=True, help='JSON {task: "backbone/datasource/method"}: the '
        "headline cells' methods (compare.references)",
    )  # fmt: skip

    p = add("compare", cmd_compare, "paired comparison of every cell with its task's reference")
    p.add_argument("--references", required=True, help='JSON {task: "backbone/datasource/method"}')
    p.add_argument("--cell", action="append", required=True, help="backbone/datasource/method=PATH")
    p.add_argument("--out", required=True, type=Path)
    _bootstrap_flags(p)

    p = add("plots", cmd_plots, "plot data (dvc plots) and PNG figures (Snakemake report)")
    p.add_argument("cells", nargs="+", help="cell metric JSONs")
    p.add_argument("--references", required=True, help='JSON {task: "backbone/datasource/method"}')
    p.add_argument("--reference-predictions", action="append", help="TASK=PREDICTIONS.parquet")
    p.add_argument("--topk", required=True, help="the k analysis CSV (clipfair step topk-sweep)")
    p.add_argument("--out-dir", required=True, type=Path)

    p = add("topk-sweep", cmd_topk_sweep, "the prompt-ensemble report's k analysis (embeddings)")
    p.add_argument("--val-index", required=True)
    p.add_argument("--embedding", action="append", help="MODEL=val embeddings .npy")
    p.add_argument("--text", action="append", help="MODEL:LABEL_SET=prompt embeddings .parquet")
    p.add_argument("--k-max", type=int, required=True)
    p.add_argument("--label-set-dir", required=True, help="your label set folder ('' for none)")
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--out", required=True, type=Path)
