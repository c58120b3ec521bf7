"""A local server that answers like the Hugging Face Hub for the files of a few folders, so
the real downloaders (huggingface_hub, as open_clip and transformers call it) can be tested
offline: point ``HF_ENDPOINT`` at it.

What it answers (what huggingface_hub asks): ``HEAD``/``GET /<repo>/resolve/<rev>/<file>``
with the commit, ETag and size headers, 404 with ``X-Error-Code`` for a file or repo it does
not have, and the model info and file tree of ``/api/models/<repo>/...``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubServer:
    """Serves ``repos`` ({"org/name": folder}) on 127.0.0.1; ``requests`` lists what came."""

    def __init__(self, repos: dict[str, Path]) -> None:
        self.repos = {k: Path(v) for k, v in repos.items()}
        self.requests: list[tuple[str, str]] = []
        handler = type("Handler", (_Handler,), {"hub": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def files(self, repo: str) -> list[Path]:
        root = self.repos[repo]
        return sorted(p for p in root.rglob("*") if p.is_file())


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _send(self, status: int, headers: dict[str, str], data: bytes, body: bool) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _json(self, obj: object, body: bool) -> None:
        self._send(200, {"Content-Type": "application/json"}, json.dumps(obj).encode(), body)

    def _missing(self, code: str, body: bool) -> None:
        self._send(404, {"X-Error-Code": code}, b"not found", body)

    def _answer(self, body: bool) -> None:
        path = unquote(urlparse(self.path).path)
        self.hub.requests.append((self.command, path))
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"]:
            return self._api(parts[2:], body)
        repo = "/".join(parts[:2])
        if repo not in self.hub.repos:
            return self._missing("RepoNotFound", body)
        if len(parts) < 5 or parts[2] != "resolve":
            return self._missing("EntryNotFound", body)
        file = self.hub.repos[repo] / "/".join(parts[4:])
        if not file.is_file():
            return self._missing("EntryNotFound", body)
        data = file.read_bytes()
        etag = f'"{hashlib.sha256(data).hexdigest()}"'
        headers = {"X-Repo-Commit": COMMIT, "ETag": etag, "Accept-Ranges": "bytes"}
        self._send(200, headers, data, body)

    def _api(self, parts: list[str], body: bool) -> None:
        repo = "/".join(parts[:2])
        if repo not in self.hub.repos:
            return self._missing("RepoNotFound", body)
        root = self.hub.repos[repo]
        names = [p.relative_to(root).as_posix() for p in self.hub.files(repo)]
        if len(parts) > 2 and parts[2] == "tree":
            tree = [
                {"type": "file", "path": n, "size": (root / n).stat().st_size, "oid": COMMIT}
                for n in names
            ]
            return self._json(tree, body)
        siblings = [{"rfilename": n} for n in names]
        return self._json({"id": repo, "sha": COMMIT, "siblings": siblings}, body)
