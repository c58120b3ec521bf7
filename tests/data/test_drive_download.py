"""The downloader against the Drive-like server on 127.0.0.1: each confirm-page variant that
gdown's parser knows, Drive's quota page, resume through the confirm page, share links."""

from __future__ import annotations

import hashlib
import json

import pytest

from clipfair.data.download import DownloadError, Expected, download, drive_download_url
from clipfair.rehearsal.drive_server import file_etag, serving

PAYLOAD = bytes(range(256)) * 8192  # 2 MiB: over the server's confirm threshold


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "drive"
    src.mkdir()
    (src / "images.zip").write_bytes(PAYLOAD)
    (src / "labels.csv").write_bytes(b"file,age\n")
    return src


@pytest.mark.parametrize("variant", ["form", "json"])
def test_each_confirm_page_variant_leads_to_the_file(folder, tmp_path, variant):
    with serving(folder, confirm_over=1 << 20, variant=variant) as srv:
        sha = hashlib.sha256(PAYLOAD).hexdigest()
        target = download(srv.url("images.zip"), tmp_path / "a.zip", Expected(len(PAYLOAD), sha))
        small = download(srv.url("labels.csv"), tmp_path / "labels.csv")
    assert target.read_bytes() == PAYLOAD and small.read_bytes() == b"file,age\n"
    paths = [p for p, _ in srv.requests]
    assert paths[0].startswith("/uc?") and paths[1].startswith("/download?")  # page, then file
    assert "confirm=t" in paths[1] and paths[2].startswith("/uc?")  # the small file: no page
    assert sorted(p.name for p in tmp_path.glob("a.zip*")) == ["a.zip"]


def test_drive_quota_page_is_an_error_quoting_drive(folder, tmp_path):
    with (
        serving(folder, variant="quota") as srv,
        pytest.raises(DownloadError, match=r"Too many users have viewed or downloaded"),
    ):
        download(srv.url("images.zip"), tmp_path / "a.zip", retries=0)
    assert not (tmp_path / "a.zip").exists()


def test_an_interrupted_drive_download_resumes_through_the_confirm_page(folder, tmp_path):
    target, part = tmp_path / "a.zip", tmp_path / "a.zip.part"
    with serving(folder) as srv:
        url = srv.url("images.zip")
        # An interruption: 700 kB arrived, with the record of where they came from.
        part.write_bytes(PAYLOAD[:700_000])
        record = {"url": url, "validator": file_etag(folder / "images.zip"), "total": len(PAYLOAD)}
        (tmp_path / "a.zip.part.json").write_text(json.dumps(record))
        download(url, target, Expected(sha256=hashlib.sha256(PAYLOAD).hexdigest()), retries=0)
    assert target.read_bytes() == PAYLOAD
    assert srv.requests[-1][1] == "bytes=700000-"  # the file request after the page: the rest


def test_a_drive_share_link_is_read_as_its_download_url():
    share = "https://drive.google.com/file/d/1Z1RqRo0_JiavaZw2yzZG6WETdZQ8qX86/view?usp=sharing"
    assert drive_download_url(share) == (
        "https://drive.google.com/uc?export=download&id=1Z1RqRo0_JiavaZw2yzZG6WETdZQ8qX86"
    )
    plain = "http://127.0.0.1:8000/file/d/x/view"
    assert drive_download_url(plain) == plain  # not Drive: untouched
