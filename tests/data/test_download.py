"""Downloads against a real HTTP server on 127.0.0.1 with Range support and scripted faults."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading

import pytest

from clipfair.data.download import DownloadError, Expected, download

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class FaultyServer(http.server.ThreadingHTTPServer):
    """Serves PAYLOAD at /file (with Range), a Drive-style confirm page at /drive, and faults."""

    def __init__(self) -> None:
        self.cut_next = 0  # truncate this many next responses halfway
        self.fail_next = 0  # answer 503 to this many next requests
        self.ignore_range = False  # a server that always sends the whole file
        self.payload = PAYLOAD  # the file; tests change it to play "the file changed"
        self.ranges: list[str | None] = []
        self.if_ranges: list[str | None] = []
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.payload).hexdigest()[:16] + '"'


class Handler(http.server.BaseHTTPRequestHandler):
    server: FaultyServer

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        srv = self.server
        srv.ranges.append(self.headers.get("Range"))
        if srv.fail_next:
            srv.fail_next -= 1
            return self.send_error(503)
        if self.path.startswith("/drive"):
            page = (
                b'<html><body><form id="download-form" action="/file" method="get">'
                b'<input type="hidden" name="id" value="abc">'
                b'<input type="hidden" name="confirm" value="t">'
                b'<input type="submit" value="Download anyway"></form></body></html>'
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            return self.wfile.write(page)
        if self.path.startswith("/page"):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            return self.wfile.write(b"<html>Sign in</html>")
        if self.path.startswith("/huge"):  # a file larger than any disk here
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(10**15))
            self.end_headers()
            return
        if not self.path.startswith("/file"):
            return self.send_error(404)
        payload, start = srv.payload, 0
        srv.if_ranges.append(self.headers.get("If-Range"))
        rng = self.headers.get("Range")
        if rng and not srv.ignore_range and self.headers.get("If-Range") in (None, srv.etag):
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(payload):  # nothing there to send
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(payload)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = payload[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", srv.etag)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
        self.end_headers()
        if srv.cut_next:
            srv.cut_next -= 1
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops halfway
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = FaultyServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_full_download_is_verified_and_atomic(server, tmp_path):
    _, base = server
    target = download(f"{base}/file", tmp_path / "a.zip", Expected(len(PAYLOAD), SHA))
    assert target.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]  # no .part left


def test_interrupted_download_resumes_with_range(server, tmp_path):
    srv, base = server
    srv.cut_next = 1
    target = tmp_path / "a.zip"
    with pytest.raises(DownloadError, match=r"a.zip.part keeps the \d+ bytes that arrived"):
        download(f"{base}/file", target, Expected(sha256=SHA), retries=0)
    part = tmp_path / "a.zip.part"
    assert not target.exists() and 0 < part.stat().st_size < len(PAYLOAD)
    have = part.stat().st_size
    download(f"{base}/file", target, Expected(sha256=SHA), retries=0)  # the next run
    assert target.read_bytes() == PAYLOAD and not part.exists()
    assert srv.ranges[-1] == f"bytes={have}-"  # only the rest was asked for
    assert srv.if_ranges[-1] == srv.etag  # ... of this very version of the file


def test_transient_errors_are_retried_with_resume(server, tmp_path):
    srv, base = server
    srv.fail_next, srv.cut_next = 2, 1
    target = download(f"{base}/file", tmp_path / "a.zip", Expected(sha256=SHA), backoff=0.01)
    assert target.read_bytes() == PAYLOAD
    assert srv.ranges[0] is None and srv.ranges[-1] is not None  # resumed after the cut


def test_checksum_mismatch_keeps_the_file_aside(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match=r"sha256 .*, expected 0{64}.*a.zip.rejected"):
        download(f"{base}/file", tmp_path / "a.zip", Expected(sha256="0" * 64))
    assert not (tmp_path / "a.zip").exists()
    assert (tmp_path / "a.zip.rejected").read_bytes() == PAYLOAD
    with pytest.raises(DownloadError, match=rf"{len(PAYLOAD)} bytes, expected 5"):
        download(f"{base}/file", tmp_path / "b.zip", Expected(size=5))


def test_unreachable_server_names_url_target_and_manual_step(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url, target = f"http://127.0.0.1:{port}/images.zip", tmp_path / "images.zip"
    with pytest.raises(DownloadError) as err:
        download(url, target, retries=1, backoff=0.01)
    msg = str(err.value)
    assert url in msg and str(target) in msg and "place it at" in msg and "2 attempts" in msg
    assert "nothing arrived" in msg and "keeps" not in msg


def test_http_404_fails_at_once(server, tmp_path):
    srv, base = server
    with pytest.raises(DownloadError, match=r"HTTP 404"):
        download(f"{base}/nothing", tmp_path / "a.zip", backoff=5.0)  # no retry: no sleep
    assert len(srv.ranges) == 1


def test_drive_confirmation_page_is_followed(server, tmp_path):
    _, base = server
    target = download(f"{base}/drive?id=abc", tmp_path / "a.zip", Expected(sha256=SHA))
    assert target.read_bytes() == PAYLOAD


def test_an_unexpected_html_page_is_not_saved_as_the_file(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match=r"returned an HTML page"):
        download(f"{base}/page", tmp_path / "a.zip", retries=0)
    assert not (tmp_path / "a.zip").exists()


def _cut_once(srv, base, target):
    srv.cut_next = 1
    with pytest.raises(DownloadError):
        download(f"{base}/file", target, retries=0)
    return target.with_name(target.name + ".part")


def test_a_part_of_a_file_that_changed_on_the_server_is_restarted(server, tmp_path, capsys):
    srv, base = server
    part = _cut_once(srv, base, tmp_path / "a.zip")
    srv.payload = PAYLOAD[::-1]  # the server's file is another one now
    new_sha = hashlib.sha256(srv.payload).hexdigest()
    target = download(f"{base}/file", tmp_path / "a.zip", Expected(sha256=new_sha), retries=0)
    assert target.read_bytes() == srv.payload and not part.exists()
    assert "restarting a.zip.part from zero" in capsys.readouterr().err
    assert srv.if_ranges[-1] != srv.etag  # the old validator was sent, and refused


def test_a_server_that_ignores_range_restarts_the_part(server, tmp_path, capsys):
    srv, base = server
    _cut_once(srv, base, tmp_path / "a.zip")
    srv.ignore_range = True
    target = download(f"{base}/file", tmp_path / "a.zip", Expected(sha256=SHA), retries=0)
    assert target.read_bytes() == PAYLOAD
    assert "the server sent the whole file" in capsys.readouterr().err


def test_a_part_longer_than_the_file_is_not_taken_as_complete(server, tmp_path, capsys):
    srv, base = server
    part = _cut_once(srv, base, tmp_path / "a.zip")
    part.write_bytes(PAYLOAD + b"junk")  # longer than the remote file: 416 from the server
    target = download(f"{base}/file", tmp_path / "a.zip", Expected(sha256=SHA), backoff=0.01)
    assert target.read_bytes() == PAYLOAD
    assert "the server has 1048576 bytes, the part 1048580" in capsys.readouterr().err


def test_a_part_of_unknown_origin_is_not_continued(server, tmp_path, capsys):
    srv, base = server
    (tmp_path / "a.zip.part").write_bytes(b"something else entirely")  # no record beside it
    target = download(f"{base}/file", tmp_path / "a.zip", Expected(sha256=SHA), retries=0)
    assert target.read_bytes() == PAYLOAD and srv.ranges == [None]
    assert "no record of where it came from" in capsys.readouterr().err


def test_downloads_lock_trusts_on_first_use_then_names_a_changed_file(server, tmp_path, capsys):
    import yaml

    from clipfair.data.sources import fetch

    srv, base = server
    files = {n: f"{base}/file?{n}" for n in ("images.zip", "fairface_label_train.csv")}
    files["fairface_label_val.csv"] = f"{base}/file?val"
    source = {"kind": "download", "files": files, "retries": 0}
    lock = tmp_path / "downloads.lock"
    fetch(source, tmp_path / "one", "fairface", lock)
    recorded = yaml.safe_load(lock.read_text())
    assert set(recorded) == set(files.values())
    assert {e["sha256"] for e in recorded.values()} == {SHA}
    assert "recorded images.zip" in capsys.readouterr().out
    fetch(source, tmp_path / "two", "fairface", lock)  # a second machine: verified against the lock
    srv.payload = PAYLOAD[::-1]  # the release changed on its server
    with pytest.raises(DownloadError) as err:
        fetch(source, tmp_path / "three", "fairface", lock)
    msg = str(err.value)
    new = hashlib.sha256(srv.payload).hexdigest()
    assert "not the file recorded in" in msg and str(lock) in msg
    assert f"sha256 {new}, expected {SHA}" in msg  # both digests
    assert yaml.safe_load(lock.read_text()) == recorded  # the record is not overwritten
    source["sha256"] = {"images.zip": "0" * 64}  # params and lock disagree
    with pytest.raises(DownloadError, match=r"params.yaml says sha256 0{64}, .* recorded"):
        fetch(source, tmp_path / "four", "fairface", lock)


def test_a_file_larger_than_the_free_disk_is_refused_before_writing(server, tmp_path):
    from clipfair.errors import DiskSpaceError

    srv, base = server
    target = tmp_path / "huge.zip"
    refused = r"downloading huge.zip needs 1000000.0 GB in .*; .* free there"
    with pytest.raises(DiskSpaceError, match=refused):
        download(f"{base}/huge", target, retries=3, backoff=0)
    assert len(srv.ranges) == 1  # no retry: waiting makes no room
    assert not target.exists() and not target.with_name("huge.zip.part").exists()
