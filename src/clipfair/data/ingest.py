"""Ingest a FairFace-format release: validated labels -> parquet index, JPEGs -> uint8 cache.

The zip is read in place (no extraction to disk): member names are checked (no absolute
paths, no `..`, no symlink entries) so nothing can escape the target, and each JPEG is
decoded exactly once into a memory-mapped ``(N, S, S, 3)`` uint8 array that every later
step shares.
"""

from __future__ import annotations

import csv
import io
import stat
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from clipfair.data.layout import CSV_HEADER, IMAGES_ZIP, label_csv
from clipfair.errors import InputError
from clipfair.image_cache import CacheReader, CacheWriter
from clipfair.io import atomic_path, write_parquet
from clipfair.labels import TASKS, VOCAB
from clipfair.progress import progress

MAX_REPORTED = 20


class IngestError(InputError):
    """The release does not match FairFace's format; the message lists the bad items."""


def _raise_if(problems: list[str], what: str) -> None:
    """IngestError listing the first problems; all of them go to stderr (the rule's log)."""
    if problems:
        shown = "\n  ".join(problems[:MAX_REPORTED])
        more = ""
        if len(problems) > MAX_REPORTED:
            more = f"\n  ... and {len(problems) - MAX_REPORTED} more (all listed above)"
            print(f"{what}:", *problems, sep="\n  ", file=sys.stderr)
        raise IngestError(f"{what}: {len(problems)} problem(s)\n  {shown}{more}")


@dataclass(frozen=True)
class BadRow:
    """One row that cannot be used, with where it came from and why."""

    where: str  # "<csv>:<line>" or the zip
    file: str
    reason: str

    def __str__(self) -> str:
        return (
            f"{self.where} ({self.file}): {self.reason}"
            if self.file
            else f"{self.where}: {self.reason}"
        )


def parse_labels(csv_path: str | Path, split: str) -> tuple[pd.DataFrame, list[BadRow]]:
    """Read one label CSV: the index of the valid rows (labels as strings and codes) and the
    rows that are not valid (wrong field count, unknown label, duplicate, wrong split)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise IngestError(f"{csv_path}: label file not found")
    with open(csv_path, newline="") as fh:
        reader = csv.reader(fh)
        header = tuple(next(reader, ()))
        if header != CSV_HEADER:
            raise IngestError(f"{csv_path}: header is {list(header)}; expected {list(CSV_HEADER)}")
        rows = list(reader)
    if not rows:
        raise IngestError(f"{csv_path}: no rows")
    bad: list[BadRow] = []
    good: list[list[str]] = []
    lines: list[int] = []
    seen: dict[str, int] = {}
    noted_first: set[int] = set()
    for lineno, row in enumerate(rows, start=2):
        where = f"{csv_path}:{lineno}"
        if len(row) != len(CSV_HEADER):
            bad.append(
                BadRow(
                    where, row[0] if row else "", f"{len(row)} fields; expected {len(CSV_HEADER)}"
                )
            )
            continue
        record = dict(zip(CSV_HEADER, row, strict=True))
        name = record["file"]
        reasons = []
        if not name.startswith(f"{split}/"):
            reasons.append(f"file {name!r} is not under '{split}/'")
        if name in seen:
            reasons.append(f"file {name!r} repeats line {seen[name]}")
            if seen[name] not in noted_first:  # the first copy goes too: say so at its line
                noted_first.add(seen[name])
                bad.append(
                    BadRow(
                        f"{csv_path}:{seen[name]}",
                        name,
                        f"listed again at line {lineno}; every copy is dropped",
                    )
                )
        for task in TASKS:
            if record[task] not in VOCAB[task]:
                reasons.append(
                    f"unknown {task} {record[task]!r}; expected one of {list(VOCAB[task])}"
                )
        if record["service_test"] not in ("True", "False"):
            reasons.append(f"service_test {record['service_test']!r}; expected True/False")
        seen.setdefault(name, lineno)
        if reasons:
            bad.extend(BadRow(where, name, reason) for reason in reasons)
        else:
            good.append(row)
            lines.append(lineno)
    df = pd.DataFrame(good, columns=list(CSV_HEADER))
    df["service_test"] = df["service_test"] == "True"
    df.insert(1, "split", split)
    for task in TASKS:
        df[f"{task}_code"] = df[task].map({label: i for i, label in enumerate(VOCAB[task])})
    df["line"] = lines
    return df, bad


def read_labels(csv_path: str | Path, split: str) -> pd.DataFrame:
    """The validated index of one label CSV; IngestError listing every bad row if any."""
    df, bad = parse_labels(csv_path, split)
    _raise_if([str(b) for b in bad], f"{csv_path}: invalid labels")
    return df


def check_member(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry is unsafe to use (absolute, `..`, symlink), or None if it is fine."""
    name = info.filename
    parts = PurePosixPath(name).parts
    if name.startswith("/") or "\\" in name or ".." in parts or (parts and ":" in parts[0]):
        return f"{name!r}: path escapes the archive folder"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"{name!r}: symbolic link"
    return None


def decode_image(data: bytes, name: str, size: int) -> np.ndarray:
    """JPEG bytes -> (size, size, 3) uint8 RGB; IngestError naming ``name`` if unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.draft("RGB", (size, size))
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BICUBIC)
            return np.asarray(im, dtype=np.uint8)
    except Exception as exc:  # PIL raises many types for broken files
        raise IngestError(f"{name}: cannot decode image ({exc})") from exc


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _decode_or_reason(data: bytes, name: str, size: int) -> np.ndarray | str:
    try:
        return decode_image(data, name, size)
    except IngestError as exc:
        return str(exc).split(": ", 1)[1]


def open_zip(zip_path: str | Path) -> zipfile.ZipFile:
    """The release zip; IngestError naming it when it is not a readable zip or is empty."""
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise IngestError(
            f"{zip_path}: not a readable zip archive ({exc}); the download may be truncated "
            "or damaged: delete it and run the acquire rule again"
        ) from None
    if not zf.infolist():
        zf.close()
        raise IngestError(f"{zip_path}: the archive is empty (no members)")
    return zf


def member_problems(zip_path: Path, files: list[str]) -> tuple[list[BadRow], list[BadRow]]:
    """(listed files missing from the zip or unsafe to read, unlisted members refused as
    unsafe: absolute paths, `..`, symlinks, which nothing would ever extract)."""
    with open_zip(zip_path) as zf:
        infos = {info.filename: info for info in zf.infolist()}
    bad = []
    listed = set(files)
    for name in files:
        if name not in infos:
            bad.append(BadRow(str(zip_path), name, "listed in the labels but missing from the zip"))
        elif problem := check_member(infos[name]):
            bad.append(BadRow(str(zip_path), name, problem.split(": ", 1)[1]))
    refused = [
        BadRow(str(zip_path), name, f"refused member: {problem.split(': ', 1)[1]}")
        for name, info in infos.items()
        if name not in listed and (problem := check_member(info))
    ]
    return bad, refused


def _read_or_reason(read: Callable[[str], bytes], name: str) -> bytes | str:
    """A member's bytes, or why they cannot be read (bad CRC, truncated data, bad header)."""
    try:
        return read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        return f"cannot read it from the archive ({type(exc).__name__}: {exc})"


def decode_into_cache(
    read: Callable[[str], bytes],
    source: str,
    files: list[str],
    out_npy: str | Path,
    size: int,
    threads: int = 2,
    strict: bool = True,
) -> list[BadRow]:
    """Decode ``files`` (``read(name)`` gives a file's bytes: a zip's or a tar's member, a
    folder's file) into a (N, size, size, 3) uint8 .npy, atomically.

    ``strict``: an unreadable or undecodable image raises IngestError listing them all, and
    nothing is written. Otherwise their rows are left black and returned, for ``drop_rows``.
    """
    failed: list[BadRow] = []
    with CacheWriter(out_npy, len(files), size) as cache:
        bar = progress(total=len(files), desc=f"decode {Path(out_npy).name}", unit="img")
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for chunk in _chunks(files, 512):
                blobs = [_read_or_reason(read, name) for name in chunk]
                readable = [i for i, b in enumerate(blobs) if isinstance(b, bytes)]
                decoded = dict(
                    zip(
                        readable,
                        pool.map(
                            _decode_or_reason,
                            [blobs[i] for i in readable],
                            [chunk[i] for i in readable],
                            [size] * len(readable),
                        ),
                        strict=True,
                    )
                )
                rows = np.zeros((len(chunk), size, size, 3), np.uint8)  # failed rows stay black
                for offset, name in enumerate(chunk):
                    arr = decoded.get(offset, blobs[offset])
                    if isinstance(arr, np.ndarray):
                        rows[offset] = arr
                    else:
                        failed.append(BadRow(source, name, arr))
                cache.write(rows)
                bar.update(len(chunk))
        bar.close()
        if strict:
            _raise_if([str(b) for b in failed], f"{source}: unreadable or undecodable images")
    return failed


def decode_keeping_good_rows(
    read: Callable[[str], bytes],
    source: str,
    index: pd.DataFrame,
    out_npy: str | Path,
    size: int,
    threads: int,
    strict: bool,
) -> tuple[pd.DataFrame, list[BadRow]]:
    """:func:`decode_into_cache` of ``index["file"]``; the rows whose image could not be read
    or decoded leave the cache and the index (returned with them as bad rows)."""
    failed = decode_into_cache(
        read, source, index["file"].tolist(), out_npy, size, threads, strict=strict
    )
    if failed:
        keep = ~index["file"].isin({b.file for b in failed}).to_numpy()
        drop_rows(out_npy, keep)
        index = index[keep].reset_index(drop=True)
    return index, failed


def drop_rows(npy_path: str | Path, keep: np.ndarray) -> None:
    """Rewrite a cache keeping the rows where ``keep`` is True (atomically)."""
    images = CacheReader(npy_path)
    kept = np.flatnonzero(keep)
    with CacheWriter(npy_path, len(kept), images.shape[1]) as out:
        for lo in range(0, len(kept), 512):
            out.write(images[kept[lo : lo + 512]])
    images.close()


def check_expected(index: pd.DataFrame, expect: dict[str, Any] | None, what: str) -> list[str]:
    """Differences between the split and its expected counts (``rows`` and per-label counts)."""
    if not expect:
        return []
    problems = []
    if "rows" in expect and len(index) != expect["rows"]:
        problems.append(f"{what}: {len(index)} rows; expected {expect['rows']}")
    for task in TASKS:
        for label, n in (expect.get(task) or {}).items():
            got = int((index[task] == label).sum())
            if got != n:
                problems.append(f"{what}: {got} rows with {task} {label!r}; expected {n}")
    return problems


def _raise_if_empty(index: pd.DataFrame, csv_path: Path, bad: list[BadRow]) -> None:
    """No usable rows is an error in every mode (an empty or wrong archive, not a result)."""
    if index.empty:
        _raise_if(
            [str(b) for b in bad] or ["(no rows)"],
            f"{csv_path}: no usable rows left ({len(bad)} bad); nothing to ingest",
        )


def write_report(path: str | Path, bad: list[BadRow], notes: list[str]) -> None:
    """CSV of the rejected rows (where, file, reason) plus count notes, atomically."""
    rows = [(b.where, b.file, b.reason) for b in bad] + [("expected counts", "", n) for n in notes]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["where", "file", "reason"])
        writer.writerows(rows)


def ingest_split(
    raw_dir: str | Path,
    split: str,
    out_index: str | Path,
    out_images: str | Path,
    image_size: int,
    threads: int = 2,
    *,
    on_bad_rows: str = "fail",
    expect: dict[str, Any] | None = None,
    report: str | Path | None = None,
    on_count_mismatch: str = "fail",
) -> pd.DataFrame:
    """Validate ``split`` of the release in ``raw_dir``; write its index and image cache.

    Bad rows (invalid labels, duplicates, missing, unsafe, unreadable or undecodable images)
    fail the split by default, listing them (``on_bad_rows="fail"``), or are dropped and
    listed in ``report`` (``"skip"``); unsafe members the labels do not list are refused
    the same way. Expected counts (``expect``: rows, per-label counts) that do not match fail
    the split in either mode unless ``on_count_mismatch="note"`` (then they are notes in the
    report). A split left with no rows is an error in every mode.
    """
    if on_bad_rows not in ("fail", "skip"):
        raise InputError(f"on_bad_rows must be 'fail' or 'skip'; got {on_bad_rows!r}")
    if on_count_mismatch not in ("fail", "note"):
        raise InputError(f"on_count_mismatch must be 'fail' or 'note'; got {on_count_mismatch!r}")
    raw_dir = Path(raw_dir)
    csv_path = raw_dir / label_csv(split)
    index, bad = parse_labels(csv_path, split)
    missing, refused = member_problems(raw_dir / IMAGES_ZIP, index["file"].tolist())
    bad += missing + refused
    if on_bad_rows == "fail":
        _raise_if([str(b) for b in bad], f"{csv_path}: bad rows (on_bad_rows: skip drops them)")
    index = index[~index["file"].isin({b.file for b in bad})].reset_index(drop=True)
    _raise_if_empty(index, csv_path, bad)
    counts = check_expected(index, expect, f"{csv_path}")
    if on_bad_rows == "fail" and on_count_mismatch == "fail":
        _raise_if(counts, f"{csv_path}: not the expected release")
    out_images = Path(out_images)
    staged = out_images.with_name(f".{out_images.name}.staged.npy")  # ours until all checks pass
    try:
        zip_path = raw_dir / IMAGES_ZIP
        with open_zip(zip_path) as zf:
            index, failed = decode_keeping_good_rows(
                zf.read, str(zip_path), index, staged, image_size, threads,
                strict=on_bad_rows == "fail",
            )  # fmt: skip
        if failed:
            bad += failed
            _raise_if_empty(index, csv_path, bad)
            counts = check_expected(index, expect, f"{csv_path}")
        if counts and on_count_mismatch == "fail":
            for b in bad:  # what was dropped, for the rule's log
                print(b, file=sys.stderr)
            _raise_if(
                counts,
                f"{csv_path}: after dropping {len(bad)} bad row(s), not the expected counts "
                "(on_count_mismatch: note accepts that)",
            )
        if report is not None:
            write_report(report, bad, counts)
        staged.replace(out_images)
    finally:
        staged.unlink(missing_ok=True)
    index["row"] = np.arange(len(index))
    write_parquet(out_index, index)
    return index
