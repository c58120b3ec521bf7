"""The VGG-Face gender_classifier's command line on VGG-Face: ``clipfair vggface
train|evaluate|classify|init``.

Its flags and defaults are the VGG-Face gender_classifier's (``-w``, ``-i``, ``-b1``, ``-b2``,
``-m``), not the
pipeline's: the pipeline runs ``clipfair step vggface-transfer`` with flags from params.yaml.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from clipfair.cli.common import Add
from clipfair.runtime import set_threads


def cmd_vggface(args: argparse.Namespace) -> None:
    from clipfair.models import vggface_gender as vg

    set_threads(args.threads)
    folds = tuple(int(f) for f in args.val_folds.split(","))
    if args.verb == "train":
        out = vg.train(
            args.weights, args.input, args.output, epochs=args.epochs, batch_train=args.b1,
            batch_val=args.b2, mode=args.memory, val_folds=folds, seed=args.seed,
        )  # fmt: skip
        print(f"trained on {out['train_faces']} faces, validated on {out['val_faces']} -> "
              f"{args.output}")  # fmt: skip
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


def register(add: Add) -> None:
    p = add("vggface", cmd_vggface, "the VGG-Face gender_classifier's commands, on Adience")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    v = verbs.add_parser("train", help="train the transfer model on an Adience folder")
    v.add_argument("-w", "--weights", required=True, help="VGG-Face torch7 weights (.t7)")
    v.add_argument("-i", "--input", required=True, type=Path, help="Adience folder (fold files)")
    v.add_argument("-o", "--output", required=True, type=Path, help="model (.safetensors)")
    # defaults: the original gender_classifier's command line (-e 1, low memory), not the
    # pipeline's transfer, whose settings are params.yaml's vggface: section (epochs 3, ...)
    v.add_argument("-e", "--epochs", type=int, default=1, help="default 1, the original tool's")
    v.add_argument("-b1", type=int, default=32, help="training batch size (default 32)")
    v.add_argument("-b2", type=int, default=32, help="validation batch size (default 32)")
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
