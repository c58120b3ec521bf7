"""The hub's parquet source ends in the same release and index as the official files."""

import csv
import zipfile

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipfair.data.ingest import ingest_split
from clipfair.data.sources import fetch
from clipfair.labels import HF_CLASSLABELS, TASKS


def _to_hub_parquet(release, folder, rows_per_shard=70):
    """The release as the hub stores it: image bytes + ClassLabel ints, sharded per split."""
    folder.mkdir()
    with zipfile.ZipFile(release / "images.zip") as zf:
        for split, hub_split in (("train", "train"), ("val", "validation")):
            with open(release / f"fairface_label_{split}.csv", newline="") as fh:
                rows = list(csv.DictReader(fh))
            records = [
                {
                    "image": {"bytes": zf.read(r["file"]), "path": None},
                    **{t: HF_CLASSLABELS[t].index(r[t]) for t in TASKS},
                    "service_test": r["service_test"] == "True",
                }
                for r in rows
            ]
            for k in range(0, len(records), rows_per_shard):
                table = pa.Table.from_pylist(records[k : k + rows_per_shard])
                pq.write_table(table, folder / f"{hub_split}-{k // rows_per_shard:05d}.parquet")


def test_both_sources_give_identical_canonical_labels(small_release, tmp_path):
    _to_hub_parquet(small_release, tmp_path / "hub")
    out = tmp_path / "raw"
    fetch(
        {"kind": "hf_parquet", "repo": "x/y", "config": "0.25", "local_dir": str(tmp_path / "hub")},
        out,
        "fairface",
    )
    for split in ("train", "val"):
        official = pd.read_csv(small_release / f"fairface_label_{split}.csv")
        converted = pd.read_csv(out / f"fairface_label_{split}.csv")
        pd.testing.assert_frame_equal(official, converted)
        a = ingest_split(
            small_release, split, tmp_path / f"a_{split}.parquet", tmp_path / f"a_{split}.npy", 32
        )
        b = ingest_split(
            out, split, tmp_path / f"b_{split}.parquet", tmp_path / f"b_{split}.npy", 32
        )
        pd.testing.assert_frame_equal(a, b)
    with (
        zipfile.ZipFile(small_release / "images.zip") as za,
        zipfile.ZipFile(out / "images.zip") as zb,
    ):
        assert za.read("val/5.jpg") == zb.read("val/5.jpg")


def test_out_of_range_class_label_is_named(small_release, tmp_path):
    _to_hub_parquet(small_release, tmp_path / "hub")
    shard = tmp_path / "hub" / "validation-00001.parquet"  # rows are counted per shard
    table = pq.read_table(shard).to_pylist()
    table[3]["race"] = 9
    pq.write_table(pa.Table.from_pylist(table), shard)
    with pytest.raises(ValueError, match=r"validation-00001.parquet row 4: race 9 is not"):
        fetch(
            {
                "kind": "hf_parquet",
                "repo": "x/y",
                "config": "0.25",
                "local_dir": str(tmp_path / "hub"),
            },
            tmp_path / "raw",
            "fairface",
        )
    assert not (tmp_path / "raw" / "images.zip").exists()
