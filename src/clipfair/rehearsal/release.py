"""The full-size rehearsal's source: a synthetic FairFace release at the real size, served by
a local Drive-like server and fetched through the real downloader.

``write_release`` writes what the FairFace README links: the image zip under its official name
(``fairface-img-margin025-trainval.zip`` for padding 0.25) with members ``train/<i>.jpg`` and
``val/<i>.jpg``, and ``fairface_label_{train,val}.csv`` with the release's header. Faces are
the demo's drawings at ``image_size`` px; their labels follow FairFace's per-attribute counts
(``FAIRFACE_COUNTS``) exactly at the published size (86,744 / 10,954), proportionally at any
other. Generation is deterministic (one seed per chunk of rows, whatever the number of
workers) and spreads over ``workers`` processes. ``release.json`` beside the files records the
parameters, each file's size and sha256, and the time it took; a release whose parameters
match is reused.

``fetch`` serves that folder with :mod:`clipfair.rehearsal.drive_server` on 127.0.0.1 (confirm
page, Range, ETag) and downloads each file with :func:`clipfair.data.download.download`,
verified against the recorded size and sha256: the path a real run takes, minus the internet.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from clipfair.data.demo import ZIP_DATE, draw_face, write_label_csvs
from clipfair.data.download import Expected, download, sha256_of
from clipfair.data.layout import IMAGES_ZIP, OFFICIAL_ZIPS, RELEASE_FILES, label_csv
from clipfair.io import atomic_path, write_json
from clipfair.labels import AGES, GENDERS, RACES
from clipfair.progress import progress
from clipfair.rehearsal.drive_server import serving

# Rows per label in FairFace's label CSVs (padding 0.25), per split; sums are 86,744 / 10,954.
# The val counts are those the project's reference file lists for fface_val.csv; the train
# counts are FairFace's as commonly quoted and sum to 86,744, but were not read from the CSV
# here (no internet): they only shape the rehearsal's synthetic labels.
FAIRFACE_COUNTS: dict[str, dict[str, dict[str, int]]] = {
    "train": {
        "age": {"0-2": 1792, "3-9": 10408, "10-19": 9103, "20-29": 25598, "30-39": 19250,
                "40-49": 10744, "50-59": 6228, "60-69": 2779, "more than 70": 842},
        "gender": {"Male": 45986, "Female": 40758},
        "race": {"White": 16527, "Latino_Hispanic": 13367, "Indian": 12319, "East Asian": 12287,
                 "Black": 12233, "Southeast Asian": 10795, "Middle Eastern": 9216},
    },
    "val": {
        "age": {"0-2": 199, "3-9": 1356, "10-19": 1181, "20-29": 3300, "30-39": 2330,
                "40-49": 1353, "50-59": 796, "60-69": 321, "more than 70": 118},
        "gender": {"Male": 5792, "Female": 5162},
        "race": {"White": 2085, "Latino_Hispanic": 1623, "Indian": 1516, "East Asian": 1550,
                 "Black": 1556, "Southeast Asian": 1415, "Middle Eastern": 1209},
    },
}  # fmt: skip
CHUNK = 500  # rows per generation task (and per seed)
MANIFEST = "release.json"


def scaled_counts(counts: dict[str, int], n: int) -> dict[str, int]:
    """``counts`` scaled to sum to ``n`` (largest remainders), every label kept if n allows."""
    total = sum(counts.values())
    raw = {k: v * n / total for k, v in counts.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - out[k], reverse=True)[: n - sum(out.values())]:
        out[k] += 1
    return out


def split_labels(split: str, n: int, seed: int) -> np.ndarray:
    """(n, 3) canonical codes (age, gender, race) with FairFace's counts per attribute (scaled
    to ``n``), each attribute shuffled independently."""
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    columns = []
    for attr, vocab in (("age", AGES), ("gender", GENDERS), ("race", RACES)):
        counts = scaled_counts(FAIRFACE_COUNTS[split][attr], n)
        codes = np.repeat([vocab.index(k) for k in counts], list(counts.values()))
        columns.append(rng.permutation(codes))
    return np.stack(columns, axis=1)


def _render(task: tuple[int, int, int, np.ndarray, int, int]) -> list[bytes]:
    """JPEG bytes of one chunk of rows (its own seed: the same bytes on any worker)."""
    seed, split_id, chunk_id, labels, size, quality = task
    rng = np.random.default_rng([seed, split_id, chunk_id])
    out = []
    for age, gender, race in labels:
        face = draw_face(rng, int(age), int(gender), int(race), size, bool(rng.random() < 0.15))
        buf = io.BytesIO()
        face.save(buf, "JPEG", quality=quality)
        out.append(buf.getvalue())
    return out


def write_release(
    out_dir: str | Path,
    n_train: int,
    n_val: int,
    image_size: int,
    seed: int,
    padding: str,
    workers: int,
    quality: int,
) -> dict[str, Any]:
    """Write the release into ``out_dir`` (reused when its manifest matches); its manifest.
    The settings are the rehearsal source's (their defaults: its SCHEMA)."""
    out_dir = Path(out_dir)
    settings = {"n_train": n_train, "n_val": n_val, "image_size": image_size, "seed": seed,
                "padding": padding, "quality": quality}  # fmt: skip
    manifest_path = out_dir / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        files_ok = all(
            (out_dir / n).is_file() and (out_dir / n).stat().st_size == f["size"]
            for n, f in manifest.get("files", {}).items()
        )
        if manifest.get("settings") == settings and files_ok:
            print(f"rehearsal release in {out_dir} is current: reused")
            return manifest
    t0 = time.perf_counter()
    zip_name = OFFICIAL_ZIPS[padding]
    labels = {
        "train": split_labels("train", n_train, seed),
        "val": split_labels("val", n_val, seed),
    }
    bar = progress(total=n_train + n_val, desc=f"write {zip_name}", unit="img")
    ctx = multiprocessing.get_context("fork")
    with (
        atomic_path(out_dir / zip_name) as tmp,
        ctx.Pool(workers) as pool,
        zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf,
    ):
        for split_id, split in enumerate(("train", "val")):
            tasks = [
                (seed, split_id, c, labels[split][lo : lo + CHUNK], image_size, quality)
                for c, lo in enumerate(range(0, len(labels[split]), CHUNK))
            ]
            i = 0
            for jpegs in pool.imap(_render, tasks):
                for jpeg in jpegs:
                    i += 1
                    info = zipfile.ZipInfo(f"{split}/{i}.jpg", date_time=ZIP_DATE)
                    zf.writestr(info, jpeg)
                bar.update(len(jpegs))
    bar.close()
    service = np.random.default_rng([seed, 2])
    write_label_csvs(
        out_dir,
        {
            split: [
                (f"{split}/{i}.jpg", AGES[age], GENDERS[gender], RACES[race],
                 "True" if service.random() < 0.5 else "False")
                for i, (age, gender, race) in enumerate(codes, start=1)
            ]
            for split, codes in labels.items()
        },
    )  # fmt: skip
    names = [zip_name, label_csv("train"), label_csv("val")]
    manifest = {
        "settings": settings,
        "files": {
            n: {"size": (out_dir / n).stat().st_size, "sha256": sha256_of(out_dir / n)}
            for n in names
        },
        "seconds": round(time.perf_counter() - t0, 1),
        "workers": workers,
    }
    write_json(manifest_path, manifest)
    print(f"wrote the rehearsal release ({n_train} + {n_val} images) in {manifest['seconds']} s")
    return manifest


def fetch(source: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write (or reuse) the rehearsal release, serve it Drive-style on 127.0.0.1 and download
    it into ``out_dir`` under the release layout's names, verified against its manifest."""
    padding = source["padding"]
    folder = Path(source["folder"]) / padding
    manifest = write_release(
        folder,
        source["n_train"],
        source["n_val"],
        source["image_size"],
        source["seed"],
        padding,
        source["workers"],
        source["quality"],
    )
    remote = {IMAGES_ZIP: OFFICIAL_ZIPS[padding]} | {n: n for n in RELEASE_FILES[1:]}
    out_dir = Path(out_dir)
    with serving(folder, confirm_over=source["confirm_over"]) as srv:
        for name in RELEASE_FILES:
            record = manifest["files"][remote[name]]
            t0 = time.perf_counter()
            download(
                srv.url(remote[name]), out_dir / name, Expected(record["size"], record["sha256"])
            )
            dt = time.perf_counter() - t0
            print(f"downloaded {remote[name]} -> {name}: {record['size'] / 1e6:.1f} MB in "
                  f"{dt:.1f} s, size and sha256 verified")  # fmt: skip
    return [out_dir / n for n in RELEASE_FILES]
