"""FairFace from the Hugging Face hub's parquet (``HuggingFaceM4/FairFace``), converted at the
edge into the official release layout (images.zip + label CSVs with canonical strings), so
ingestion and everything after it cannot tell which source was used.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from clipfair.data.demo import ZIP_DATE
from clipfair.data.layout import CSV_HEADER, IMAGES_ZIP, SPLITS, label_csv
from clipfair.errors import InputError, LoadError, MissingFileError
from clipfair.io import atomic_path
from clipfair.labels import HF_CLASSLABELS, TASKS
from clipfair.progress import progress

#: hub split name -> release split
SPLIT_NAMES = {"train": "train", "validation": "val", "val": "val"}


def split_of(path: Path) -> str:
    """Release split of a parquet shard, from its file or folder name."""
    for part in (path.stem, path.parent.name):
        for hub, split in SPLIT_NAMES.items():
            if part == hub or part.startswith(f"{hub}-") or part.startswith(f"{hub}_"):
                return split
    raise InputError(
        f"{path}: cannot tell the split (expected 'train' or 'validation' in the name)"
    )


def shards_by_split(folder: str | Path) -> dict[str, list[Path]]:
    """{split: sorted parquet shards} found below ``folder``."""
    out: dict[str, list[Path]] = {s: [] for s in SPLITS}
    for path in sorted(Path(folder).rglob("*.parquet")):
        out[split_of(path)].append(path)
    missing = [s for s, files in out.items() if not files]
    if missing:
        raise MissingFileError(f"{folder}: no parquet shards for split(s) {missing}")
    return out


def _label(task: str, value: Any, where: str) -> str:
    labels = HF_CLASSLABELS[task]
    if not isinstance(value, int) or not 0 <= value < len(labels):
        raise InputError(f"{where}: {task} {value!r} is not a ClassLabel 0..{len(labels) - 1}")
    return labels[value]


def parquet_to_release(shards: dict[str, list[Path]], out_dir: str | Path) -> dict[str, int]:
    """Write images.zip and the label CSVs from hub parquet shards; return counts per split."""
    out_dir = Path(out_dir)
    counts: dict[str, int] = {}
    rows: dict[str, list[tuple[str, ...]]] = {}
    with (
        atomic_path(out_dir / IMAGES_ZIP) as tmp_zip,
        zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_STORED) as zf,
    ):
        for split, files in shards.items():
            rows[split] = []
            bar = progress(desc=f"convert {split}", unit="img")
            for shard in files:
                table = pq.ParquetFile(shard)
                shard_row = 0
                for batch in table.iter_batches(columns=["image", *TASKS, "service_test"]):
                    for record in batch.to_pylist():
                        i = len(rows[split]) + 1
                        shard_row += 1
                        where = f"{shard} row {shard_row}"
                        image = record["image"]
                        data = image.get("bytes") if isinstance(image, dict) else None
                        if not data:
                            raise InputError(f"{where}: no image bytes")
                        name = f"{split}/{i}.jpg"
                        zf.writestr(zipfile.ZipInfo(name, date_time=ZIP_DATE), data)
                        labels = [_label(t, record[t], where) for t in TASKS]
                        rows[split].append((name, *labels, str(bool(record["service_test"]))))
                        bar.update(1)
            bar.close()
            counts[split] = len(rows[split])
    for split, split_rows in rows.items():
        with atomic_path(out_dir / label_csv(split)) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_HEADER)
            writer.writerows(split_rows)
    return counts


def download_shards(repo: str, config: str, revision: str, cache_dir: str | None) -> Path:
    """Fetch (or find in the cache, honouring HF_HUB_OFFLINE) the shards of one config."""
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo_id=repo,
            repo_type="dataset",
            revision=revision,
            cache_dir=cache_dir,
            allow_patterns=[f"{config}/*.parquet", f"{config}/**/*.parquet"],
        )
    except Exception as exc:  # hub errors have many types; say what to do
        raise LoadError(
            f"could not get {repo} config {config!r} (revision {revision}) from the hub: {exc}. "
            "Offline? Download it elsewhere into the Hugging Face cache (cache_dir of "
            "params.yaml) or point `local_dir` of the source at a folder of its parquet files."
        ) from exc
    return Path(folder) / config
