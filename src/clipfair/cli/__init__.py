"""Command line: ``clipfair <command>``, a thin layer over library functions.

The commands a person runs are at the top (``table``, ``diff``, ``predict``, ...); the
pipeline's steps, which the Snakemake rules run, are grouped under ``clipfair step``, and the
benchmarks and cost reports under ``clipfair bench``. One module per group of code, each parser
beside its handler: :mod:`~clipfair.cli.data` and :mod:`~clipfair.cli.models` (steps),
:mod:`~clipfair.cli.metrics` (cells and tables), :mod:`~clipfair.cli.tools`,
:mod:`~clipfair.cli.vggface` (the VGG-Face gender_classifier's commands) and
:mod:`~clipfair.cli.bench`. Every rule calls one step with explicit paths, and the steps' flags
have no defaults: their values come from params.yaml through the rules. Handlers parse, call
one library function and print.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from clipfair import __version__
from clipfair.cli import bench, data, metrics, models, tools, vggface
from clipfair.cli.common import Handler
from clipfair.errors import ClipfairError

GROUPS = (data, models, metrics, tools, vggface, bench)
#: the commands the rules run: ``clipfair step <name>``
STEPS = frozenset({
    "acquire", "ingest", "ingest-utkface", "ingest-adience",
    "train-clip", "convert-hf", "embed", "finetune", "vggface-transfer", "vggface-weights",
    "run-cells", "summarize", "compare", "plots", "topk-sweep",
})  # fmt: skip


def _group(name: str) -> tuple[str | None, str]:
    """(the group a command is listed under, or None for the top, and its name there)."""
    if name in STEPS:
        return "step", name
    if name.startswith("bench-") or name == "slurm-plan":
        return "bench", name.removeprefix("bench-")
    return None, name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clipfair", description="Benchmark CLIP-family models on FairFace attributes."
    )
    parser.add_argument("--version", action="version", version=f"clipfair {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups = {
        "step": "the pipeline's steps, as its rules run them (every setting a flag)",
        "bench": "benchmarks and cost reports: measurements, or labelled projections",
    }
    nested = {
        group: sub.add_parser(group, help=help, description=help).add_subparsers(
            dest=group, required=True, metavar=group.upper()
        )
        for group, help in groups.items()
    }

    def add(name: str, func: Handler, help: str) -> argparse.ArgumentParser:
        group, shown = _group(name)
        p = (nested[group] if group else sub).add_parser(shown, help=help, description=help)
        p.set_defaults(func=func, name=name, prog=p.prog)
        return p

    for group in GROUPS:
        group.register(add)
    # the help lists the commands a person runs first, the two groups last
    sub._choices_actions.sort(key=lambda action: action.dest in groups)
    return parser


#: the setting to lower when a command runs out of GPU memory
BATCH_SETTING = {
    "embed": "embed.batch_size",
    "finetune": "finetune.batch_size",
    "vggface-transfer": "vggface.batch_train and vggface.batch_val",
    "run-cells": "probe.device (cpu runs the probes' C sweep on the CPU)",
    "bench-embed": "--batch-size",
    "predict": "the number of photos per call",
}


def cuda_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is torch's CUDA out-of-memory error (torch imported or not)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError)


def run(args: argparse.Namespace) -> None:
    """Run a parsed command. A :class:`~clipfair.errors.ClipfairError` (an input, file or
    setting the user can fix) exits with its one line; anything else keeps its traceback, a
    CUDA out-of-memory error with a note naming the batch-size setting to lower."""
    try:
        args.func(args)
    except ClipfairError as exc:
        sys.exit(f"{args.prog}: error: {exc}")
    except Exception as exc:
        if cuda_out_of_memory(exc):
            setting = BATCH_SETTING.get(args.name, "the batch size of this step")
            exc.add_note(f"{args.prog}: out of GPU memory: lower {setting}")
        raise


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=os.environ.get("CLIPFAIR_LOG", "INFO"), format="%(message)s")
    run(build_parser().parse_args(argv))
