import functools
import hashlib
import http.server
import shutil
import threading

import pytest

from clipfair.data.layout import RELEASE_FILES
from clipfair.data.sources import fetch


@pytest.fixture
def http_root(small_release):
    """A real HTTP server on 127.0.0.1 serving the small release folder."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(small_release))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_source_fetches_and_verifies(http_root, small_release, tmp_path):
    source = {
        "kind": "download",
        "files": {name: f"{http_root}/{name}" for name in RELEASE_FILES},
        "sha256": {name: _sha(small_release / name) for name in RELEASE_FILES},
    }
    out = fetch(source, tmp_path / "raw", "fairface")
    files = [out / name for name in RELEASE_FILES]
    assert all(f.is_file() for f in files)
    assert all(_sha(f) == _sha(small_release / f.name) for f in files)


def test_failed_download_names_url_target_and_manual_step(http_root, tmp_path):
    source = {
        "kind": "download",
        "files": {name: f"{http_root}/missing/{name}" for name in RELEASE_FILES},
    }
    with pytest.raises(RuntimeError) as err:
        fetch(source, tmp_path / "raw", "fairface")
    msg = str(err.value)
    assert f"{http_root}/missing/images.zip" in msg
    assert str(tmp_path / "raw" / "images.zip") in msg and "place it" in msg
    assert not list((tmp_path / "raw").glob("*"))  # nothing half-written


def test_file_placed_by_hand_is_used_and_checked(small_release, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in RELEASE_FILES:
        (raw / name).write_bytes((small_release / name).read_bytes())
    offline = {
        "kind": "download",
        "files": {name: f"http://127.0.0.1:9/{name}" for name in RELEASE_FILES},
        "sha256": {name: _sha(small_release / name) for name in RELEASE_FILES},
    }
    fetch(offline, raw, "fairface")  # no network touched: every file is present and verified
    offline["sha256"]["images.zip"] = "0" * 64
    with pytest.raises(RuntimeError, match=r"images.zip is there but is not the expected file"):
        fetch(offline, raw, "fairface")
    assert (raw / "images.zip").read_bytes() == (small_release / "images.zip").read_bytes()


def test_local_source_copies_and_names_missing_file(small_release, tmp_path):
    fetch({"kind": "local", "folder": str(small_release)}, tmp_path / "a", "fairface")
    assert (tmp_path / "a" / "images.zip").stat().st_size > 0
    with pytest.raises(FileNotFoundError, match=r"has no fairface-img-margin025-trainval\.zip"):
        fetch({"kind": "local", "folder": str(tmp_path / "empty")}, tmp_path / "b", "fairface")


def test_source_for_padding_picks_per_padding_entries():
    from clipfair.data.sources import source_for_padding

    source = {
        "kind": "download",
        "files": {"images.zip": {"0.25": "u025", "1.25": "u125"}, "a.csv": "csv"},
        "sha256": {"images.zip": {"1.25": "f" * 64}},
    }
    picked = source_for_padding(source, "1.25")
    assert picked["files"] == {"images.zip": "u125", "a.csv": "csv"}
    assert picked["sha256"] == {"images.zip": "f" * 64}
    assert source["files"]["images.zip"]["0.25"] == "u025"  # the params entry is untouched
    with pytest.raises(ValueError, match=r"sha256\.images\.zip has no entry for padding 0\.25"):
        source_for_padding(source, "0.25")
    hub = {"kind": "hf_parquet", "repo": "r"}
    assert source_for_padding(hub, "1.25")["config"] == "1.25"
    with pytest.raises(ValueError, match="set padding only"):
        source_for_padding({**hub, "config": "0.25"}, "1.25")


def test_local_source_takes_the_official_zip_name_of_its_padding(small_release, tmp_path):
    from clipfair.data.sources import source_for_padding

    folder = tmp_path / "downloads"
    shutil.copytree(small_release, folder)
    (folder / "images.zip").rename(folder / "fairface-img-margin025-trainval.zip")
    local = {"kind": "local", "folder": str(folder)}
    fetch(source_for_padding(local, "0.25"), tmp_path / "a", "fairface")
    assert (tmp_path / "a/images.zip").read_bytes() == (small_release / "images.zip").read_bytes()
    with pytest.raises(FileNotFoundError, match=r"no fairface-img-margin125.*the other crop"):
        fetch(source_for_padding(local, "1.25"), tmp_path / "b", "fairface")
    shutil.copy(small_release / "images.zip", folder / "images.zip")
    with pytest.raises(ValueError, match=r"both fairface-img-margin025-trainval.zip and images"):
        fetch(source_for_padding(local, "0.25"), tmp_path / "c", "fairface")
