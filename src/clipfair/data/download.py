"""HTTP downloads that survive real networks: resume, retries, Google Drive's confirm page.

- The body streams into ``<target>.part``; after an interruption the next attempt asks for
  the rest with ``Range: bytes=<have>-`` (a server answering 200 instead of 206 restarts it).
- Connection errors, timeouts and 5xx/429 answers are retried with exponential backoff; other
  HTTP errors (404, 403) fail at once.
- Google Drive answers large files with an HTML "can't scan for viruses" page whose form
  (``id="download-form"``) leads to the file; that form is followed. Any other HTML page where
  a file was expected is an error (a wrong or expired link), never saved as the file.
- Size and sha256, when known, are checked before the part file is renamed onto the target
  (atomic); a mismatching download is kept aside as ``<target>.rejected`` for inspection.
"""

from __future__ import annotations

import hashlib
import html.parser
import http.client
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from clipfair.progress import progress

CHUNK = 1 << 20
RETRY_STATUS = {429, 500, 502, 503, 504}


class DownloadError(RuntimeError):
    """A download that cannot complete; the message says how to place the file by hand."""


@dataclass
class Expected:
    """What the file must be (either may be unknown)."""

    size: int | None = None
    sha256: str | None = None


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


class _DownloadForm(html.parser.HTMLParser):
    """The action and hidden inputs of Google Drive's ``<form id="download-form">``."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == "download-form":
            self.action, self._inside = a.get("action"), True
        elif tag == "input" and self._inside and a.get("type") == "hidden" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def confirm_url(page: str, base: str) -> str | None:
    """The URL behind a Drive confirmation page, or None if ``page`` is not one."""
    form = _DownloadForm()
    form.feed(page)
    if not form.action:
        return None
    action = urllib.parse.urljoin(base, form.action)
    return f"{action}?{urllib.parse.urlencode(form.fields)}" if form.fields else action


def manual_hint(url: str, target: Path) -> str:
    return (
        f"Offline or blocked? Download {url} elsewhere and place it at {target}; the pipeline "
        "then verifies and uses it."
    )


def _attempt(url: str, part: Path, timeout: float, desc: str) -> None:
    """One request: append to ``part`` from where it stops (Range), follow a Drive form."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "clipfair"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part file is complete
            return
        raise
    with resp:
        if "text/html" in resp.headers.get("Content-Type", ""):
            page = resp.read(2_000_000).decode("utf-8", "replace")
            follow = confirm_url(page, resp.geturl())
            if follow is None:
                raise DownloadError(
                    f"{url} returned an HTML page, not the file (wrong or expired link?)"
                )
            part.unlink(missing_ok=True)  # the form leads to the file from its start
            return _attempt(follow, part, timeout, desc)
        resumed = resp.status == 206
        mode = "ab" if resumed else "wb"
        length = int(resp.headers.get("Content-Length") or 0) or None
        total = (have + length if resumed else length) if length else None
        bar = progress(total=total, initial=have if resumed else 0, desc=desc, unit="B",
                       unit_scale=True)
        with open(part, mode) as fh:
            for block in iter(lambda: resp.read(CHUNK), b""):
                fh.write(block)
                bar.update(len(block))
        bar.close()
        if length is not None and part.stat().st_size != (have if resumed else 0) + length:
            raise ConnectionError(f"connection closed early ({part.stat().st_size} bytes)")


def download(
    url: str,
    target: str | Path,
    expected: Expected | None = None,
    *,
    retries: int = 4,
    backoff: float = 2.0,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``target`` (resumable, retried, verified, atomic)."""
    target = Path(target)
    expected = expected or Expected()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    last: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _attempt(url, part, timeout, f"download {target.name}")
            break
        except urllib.error.HTTPError as exc:
            if exc.code not in RETRY_STATUS:
                raise DownloadError(
                    f"could not download {url} to {target}: HTTP {exc.code} {exc.reason}. "
                    + manual_hint(url, target)
                ) from exc
            last = exc
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as exc:
            last = exc
    else:
        raise DownloadError(
            f"could not download {url} to {target} after {retries + 1} attempts ({last}); "
            f"{part.name} keeps what arrived and the next run resumes it. "
            + manual_hint(url, target)
        )
    problem = mismatch(part, expected)
    if problem:
        rejected = target.with_name(target.name + ".rejected")
        part.replace(rejected)
        raise DownloadError(f"{url}: {problem}; kept as {rejected}. " + manual_hint(url, target))
    part.replace(target)
    return target


def mismatch(path: Path, expected: Expected) -> str | None:
    """Why ``path`` is not the expected file, or None."""
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        return f"{size} bytes, expected {expected.size}"
    if expected.sha256 and (actual := sha256_of(path)) != expected.sha256:
        return f"sha256 {actual}, expected {expected.sha256}"
    return None
