"""A local HTTP server that answers like Google Drive, on 127.0.0.1 only.

It serves the files of one folder by id (the file's name) the way Drive serves a public
release, so the real downloader can be rehearsed end to end without the internet:

- ``/uc?export=download&id=<id>``: a small file comes back at once (``Content-Disposition``);
  a file over ``confirm_over`` bytes gets Drive's HTML "can't scan this file for viruses"
  page instead, in one of the page variants Drive has used (``variant``): ``form`` (today's
  ``<form id="download-form">`` pointing at ``/download``, as drive.usercontent.google.com
  does) or ``json`` (a page with a ``"downloadUrl"``), or ``quota`` (the "too many users"
  error page, with no way to the file).
- ``/download?id=<id>&confirm=t``: the file, with a strong ``ETag``, ``Last-Modified``,
  ``Accept-Ranges``, ``Range`` / ``If-Range`` (206, or 200 when the validator changed) and 416
  with ``Content-Range: bytes */<size>`` past the end.

the ``rehearsal`` source kind (``clipfair.data.sources.rehearsal``) starts one for the
duration of a download;
the tests use it to check each page variant.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHUNK = 1 << 20
VARIANTS = ("form", "json", "quota")


def file_etag(path: Path) -> str:
    """A strong validator that changes when the file's size or mtime changes."""
    st = path.stat()
    return (
        '"'
        + hashlib.sha256(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:20]
        + '"'
    )


class DriveLikeServer(http.server.ThreadingHTTPServer):
    """Serves ``folder``'s files by name; see the module docstring for the routes."""

    daemon_threads = True

    def __init__(self, folder: str | Path, confirm_over: int = 1 << 20, variant: str = "form"):
        if variant not in VARIANTS:
            raise ValueError(f"variant {variant!r}: expected one of {', '.join(VARIANTS)}")
        self.folder = Path(folder)
        self.confirm_over = confirm_over
        self.variant = variant
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, file_id: str) -> str:
        """The public link of one file, as a Drive user copies it."""
        return f"{self.base_url}/uc?export=download&id={urllib.parse.quote(file_id)}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: DriveLikeServer

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        srv = self.server
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        srv.requests.append((self.path, self.headers.get("Range")))
        name = query.get("id", "")
        path = srv.folder / name
        if not name or "/" in name or name.startswith(".") or not path.is_file():
            return self.send_error(404, "No such file")
        if parsed.path == "/uc":
            if path.stat().st_size > srv.confirm_over:
                return self._confirm_page(name)
            return self._file(path)
        if parsed.path == "/download" and query.get("confirm"):
            return self._file(path)
        return self.send_error(404)

    def _confirm_page(self, name: str) -> None:
        srv = self.server
        target = f"{srv.base_url}/download"
        fields = {"id": name, "export": "download", "confirm": "t", "uuid": "0f1e2d3c"}
        if srv.variant == "form":
            inputs = "".join(
                f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items()
            )
            body = (
                "<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title>"
                '</head><body><div class="uc-main"><p class="uc-warning-caption">Google Drive '
                "can't scan this file for viruses.</p></div>\n"
                f'<form id="download-form" action="{target}" method="get">{inputs}'
                '<input type="submit" id="uc-download-link" value="Download anyway"></form>'
                "\n</body></html>"
            )
        elif srv.variant == "json":
            link = f"{target}?{urllib.parse.urlencode(fields)}"
            escaped = json.dumps(link)[1:-1].replace("=", "\\u003d").replace("&", "\\u0026")
            body = (
                f'<html><body><script>var d = {{"downloadUrl":"{escaped}"}};</script></body></html>'
            )
        else:
            body = (
                '<html><body><div class="uc-main">\n<p class="uc-error-caption">Sorry, you '
                "can't view or download this file at this time.</p>\n"
                '<p class="uc-error-subcaption">Too many users have viewed or downloaded this '
                "file recently. Please try accessing the file again later.</p>\n"
                "</div></body></html>"
            )
        page = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def _file(self, path: Path) -> None:
        size, etag = path.stat().st_size, file_etag(path)
        start = 0
        rng, if_range = self.headers.get("Range"), self.headers.get("If-Range")
        if rng and rng.startswith("bytes=") and if_range in (None, etag):
            start = int(rng.removeprefix("bytes=").split("-")[0] or 0)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Disposition", f'attachment; filename="{path.name}"')
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(path.stat().st_mtime, usegmt=True))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        with open(path, "rb") as fh:
            fh.seek(start)
            try:
                for block in iter(lambda: fh.read(CHUNK), b""):
                    self.wfile.write(block)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (an interrupted download)


@contextmanager
def serving(folder: str | Path, **options: object) -> Iterator[DriveLikeServer]:
    """A running :class:`DriveLikeServer` for the ``with`` block, shut down after it."""
    srv = DriveLikeServer(folder, **options)  # type: ignore[arg-type]
    thread = threading.Thread(target=srv.serve_forever, name="drive-like-server", daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
