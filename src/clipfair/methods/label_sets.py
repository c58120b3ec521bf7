"""Zero-shot label sets: class -> prompts, one YAML file per set.

The shipped sets are files in ``src/clipfair/label_sets/`` with the exact strings of their
sources (the prompt-ensemble report's label JSONs, the CLIP paper's classes), each file saying where
its strings
come from. A user adds a set by writing ``<name>.yaml`` into the folder that params.yaml names
as ``zeroshot.label_set_dir`` and naming the set in the sweep or a method.

File format::

    task: gender | age | race          # what the set predicts
    prompts:                           # every class of the task (canonical names), plus
      Male: [a photo of a man, ...]    # the extra classes of `categories`, each with prompts
    categories:                        # optional: extra (non-task) classes whose share of
      non_human: [animal, gorilla]     # images is reported (CLIP paper Tables 6-7)
    excluded: [...]                    # optional: prompts of the source file left out, kept
                                       # for the record (`clipfair prompts` shows them)
    vocabulary: utkface                # optional: the classes are UTKFace's (its five races);
                                       # default fairface
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from clipfair.errors import InputError
from clipfair.labels import VOCAB, VOCABULARIES

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "label_sets"


class LabelSetError(InputError):
    """A label set file that is missing or does not have the expected shape."""


@dataclass(frozen=True)
class LabelSet:
    """Prompts per class for one task; ``categories`` group extra (non-task) classes."""

    task: str
    prompts: dict[str, list[str]]
    categories: dict[str, list[str]] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)
    path: Path | None = None
    vocabulary: str = "fairface"  # whose classes: clipfair.labels.VOCABULARIES

    @property
    def classes(self) -> tuple[str, ...]:
        """The task's classes in the set's vocabulary."""
        return VOCABULARIES[self.vocabulary][self.task]

    @property
    def min_prompts(self) -> int:
        """Fewest prompts of any task class (bounds the useful top-k)."""
        return min(len(self.prompts[c]) for c in self.classes)

    @property
    def max_prompts(self) -> int:
        """Most prompts of any task class (1: every aggregation is the same rule)."""
        return max(len(self.prompts[c]) for c in self.classes)

    @property
    def sha256(self) -> str:
        """Digest of the file the set was read from (its content identity)."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest() if self.path else ""


def label_set_dirs(user_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for sets: the user's (params.yaml zeroshot.label_set_dir), shipped."""
    return [Path(user_dir), SHIPPED_DIR] if user_dir else [SHIPPED_DIR]


def available(user_dir: str | Path | None = None) -> list[str]:
    """Names of every label set that can be loaded."""
    names = {p.stem for d in label_set_dirs(user_dir) if d.is_dir() for p in d.glob("*.yaml")}
    return sorted(names)


def label_set_path(name: str, user_dir: str | Path | None = None) -> Path:
    """The file of set ``name``; LabelSetError naming the folders and the known sets, or both
    files when a user set has the name of a shipped one."""
    found = [d / f"{name}.yaml" for d in label_set_dirs(user_dir) if (d / f"{name}.yaml").is_file()]
    if not found:
        where = ", ".join(str(d) for d in label_set_dirs(user_dir))
        raise LabelSetError(
            f"unknown label_set {name!r}: no {name}.yaml in {where}; known: "
            f"{', '.join(available(user_dir))}"
        )
    if len(found) > 1:
        raise LabelSetError(
            f"label set {name!r} is defined twice ({found[0]} and {found[1]}); rename yours"
        )
    return found[0]


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise LabelSetError(f"{where}: expected a non-empty list of prompt strings")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise LabelSetError(f"{where}: {item!r} is not a prompt string")
    return list(value)


def parse_label_set(path: str | Path) -> LabelSet:
    """Read and check one set file; LabelSetError naming the file and key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise LabelSetError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise LabelSetError(f"{path}: expected a mapping with task and prompts")
    unknown = set(raw) - {"task", "prompts", "categories", "excluded", "vocabulary"}
    if unknown:
        raise LabelSetError(f"{path}: unknown keys {sorted(unknown)}")
    task = raw.get("task")
    if task not in VOCAB:
        raise LabelSetError(f"{path}: task is {task!r}; expected one of {list(VOCAB)}")
    vocabulary = raw.get("vocabulary", "fairface")
    if vocabulary not in VOCABULARIES:
        raise LabelSetError(
            f"{path}: vocabulary is {vocabulary!r}; expected one of {list(VOCABULARIES)}"
        )
    vocab = VOCABULARIES[vocabulary]
    if not isinstance(raw.get("prompts"), dict):
        raise LabelSetError(f"{path}: prompts must map each class to its prompts")
    prompts = {str(c): _strings(p, f"{path}: prompts.{c}") for c, p in raw["prompts"].items()}
    categories = {
        str(c): _strings(m, f"{path}: categories.{c}")
        for c, m in (raw.get("categories") or {}).items()
    }
    missing = [c for c in vocab[task] if c not in prompts]
    if missing:
        raise LabelSetError(f"{path}: no prompts for the {task} classes {missing}")
    extra = [c for c in prompts if c not in vocab[task]]
    in_categories = [c for members in categories.values() for c in members]
    if sorted(extra) != sorted(in_categories):
        raise LabelSetError(
            f"{path}: classes {extra} are not {task} classes; every extra class must be listed "
            f"under categories exactly once (categories list {in_categories})"
        )
    every = [p for plist in prompts.values() for p in plist]
    repeated = sorted({p for p in every if every.count(p) > 1})
    if repeated:
        raise LabelSetError(f"{path}: prompts listed more than once: {repeated}")
    excluded = raw.get("excluded") or []
    if excluded:
        excluded = _strings(excluded, f"{path}: excluded")
    return LabelSet(task, prompts, categories, excluded, path, vocabulary)


@functools.cache
def _cached(path: Path, mtime_ns: int) -> LabelSet:
    return parse_label_set(path)


def get_label_set(name: str, user_dir: str | Path | None = None) -> LabelSet:
    """The label set ``name`` (the user's folder first, then the shipped sets)."""
    path = label_set_path(name, user_dir)
    return _cached(path, path.stat().st_mtime_ns)


def list_label_sets(user_dir: str | Path | None = None) -> list[str]:
    """One line per label set: name, task and prompts per class (``clipfair prompts``)."""
    lines = []
    for name in available(user_dir):
        ls = get_label_set(name, user_dir)
        counts = ", ".join(f"{c} {len(p)}" for c, p in ls.prompts.items())
        lines.append(f"{name} ({ls.task}): {counts}")
    return lines


def describe_label_set(name: str, user_dir: str | Path | None = None, as_json: bool = False) -> str:
    """A label set as text (class -> prompts, categories, exclusions) or as JSON."""
    import json

    ls = get_label_set(name, user_dir)
    if as_json:
        record = {"label_set": name, "task": ls.task, "file": str(ls.path)}
        record.update(prompts=ls.prompts, categories=ls.categories, excluded=ls.excluded)
        return json.dumps(record, indent=2)
    lines = [f"{name}: {ls.task}, {sum(map(len, ls.prompts.values()))} prompts ({ls.path})"]
    for cls, prompts in ls.prompts.items():
        lines += [f"{cls}:", *(f"  {p}" for p in prompts)]
    lines += [f"category {c}: {', '.join(members)}" for c, members in ls.categories.items()]
    if ls.excluded:
        lines.append("excluded from prediction: " + "; ".join(ls.excluded))
    return "\n".join(lines)
