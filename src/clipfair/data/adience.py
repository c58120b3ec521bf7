"""Adience (Eidinger et al. 2014) in its official layout, for the VGG-Face gender_classifier's
gender transfer.

The release: ``fold_{0..4}_data.txt`` (tab-separated; header ``user_id original_image
face_id age gender x y dx dy tilt_ang fiducial_yaw_angle fiducial_score``) and the aligned
faces at ``aligned/<user_id>/landmark_aligned_face.<face_id>.<original_image>``. Gender is
``f``/``m``; ``u`` and empty are dropped and counted. Folds in ``val_folds`` are validation,
the rest train (the VGG-Face gender_classifier trains on one part and validates on a disjoint one).
Ingest ends
like FairFace's: a parquet index (canonical ``Male``/``Female``) and a uint8 image cache, so
the same embedding and methods run on it; bad rows follow the same fail/skip rules.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clipfair.data.demo import draw_face
from clipfair.data.ingest import (
    BadRow,
    IngestError,
    _raise_if,
    check_expected,
    decode_keeping_good_rows,
    write_report,
)
from clipfair.io import atomic_path, write_parquet
from clipfair.labels import GENDERS, SUBJECT

FOLD_HEADER = (
    "user_id",
    "original_image",
    "face_id",
    "age",
    "gender",
    "x",
    "y",
    "dx",
    "dy",
    "tilt_ang",
    "fiducial_yaw_angle",
    "fiducial_score",
)
GENDER_CODES = {"f": "Female", "m": "Male"}
N_FOLDS = 5


def fold_file(fold: int) -> str:
    return f"fold_{fold}_data.txt"


def face_path(user_id: str, face_id: str, original_image: str) -> str:
    """Where the aligned face of a fold row lives, relative to the release folder."""
    return f"aligned/{user_id}/landmark_aligned_face.{face_id}.{original_image}"


def parse_folds(root: str | Path) -> tuple[pd.DataFrame, list[BadRow], Counter]:
    """All fold rows with a usable gender; the malformed rows; counts of dropped genders."""
    root = Path(root)
    rows, bad, dropped = [], [], Counter()
    for fold in range(N_FOLDS):
        path = root / fold_file(fold)
        if not path.is_file():
            raise IngestError(f"{path}: fold file not found (expected fold_0..4_data.txt)")
        with open(path, newline="") as fh:
            reader = csv.reader(fh, delimiter="\t")
            header = tuple(h.strip() for h in next(reader, ()))
            if header[: len(FOLD_HEADER)] != FOLD_HEADER:
                raise IngestError(f"{path}: header is {list(header)}; expected {list(FOLD_HEADER)}")
            for lineno, row in enumerate(reader, start=2):
                where = f"{path}:{lineno}"
                if len(row) < len(FOLD_HEADER):
                    bad.append(BadRow(where, "", f"{len(row)} fields; expected {len(FOLD_HEADER)}"))
                    continue
                rec = dict(zip(FOLD_HEADER, (v.strip() for v in row), strict=False))
                gender = rec["gender"]
                if gender in ("u", ""):
                    dropped[gender or "missing"] += 1
                    continue
                file = face_path(rec["user_id"], rec["face_id"], rec["original_image"])
                if gender not in GENDER_CODES:
                    bad.append(
                        BadRow(where, file, f"unknown gender {gender!r}; expected f, m or u")
                    )
                    continue
                rows.append(
                    {
                        "file": file,
                        "fold": fold,
                        "user_id": rec["user_id"],
                        "age_raw": rec["age"],
                        "gender": GENDER_CODES[gender],
                        "line": lineno,
                    }
                )
    df = pd.DataFrame(rows, columns=["file", "fold", "user_id", "age_raw", "gender", "line"])
    dupes = df["file"].duplicated(keep="first")
    bad += [
        BadRow(f"fold {r.fold}:{r.line}", r.file, "face listed twice")
        for r in df[dupes].itertuples()
    ]
    return df[~dupes].reset_index(drop=True), bad, dropped


def ingest_adience(
    root: str | Path,
    split: str,
    val_folds: list[int],
    out_index: str | Path,
    out_images: str | Path,
    image_size: int,
    threads: int = 2,
    *,
    on_bad_rows: str = "fail",
    report: str | Path | None = None,
    expect: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Index + uint8 cache of the train or val folds; dropped genders and bad rows reported."""
    root = Path(root)
    folds, bad, dropped = parse_folds(root)
    in_split = folds["fold"].isin(val_folds) if split == "val" else ~folds["fold"].isin(val_folds)
    index = folds[in_split].reset_index(drop=True)
    missing = [
        BadRow(str(root), f, "listed in a fold file but missing")
        for f in index["file"]
        if not (root / f).is_file()
    ]
    bad += missing
    if on_bad_rows == "fail":
        _raise_if([str(b) for b in bad], f"{root}: bad rows (on_bad_rows: skip drops them)")
    index = index[~index["file"].isin({b.file for b in missing})].reset_index(drop=True)
    if index.empty:
        raise IngestError(f"{root}: no {split} faces (val_folds={val_folds})")
    index, failed = decode_keeping_good_rows(
        lambda f: (root / f).read_bytes(), str(root), index, out_images, image_size, threads,
        strict=on_bad_rows == "fail",
    )  # fmt: skip
    bad += failed
    notes = [f"dropped {n} faces with gender {g!r}" for g, n in sorted(dropped.items())]
    _raise_if(check_expected(index, expect, f"{root} {split}"), "counts differ from expect:")
    if report is not None:
        write_report(report, bad, notes)
    index.insert(1, "split", split)
    index[SUBJECT] = index["user_id"]  # a user's faces are resampled together
    index["gender_code"] = index["gender"].map(GENDERS.index)
    index["row"] = np.arange(len(index))
    write_parquet(out_index, index)
    print("; ".join(notes) or "no faces dropped for gender")
    return index


def write_demo_adience(
    out: str | Path, n_users: int = 40, faces_per_user: int = 12, size: int = 64, seed: int = 0
) -> dict[str, Any]:
    """A synthetic release in Adience's layout (fold files + aligned faces), ~5% unknown gender."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    folds: list[list[list[str]]] = [[] for _ in range(N_FOLDS)]
    for u in range(n_users):
        user = f"{u:08d}@N{u % 7:02d}"
        fold = u % N_FOLDS  # one user's faces stay in one fold, as in the release
        for k in range(faces_per_user):
            face_id = str(u * 100 + k)
            original = f"{rng.integers(10**9, 10**10)}_{k:03d}_o.jpg"
            gender = int(rng.integers(2))
            label = "u" if rng.random() < 0.05 else ("m" if gender == 0 else "f")
            img = draw_face(rng, int(rng.integers(9)), gender, int(rng.integers(7)), size)
            path = out / face_path(user, face_id, original)
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                img.save(tmp, format="JPEG", quality=90)
            folds[fold].append(
                [
                    user,
                    original,
                    face_id,
                    "(25, 32)",
                    label,
                    "0",
                    "0",
                    str(size),
                    str(size),
                    "0",
                    "0",
                    "50",
                ]
            )
    for fold, rows in enumerate(folds):
        with atomic_path(out / fold_file(fold)) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh, delimiter="\t")
            writer.writerow(FOLD_HEADER)
            writer.writerows(rows)
    return {"users": n_users, "faces": n_users * faces_per_user}
