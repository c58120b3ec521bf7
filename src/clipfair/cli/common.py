"""What the command groups share: how a command is registered, thread and backbone flags."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Protocol

Handler = Callable[[argparse.Namespace], None]


class Add(Protocol):
    """Registers one subcommand: ``add(name, handler, help)`` -> its parser."""

    def __call__(self, name: str, func: Handler, help: str) -> argparse.ArgumentParser: ...


def pairs(values: list[str] | None) -> dict[str, str]:
    """``KEY=VALUE`` flags as a dict."""
    return dict(v.split("=", 1) for v in values or [])


def backbone_flags(p: argparse.ArgumentParser) -> None:
    """The flags that say which model a job loads, and where it runs (all from the rule)."""
    p.add_argument("--backbone", required=True, help="backbone entry of params.yaml (JSON)")
    p.add_argument("--datasource", required=True, help="datasource entry of params.yaml (JSON)")
    p.add_argument("--checkpoint", required=True, help="trained weights ('' for 'pretrained')")
    p.add_argument("--cache-dir", required=True, help="weight cache folder ('' for default)")
    p.add_argument("--device", required=True, choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, required=True)


def load_backbone(args: argparse.Namespace):
    """The backbone named by :func:`backbone_flags`."""
    from clipfair.models.backbone import load_backbone as load
    from clipfair.runtime import pick_device

    return load(
        json.loads(args.backbone),
        json.loads(args.datasource),
        checkpoint=args.checkpoint or None,
        cache_dir=args.cache_dir or None,
        device=pick_device(args.device),
    )
