"""Benchmarks and cost reports: each prints a measurement or a labelled projection."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from clipfair.cli.common import Add
from clipfair.runtime import set_threads


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


def cmd_bench_stages(args: argparse.Namespace) -> None:
    from clipfair.bench.stages import stage_report

    print(stage_report(Path(args.run), args.out, args.disk))


def cmd_bench_project(args: argparse.Namespace) -> None:
    from clipfair.bench.projection import projection_report

    if not args.stages.is_file():
        sys.exit(f"{args.stages} not found: run the scale preset, then clipfair bench stages")
    print(projection_report(args.stages, args.out, args.preset, args.gpus))


def cmd_slurm_plan(args: argparse.Namespace) -> None:
    from clipfair.bench.slurm_plan import slurm_plan
    from clipfair.bench.stages import markdown

    rows = slurm_plan(args.preset, args.profile)
    print(f"Slurm requests of the {args.preset} grid ({args.profile}):\n")
    print(markdown(rows))
    total = rows[-1]
    print(f"\n{total['jobs']} jobs, {total['sbatch']} sbatch submissions (local rules run "
          "beside Snakemake)")  # fmt: skip


def cmd_bench_cache_read(args: argparse.Namespace) -> None:
    from clipfair.bench.cache_read import run_cache_read_bench

    r = run_cache_read_bench(args.images, args.batch)
    for how, m in r.items():
        print(f"  {how:5s}: {m['rows']} rows in {m['seconds']:.1f} s, peak RSS "
              f"{m['peak_rss_mb']:.0f} MiB")  # fmt: skip
    ratio = r["mmap"]["peak_rss_mb"] / r["pread"]["peak_rss_mb"]
    print(f"  peak RSS: memory map / pread = {ratio:.0f}x")


def cmd_bench_embed(args: argparse.Namespace) -> None:
    from clipfair.bench.embed import format_embed_bench, run_embed_bench
    from clipfair.embed import EmbedSettings
    from clipfair.runtime import pick_device

    set_threads(args.threads)
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    model = args.model or ("ViT-L-14" if cuda else "ViT-B-32")
    n = args.n or (8192 if cuda else 256)
    out = args.out or Path("metrics/bench") / f"embed_{model}_{device.type}.json"
    result = run_embed_bench(
        model=model, pretrained=args.pretrained, config_dir=args.config_dir, n=n,
        n_naive=args.n_naive or min(n, 1024 if cuda else 64), device=device,
        settings=EmbedSettings(args.batch_size, args.workers, args.shard_size),
        precision=args.precision, compile=args.compile, out=out,
    )  # fmt: skip
    print(format_embed_bench(result))
    print(f"-> {out}")


def cmd_bench_probe(args: argparse.Namespace) -> None:
    from clipfair.bench import probe
    from clipfair.runtime import pick_device

    set_threads(args.threads)
    shape = {"n_train": args.n_train, "dim": args.dim, "n_classes": args.classes, "n_c": args.n_c}
    if args.profile:
        print(probe.format_probe_profile(probe.profile_probe_bench(**shape, threads=args.threads)))
        return
    device = pick_device(args.device)
    out = args.out or Path("metrics/bench") / f"probe_{device.type}.json"
    result = probe.run_probe_bench(**shape, n_val=args.n_val, device=device, out=out)
    print(probe.format_probe_bench(result))
    print(f"-> {out}")


def cmd_bench_coverage(args: argparse.Namespace) -> None:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from clipfair.bench.coverage import POPULATION, coverage_report, population_from
    from clipfair.config import load_params
    from clipfair.io import write_csv

    settings = load_params(args.params)["bootstrap"]  # the run's resamples, alpha, min_group_n
    if args.pair:
        a, b = (pd.read_parquet(p) for p in args.pair)
        populations = population_from(a, b, f"{args.pair[0]} vs {args.pair[1]}")
    else:
        populations = pd.read_parquet(POPULATION)
    report = coverage_report(
        populations, args.draws, args.seed, settings["n_resamples"], settings["alpha"],
        settings["min_group_n"],
    )  # fmt: skip
    report["passes"] = report["coverage"] >= args.min_coverage
    table = Table(title=f"coverage in {args.draws} draws (nominal {1 - settings['alpha']:.2f})")
    for col in ("population", "unit", "statistic", "intervals", "coverage", "note"):
        table.add_column(col, justify="right" if col in ("intervals", "coverage") else "left")
    for row in report.itertuples():
        mark = "" if row.passes else f" < {args.min_coverage}"
        table.add_row(row.population, row.unit, row.statistic, str(row.intervals),
                      f"{row.coverage:.3f}{mark}", row.note)  # fmt: skip
    Console(width=160).print(table)
    if args.out:
        write_csv(args.out, report, "%.4f")
        print(f"-> {args.out}")
    if not report["passes"].all():
        sys.exit(f"coverage below {args.min_coverage} for {(~report['passes']).sum()} statistics")


def cmd_gpu_check(args: argparse.Namespace) -> None:
    from clipfair.bench.gpu_check import run_gpu_check, write_check_csv
    from clipfair.config import load_params

    params = load_params(args.params, preset=args.preset)
    rows = run_gpu_check(params, args.tiny, args.config_dir)
    write_check_csv(rows, args.out)
    print(f"-> {args.out}")
    failed = [f"{r.check} {r.model}" for r in rows if not r.ok]
    if failed:
        sys.exit(f"gpu-check failed (NaN/inf, or cosine vs the CPU < 0.999): {', '.join(failed)}")


def register(add: Add) -> None:
    p = add("gpu-check", cmd_gpu_check, "run on a fresh GPU node first: the real models, checked")
    p.add_argument("--tiny", action="store_true", help="tiny models (always so without CUDA)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--preset", default="real", help="whose batch sizes (default: real)")
    p.add_argument("--config-dir", default="workflow/models", help="the tiny model's config")
    p.add_argument("--out", type=Path, default=Path("metrics/gpu/check.csv"))

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
    p.add_argument("--gpus", type=int, nargs="+", default=[1, 4, 8],
                   help="the time until the table with each number of GPUs")  # fmt: skip

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

    p = add("bench-coverage", cmd_bench_coverage, "do the intervals cover? (a simulation)")
    p.add_argument("--draws", type=int, default=1000, help="samples drawn from the population")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--pair", nargs=2, type=Path, metavar=("A", "B"),
        help="two cells' predictions of the same images as the population (default: the "
        "packaged demo population)",
    )  # fmt: skip
    p.add_argument("--min-coverage", type=float, default=0.93, help="fail below this coverage")
    p.add_argument("--params", default="params.yaml", help="bootstrap settings from here")
    p.add_argument("--out", type=Path, help="also write the table as CSV")

    p = add(
        "bench-probe",
        cmd_bench_probe,
        "probe C sweep: torch (batches along the C path) vs sklearn, one C each",
    )
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
