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
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image
from clipfair.progress import progress

from clipfair.data.layout import CSV_HEADER, IMAGES_ZIP, label_csv
from clipfair.io import atomic_path, write_parquet
from clipfair.labels import TASKS, VOCAB

MAX_REPORTED = 20


class IngestError(ValueError):
    """The release does not match FairFace's format; the message lists the bad items."""


def _raise_if(problems: list[str], what: str) -> None:
    if problems:
        shown = "\n  ".join(problems[:MAX_REPORTED])
        more = f"\n  ... and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
        raise IngestError(f"{what}: {len(problems)} problem(s)\n  {shown}{more}")


def read_labels(csv_path: str | Path, split: str) -> pd.DataFrame:
    """Read and validate one label CSV; return the index (labels as strings and codes)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise IngestError(f"{csv_path}: label file not found")
    with open(csv_path, newline="") as fh:
        reader = csv.reader(fh)
        header = tuple(next(reader, ()))
        if header != CSV_HEADER:
            raise IngestError(
                f"{csv_path}: header is {list(header)}; expected {list(CSV_HEADER)}"
            )
        rows = list(reader)
    problems: list[str] = []
    seen: dict[str, int] = {}
    for lineno, row in enumerate(rows, start=2):
        where = f"{csv_path}:{lineno}"
        if len(row) != len(CSV_HEADER):
            problems.append(f"{where}: {len(row)} fields; expected {len(CSV_HEADER)}")
            continue
        record = dict(zip(CSV_HEADER, row, strict=True))
        if not record["file"].startswith(f"{split}/"):
            problems.append(f"{where}: file {record['file']!r} is not under '{split}/'")
        if record["file"] in seen:
            problems.append(f"{where}: file {record['file']!r} repeats line {seen[record['file']]}")
        seen[record["file"]] = lineno
        for task in TASKS:
            if record[task] not in VOCAB[task]:
                problems.append(
                    f"{where} ({record['file']}): unknown {task} {record[task]!r}; "
                    f"expected one of {list(VOCAB[task])}"
                )
        if record["service_test"] not in ("True", "False"):
            problems.append(f"{where}: service_test {record['service_test']!r}; expected True/False")
    _raise_if(problems, f"{csv_path}: invalid labels")
    if not rows:
        raise IngestError(f"{csv_path}: no rows")
    df = pd.DataFrame(rows, columns=list(CSV_HEADER))
    df["service_test"] = df["service_test"] == "True"
    df.insert(1, "split", split)
    for task in TASKS:
        df[f"{task}_code"] = df[task].map({label: i for i, label in enumerate(VOCAB[task])})
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


def decode_to_cache(
    zip_path: str | Path, files: list[str], out_npy: str | Path, size: int, threads: int = 2
) -> None:
    """Decode ``files`` from the zip into a (N, size, size, 3) uint8 .npy, atomically."""
    zip_path = Path(zip_path)
    with zipfile.ZipFile(zip_path) as zf:
        infos = {info.filename: info for info in zf.infolist()}
        problems = [p for name in files if name in infos and (p := check_member(infos[name]))]
        problems += [f"{name!r}: listed in the labels but missing from {zip_path}"
                     for name in files if name not in infos]
        _raise_if(problems, f"{zip_path}: bad or missing images")
        with atomic_path(out_npy) as tmp:
            cache = np.lib.format.open_memmap(
                tmp, mode="w+", dtype=np.uint8, shape=(len(files), size, size, 3)
            )
            bar = progress(total=len(files), desc=f"decode {Path(out_npy).name}", unit="img")
            with ThreadPoolExecutor(max_workers=threads) as pool:
                start = 0
                for chunk in _chunks(files, 512):
                    blobs = [zf.read(name) for name in chunk]
                    decoded = pool.map(decode_image, blobs, chunk, [size] * len(chunk))
                    for offset, arr in enumerate(decoded):
                        cache[start + offset] = arr
                    start += len(chunk)
                    bar.update(len(chunk))
            bar.close()
            cache.flush()
            del cache


def ingest_split(
    raw_dir: str | Path,
    split: str,
    out_index: str | Path,
    out_images: str | Path,
    image_size: int,
    threads: int = 2,
) -> pd.DataFrame:
    """Validate ``split`` of the release in ``raw_dir``; write its index and image cache."""
    raw_dir = Path(raw_dir)
    index = read_labels(raw_dir / label_csv(split), split)
    decode_to_cache(raw_dir / IMAGES_ZIP, index["file"].tolist(), out_images, image_size, threads)
    index["row"] = np.arange(len(index))
    write_parquet(out_index, index)
    return index
