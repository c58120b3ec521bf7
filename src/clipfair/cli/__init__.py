"""Command line: ``clipfair <subcommand>``, a thin layer over library functions.

One module per group, each parser beside its handler: :mod:`~clipfair.cli.data` and
:mod:`~clipfair.cli.models` (pipeline steps), :mod:`~clipfair.cli.metrics` (cells and
tables), :mod:`~clipfair.cli.tools`, :mod:`~clipfair.cli.vggface` (seed 004's commands) and
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


def main(argv: Sequence[str] | None = None) -> None:
    if argv is None and os.environ.get("CLIPFAIR_FORKSERVER"):  # a job of a local run
        from clipfair.forkserver import forward

        code = forward(sys.argv[1:])
        if code is not None:
            sys.exit(code)
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
