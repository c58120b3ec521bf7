"""Zero-shot label sets: class -> prompts. A registry; adding a set is adding an entry."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from clipfair.labels import AGE_WORDS, GENDER_WORDS, RACE_WORDS, VOCAB

PREFIX = "a photo of a"
# Seed 002's word lists (age x race x gender combinations, grouped by gender).
SEED002_AGES = ("young", "old", "middle-aged")
SEED002_RACES = ("black", "white", "hispanic", "latino", "indian", "asian", "arabic")


def _gender() -> dict[str, list[str]]:
    return {g: [f"{PREFIX} {GENDER_WORDS[g]}"] for g in VOCAB["gender"]}


def _age_race_gender() -> dict[str, list[str]]:
    """Seed 002: gender alone, race+gender, age+gender, age+race+gender: 32 prompts per gender."""
    out: dict[str, list[str]] = {}
    for g in VOCAB["gender"]:
        w = GENDER_WORDS[g]
        prompts = [f"{PREFIX} {w}"]
        prompts += [f"{PREFIX} {r} {w}" for r in SEED002_RACES]
        prompts += [f"{PREFIX} {a} {w}" for a in SEED002_AGES]
        prompts += [
            f"{PREFIX} {a} {r} {w}" for a, r in itertools.product(SEED002_AGES, SEED002_RACES)
        ]
        out[g] = prompts
    return out


def _race() -> dict[str, list[str]]:
    return {r: [f"{PREFIX} {RACE_WORDS[r]} person"] for r in VOCAB["race"]}


def _age() -> dict[str, list[str]]:
    return {a: [f"{PREFIX} {AGE_WORDS[a]} person"] for a in VOCAB["age"]}


LABEL_SETS: dict[str, tuple[str, Callable[[], dict[str, list[str]]]]] = {
    "gender": ("gender", _gender),
    "age_race_gender": ("gender", _age_race_gender),
    "race": ("race", _race),
    "age": ("age", _age),
}


def prompts_for(label_set: str) -> tuple[str, dict[str, list[str]]]:
    """(task, {class: prompts}) of a label set; KeyError naming the known sets."""
    if label_set not in LABEL_SETS:
        raise KeyError(f"unknown label_set {label_set!r}; known: {sorted(LABEL_SETS)}")
    task, make = LABEL_SETS[label_set]
    return task, make()
