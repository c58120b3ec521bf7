"""VGG-Face weights for the grid: the release tarball over HTTP (127.0.0.1), or random init."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import pytest
import torch

from clipfair.data.download import DownloadError
from clipfair.models.vggface import TINY, VGGFace, load_t7, save_t7
from clipfair.models.vggface_weights import extract_member, make_weights


@pytest.fixture
def served(tmp_path):
    """A folder served over HTTP on 127.0.0.1; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def release_tarball(path: Path, t7: Path) -> None:
    """The layout of vgg_face_torch.tar.gz: a folder with VGG_FACE.t7 next to other files."""
    with tarfile.open(path, "w:gz") as tar:
        tar.add(t7, arcname="vgg_face_torch/VGG_FACE.t7")
        info = tarfile.TarInfo("vgg_face_torch/names.txt")
        data = b"A.J._Buckley\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_release_is_downloaded_verified_and_unpacked(served, tmp_path):
    root, url = served
    torch.manual_seed(1)
    model = VGGFace(TINY)
    save_t7(model, tmp_path / "VGG_FACE.t7")
    release_tarball(root / "vgg_face_torch.tar.gz", tmp_path / "VGG_FACE.t7")
    sha = hashlib.sha256((root / "vgg_face_torch.tar.gz").read_bytes()).hexdigest()
    entry = {"pretrained": f"{url}/vgg_face_torch.tar.gz", "sha256": sha}
    out = make_weights(entry, tmp_path / "models" / "vggface_t7.t7", tmp_path / "raw")
    assert (tmp_path / "raw" / "vgg_face_torch.tar.gz").is_file()  # kept: no second download
    loaded = load_t7(out)
    x = torch.randn(2, 3, TINY.image_size, TINY.image_size)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), model.eval()(x))
    # a wrong checksum: refused before anything is unpacked, the file kept aside
    bad = {**entry, "sha256": "0" * 64}
    with pytest.raises(DownloadError, match="sha256"):
        make_weights(bad, tmp_path / "other.t7", tmp_path / "raw2")
    assert not (tmp_path / "other.t7").exists()


def test_archive_without_the_weights_or_with_a_link_is_refused(tmp_path):
    empty = tmp_path / "empty.tar.gz"
    with tarfile.open(empty, "w:gz") as tar:
        info = tarfile.TarInfo("vgg_face_torch/README")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ValueError, match=r"has no member named VGG_FACE\.t7"):
        extract_member(empty, "VGG_FACE.t7", tmp_path / "out.t7")
    linked = tmp_path / "linked.tar.gz"
    with tarfile.open(linked, "w:gz") as tar:
        info = tarfile.TarInfo("vgg_face_torch/VGG_FACE.t7")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(ValueError, match="not a regular file"):
        extract_member(linked, "VGG_FACE.t7", tmp_path / "out.t7")
    assert not (tmp_path / "out.t7").exists()
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(ValueError, match="not a readable tar archive"):
        extract_member(tmp_path / "junk.tar.gz", "VGG_FACE.t7", tmp_path / "out.t7")


def test_random_init_is_seeded(tmp_path):
    entry = {"init": {"size": "tiny", "seed": 3}}
    a = load_t7(make_weights(entry, tmp_path / "a.t7", tmp_path))
    b = load_t7(make_weights(entry, tmp_path / "b.t7", tmp_path))
    assert a.config == TINY
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    assert all(torch.equal(x, y) for x, y in pairs)
