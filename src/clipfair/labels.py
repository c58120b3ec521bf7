"""Canonical label vocabularies. Every other module imports these; sources convert at the edges.

The canonical order (and so the integer codes stored in the ingested index) is the order of
FairFace's documentation: age groups ascending, gender Male/Female (as the HF ClassLabel),
race as listed in the FairFace paper. The seeds' fine-tuned heads sort labels alphabetically:
use :func:`alphabetical` for those, never the canonical codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from clipfair.errors import InputError

AGES: tuple[str, ...] = (
    "0-2",
    "3-9",
    "10-19",
    "20-29",
    "30-39",
    "40-49",
    "50-59",
    "60-69",
    "more than 70",
)
GENDERS: tuple[str, ...] = ("Male", "Female")
RACES: tuple[str, ...] = (
    "White",
    "Black",
    "Latino_Hispanic",
    "East Asian",
    "Southeast Asian",
    "Indian",
    "Middle Eastern",
)

#: CLIP Table 7's age columns: the three youngest FairFace groups, then everyone of 20 and over
AGE_BANDS: tuple[str, ...] = ("0-2", "3-9", "10-19", "20+")


def age_band(age: str) -> str:
    """The Table 7 band of a FairFace age group."""
    return age if age in AGE_BANDS else "20+"


#: task (= CSV column) -> canonical class names
VOCAB: dict[str, tuple[str, ...]] = {"age": AGES, "gender": GENDERS, "race": RACES}
TASKS: tuple[str, ...] = tuple(VOCAB)
#: the column of a split index (and of its predictions) naming each image's person, where a
#: dataset has several images of one person (Adience's user id): the bootstrap resamples them
SUBJECT = "subject"
#: UTKFace's races (its file names' codes 0-4), which are not FairFace's seven
UTK_RACES: tuple[str, ...] = ("White", "Black", "Asian", "Indian", "Others")
#: label vocabularies by name: FairFace's (every dataset's but UTKFace's), UTKFace's own races
VOCABULARIES: dict[str, dict[str, tuple[str, ...]]] = {
    "fairface": VOCAB,
    "utkface": {**VOCAB, "race": UTK_RACES},
}


def index_vocabulary(index: Any) -> str:
    """The vocabulary of an ingested index's labels: its ``vocabulary`` column (UTKFace's
    ingest writes one), else FairFace's."""
    if "vocabulary" in index.columns and len(index):
        return str(index["vocabulary"].iloc[0])
    return "fairface"


def task_classes(index: Any, task: str) -> list[str]:
    """The classes of ``task`` in the vocabulary of ``index``, in its code order."""
    return list(VOCABULARIES[index_vocabulary(index)][task])


def probe_classes(inputs: dict[str, Any], task: str) -> list[str]:
    """The classes a trained method learns and predicts; its train and val splits must share
    them (UTKFace's races are not FairFace's: no race model crosses the two)."""
    classes = task_classes(inputs["val_index"], task)
    trained = task_classes(inputs["train_index"], task)
    if trained != classes:
        raise InputError(
            f"the train split's {task} classes {trained} are not the val split's {classes}"
        )
    return classes


#: the canonical label order of every grouping (the tasks' columns and the age bands)
GROUP_ORDER: dict[str, tuple[str, ...]] = {
    **VOCAB,
    "age_band": AGE_BANDS,
    "gender_race": tuple(f"{g}/{r}" for g in GENDERS for r in RACES),
}


def ordered(group: str, labels: Iterable[str]) -> list[str]:
    """The distinct ``labels`` of a grouping in its canonical order, then any labels outside
    FairFace's vocabulary (UTKFace's races "Asian", "Others") in sorted order."""
    present = {str(label) for label in labels}
    known = [label for label in GROUP_ORDER[group] if label in present]
    return known + sorted(present - set(known))


#: words used in captions and prompts for each class (demo captions, zero-shot prompts)
AGE_WORDS: dict[str, str] = {
    "0-2": "baby",
    "3-9": "child",
    "10-19": "teenage",
    "20-29": "young",
    "30-39": "adult",
    "40-49": "middle-aged",
    "50-59": "mature",
    "60-69": "senior",
    "more than 70": "elderly",
}
GENDER_WORDS: dict[str, str] = {"Male": "man", "Female": "woman"}
RACE_WORDS: dict[str, str] = {
    "White": "white",
    "Black": "black",
    "Latino_Hispanic": "latino",
    "East Asian": "east asian",
    "Southeast Asian": "southeast asian",
    "Indian": "indian",
    "Middle Eastern": "middle eastern",
}


#: The Hugging Face hub's FairFace (HuggingFaceM4/FairFace) ClassLabel order: integer -> label.
HF_CLASSLABELS: dict[str, tuple[str, ...]] = {
    "age": AGES,
    "gender": ("Male", "Female"),
    "race": (
        "East Asian",
        "Indian",
        "Black",
        "White",
        "Middle Eastern",
        "Latino_Hispanic",
        "Southeast Asian",
    ),
}


def code(task: str, label: str) -> int:
    """Canonical integer code of ``label`` for ``task``; ValueError naming the vocabulary."""
    vocab = VOCAB[task]
    try:
        return vocab.index(label)
    except ValueError:
        raise InputError(f"unknown {task} label {label!r}; expected one of {list(vocab)}") from None


def alphabetical(task: str) -> tuple[str, ...]:
    """Labels of ``task`` in Python string order, the order of the seeds' fine-tuned heads."""
    return tuple(sorted(VOCAB[task]))
