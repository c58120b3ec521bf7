"""UTKFace (Zhang et al. 2017), the "aligned and cropped" release: one ``UTKFace.tar.gz`` of
23,708 faces (200 x 200) under ``UTKFace/``, each named ``[age]_[gender]_[race]_[datetime]
.jpg.chip.jpg``: gender 0 male, 1 female; race 0 White, 1 Black, 2 Asian, 3 Indian,
4 Others; age an integer, binned here into FairFace's nine groups. A few names of the release
lack a field; they are bad rows (fail, or skipped and named in the report), like FairFace's.

UTKFace has no split: a seeded 80/20 split stratified by gender x race x age group is made at
ingest, and each index records it (``split``, ``split_seed``). Ingest ends like FairFace's: a
parquet index and a uint8 image cache. Race keeps UTKFace's own five names (they are not
FairFace's seven): the index says so (``vocabulary: utkface``), and race cells on UTKFace use
UTKFace's classes (:data:`clipfair.labels.VOCABULARIES`).
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from clipfair.data.ingest import (
    BadRow,
    IngestError,
    _raise_if,
    check_expected,
    decode_keeping_good_rows,
    write_report,
)
from clipfair.io import atomic_path, write_parquet
from clipfair.labels import AGES, GENDERS, UTK_RACES

ARCHIVE = "UTKFace.tar.gz"
UTK_GENDERS: tuple[str, ...] = ("Male", "Female")  # the file name's 0 and 1
VAL_SHARE = 0.2
NAME = re.compile(r"^(\d+)_(\d+)_(\d+)_(\d+)\.jpg(\.chip\.jpg)?$")
#: FairFace's age groups by their lower bound (the last, "more than 70", from 70 up)
_AGE_LOWER = (0, 3, 10, 20, 30, 40, 50, 60, 70)


def age_group(age: int) -> str:
    """FairFace's age group of an age in years."""
    return AGES[int(np.searchsorted(_AGE_LOWER, age, side="right")) - 1]


def parse_name(name: str) -> dict[str, Any] | str:
    """Labels of one member name, or why it has none."""
    base = PurePosixPath(name).name
    match = NAME.match(base)
    if not match:
        fields = base.split(".")[0].split("_")
        return (
            f"name has {len(fields)} field(s) {fields}; expected "
            "[age]_[gender]_[race]_[datetime].jpg"
        )
    age, gender, race = (int(v) for v in match.groups()[:3])
    if gender >= len(UTK_GENDERS):
        return f"gender {gender}; expected 0 (male) or 1 (female)"
    if race >= len(UTK_RACES):
        return f"race {race}; expected 0-4 ({', '.join(UTK_RACES)})"
    if age > 130:
        return f"age {age}; expected years (0-116 in the release)"
    return {"age_years": age, "age": age_group(age), "gender": UTK_GENDERS[gender],
            "race": UTK_RACES[race]}  # fmt: skip


def _safe(member: tarfile.TarInfo) -> str | None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        return "unsafe path (absolute or with '..')"
    if not member.isfile():
        return "not a regular file"
    return None


def list_members(
    tar: tarfile.TarFile, archive: str | None = None
) -> tuple[pd.DataFrame, list[BadRow]]:
    """Every JPEG of an open archive with its labels (in archive order); the bad ones with
    why, named by ``archive`` (default: the file's path). Reading the list leaves the members
    in ``tar``, so decoding reads on from there."""
    archive = archive or str(tar.name)
    rows, bad, seen = [], [], set()
    for position, member in enumerate(tar.getmembers()):
        if member.isdir() or not member.name.lower().endswith(".jpg"):
            continue
        reason = _safe(member)
        parsed = parse_name(member.name) if reason is None else reason
        if isinstance(parsed, str):
            bad.append(BadRow(archive, member.name, parsed))
            continue
        if member.name in seen:
            where = f"{archive}:{member.name}"
            bad.append(BadRow(where, member.name, "listed twice in the archive"))
            continue
        seen.add(member.name)
        rows.append({"file": member.name, "position": position, **parsed})
    columns = ["file", "position", "age_years", "age", "gender", "race"]
    return pd.DataFrame(rows, columns=columns), bad


def stratified_split(labels: pd.DataFrame, seed: int, val_share: float = VAL_SHARE) -> np.ndarray:
    """'train' / 'val' per row, stratified by gender x race x age group: the faces are lined
    up stratum after stratum, seeded-shuffled within each (from file-name order, so the split
    does not depend on the archive's order), and every (1 / val_share)-th goes to val. Each
    stratum gets within one face of its share, small ones included, and the whole split
    exactly its share (rounded down)."""
    step = round(1 / val_share)
    rng = np.random.default_rng(seed)
    by_name = labels.sort_values("file")
    key = pd.Series(rng.random(len(by_name)), index=by_name.index)
    lined = labels.assign(_key=key).sort_values(["gender", "race", "age", "_key"])
    out = np.full(len(labels), "train", dtype=object)
    out[lined.index.to_numpy()[step - 1 :: step]] = "val"
    return out


def _reader(tar: tarfile.TarFile):
    """read(name) over the members ``tar`` has listed (fast when names come in archive
    order: one more gzip pass)."""
    members = {m.name: m for m in tar.getmembers()}

    def read(name: str) -> bytes:
        handle = tar.extractfile(members[name])
        if handle is None:
            raise OSError(f"{name} is not a regular file")
        return handle.read()

    return read


def ingest_utkface(
    archive: str | Path,
    split: str,
    out_index: str | Path,
    out_images: str | Path,
    image_size: int,
    threads: int = 2,
    *,
    seed: int = 0,
    on_bad_rows: str = "fail",
    report: str | Path | None = None,
    expect: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Index + uint8 cache of one split of the seeded stratified split; bad names reported."""
    archive = Path(archive)
    if not archive.is_file():
        raise IngestError(f"{archive}: not found (expected the release's {ARCHIVE})")
    with tarfile.open(archive, "r:*") as tar:  # listed once, then decoded from the same listing
        labels, bad = list_members(tar, str(archive))
        if on_bad_rows == "fail":
            _raise_if([str(b) for b in bad], f"{archive}: bad rows (on_bad_rows: skip drops them)")
        if labels.empty:
            raise IngestError(f"{archive}: no faces with a valid name")
        labels["split"] = stratified_split(labels, seed)
        index = labels[labels["split"] == split].sort_values("position").reset_index(drop=True)
        index, failed = decode_keeping_good_rows(
            _reader(tar), str(archive), index, out_images, image_size, threads,
            strict=on_bad_rows == "fail",
        )  # fmt: skip
    bad += failed
    _raise_if(check_expected(index, expect, f"{archive} {split}"), "counts differ from expect:")
    if report is not None:
        write_report(report, bad, [])
    index = index.drop(columns="position")
    index.insert(1, "split", index.pop("split"))
    index["split_seed"] = seed
    index["age_code"] = index["age"].map(AGES.index)
    index["gender_code"] = index["gender"].map(GENDERS.index)
    index["race_code"] = index["race"].map(UTK_RACES.index)
    index["vocabulary"] = "utkface"  # race is UTKFace's own five classes
    index["row"] = np.arange(len(index))
    write_parquet(out_index, index)
    print(
        f"split: seeded ({seed}) stratified {1 - VAL_SHARE:.0%}/{VAL_SHARE:.0%} by gender x race"
        f" x age group; {split} has {len(index)} faces"
        + (f"; {len(bad)} bad row(s) dropped, listed in {report}" if bad else "")
    )
    return index


#: FairFace's race whose demo skin tone draws each UTKFace race
_DEMO_SKIN = {"White": 0, "Black": 1, "Asian": 3, "Indian": 5, "Others": 2}


def write_demo_utkface(
    out: str | Path, n_faces: int = 600, size: int = 64, seed: int = 0, n_bad: int = 3
) -> dict[str, int]:
    """A synthetic ``UTKFace.tar.gz`` in the release's naming, with ``n_bad`` names missing
    their race field (as a few of the release's do)."""
    from clipfair.data.demo import draw_face

    rng = np.random.default_rng(seed)
    out = Path(out)
    with atomic_path(out) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for i in range(n_faces + n_bad):
            age = int(rng.choice([1, 5, 15, 25, 35, 45, 55, 65, 80]) + rng.integers(0, 3))
            gender, race = int(rng.integers(2)), int(rng.integers(len(UTK_RACES)))
            stamp = 20170100000000000 + i
            fields = [age, gender, race, stamp] if i < n_faces else [age, gender, stamp]
            name = "UTKFace/" + "_".join(map(str, fields)) + ".jpg.chip.jpg"
            age_code = AGES.index(age_group(age))
            img = draw_face(rng, age_code, gender, _DEMO_SKIN[UTK_RACES[race]], size)
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=90)
            member = tarfile.TarInfo(name)
            member.size, member.mtime = len(buf.getvalue()), 1_500_000_000
            tar.addfile(member, io.BytesIO(buf.getvalue()))
    return {"faces": n_faces, "bad_names": n_bad}
