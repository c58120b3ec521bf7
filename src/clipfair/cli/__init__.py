"""Command line: ``clipfair <subcommand>``, a thin layer over library functions.

One module per group, each parser beside its handler: :mod:`~clipfair.cli.data` and
:mod:`~clipfair.cli.models` (pipeline steps), :mod:`~clipfair.cli.metrics` (cells and
tables), :mod:`~clipfair.cli.tools`, :mod:`~clipfair.cli.vggface` (the VGG-Face gender_classifier's
commands) and
:mod:`~clipfair.cli.bench`. Every Snakemake rule calls one subcommand with explicit paths,
and the pipeline steps' flags have no defaults: their values come from params.yaml through
the rules. Handlers parse, call one library function and print.
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clipfair", description="Benchmark CLIP-family models on FairFace attributes."
    )
    parser.add_argument("--version", action="version", version=f"clipfair {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Handler, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    for group in GROUPS:
        group.register(add)
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
        sys.exit(f"clipfair {args.command}: error: {exc}")
    except Exception as exc:
        if cuda_out_of_memory(exc):
            setting = BATCH_SETTING.get(args.command, "the batch size of this step")
            exc.add_note(f"clipfair {args.command}: out of GPU memory: lower {setting}")
        raise


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=os.environ.get("CLIPFAIR_LOG", "INFO"), format="%(message)s")
    run(build_parser().parse_args(argv))
