"""HTTP downloads that survive real networks: resume, retries, Google Drive's confirm page.

- The body streams into ``<target>.part``; ``<target>.part.json`` records the URL, the
  server's validator (ETag, else Last-Modified) and the total size. After an interruption the
  next attempt asks for the rest with ``Range: bytes=<have>-`` and ``If-Range: <validator>``:
  a 206 whose ``Content-Range`` starts where the part ends and has the recorded total is
  appended; a 200 (the server ignores Range, or the file changed), a different total, a part
  with no record or from another URL, and a 416 whose total is not the part's size all
  restart from zero (saying why). A part that already holds the whole file (416 with its
  size as total) is complete.
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
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clipfair.io import write_json
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


def _record(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _restart(part: Path, why: str) -> None:
    print(f"restarting {part.name} from zero: {why}", file=sys.stderr)
    part.unlink(missing_ok=True)
    _record(part).unlink(missing_ok=True)


def _total(content_range: str | None) -> int | None:
    """The total of a ``Content-Range: bytes a-b/total`` (or ``bytes */total``) header."""
    if not content_range or "/" not in content_range:
        return None
    total = content_range.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def _validator(headers: Any) -> str | None:
    """What identifies this version of the file: a strong ETag, else Last-Modified."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def _resume_state(url: str, part: Path) -> tuple[int, dict[str, Any]]:
    """(bytes to keep, the part's record); a part of unknown origin is dropped."""
    if not part.exists() or part.stat().st_size == 0:
        return 0, {}
    try:
        record = json.loads(_record(part).read_text())
    except (OSError, ValueError):
        _restart(part, "no record of where it came from (a .part of another download?)")
        return 0, {}
    if record.get("url") != url or not record.get("validator"):
        _restart(part, "it came from another URL, or its server gave no validator")
        return 0, {}
    return part.stat().st_size, record


def _attempt(url: str, part: Path, timeout: float, desc: str) -> None:
    """One request: append to ``part`` from where it stops (Range + If-Range), follow a Drive
    form; restart whenever the part cannot be proven to be the start of this file."""
    have, record = _resume_state(url, part)
    request = urllib.request.Request(url, headers={"User-Agent": "clipfair"})
    if have:
        request.add_header("Range", f"bytes={have}-")
        request.add_header("If-Range", record["validator"])
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            total = _total(exc.headers.get("Content-Range"))
            if total == have == record.get("total"):
                return  # the part already holds the whole file
            _restart(part, f"the server has {total} bytes, the part {have}")
            raise ConnectionError("stale .part (416)") from exc
        raise
    with resp:
        if "text/html" in resp.headers.get("Content-Type", ""):
            page = resp.read(2_000_000).decode("utf-8", "replace")
            follow = confirm_url(page, resp.geturl())
            if follow is None:
                raise DownloadError(
                    f"{url} returned an HTML page, not the file (wrong or expired link?)"
                )
            _restart(part, "Google Drive's confirm form leads to the file from its start")
            return _attempt(follow, part, timeout, desc)
        length = int(resp.headers.get("Content-Length") or 0) or None
        resumed = resp.status == 206
        if resumed:
            start = resp.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
            total = _total(resp.headers.get("Content-Range"))
            if start != str(have) or total != record.get("total"):
                _restart(part, f"the server resumed at {start} of {total}, not {have} of "
                         f"{record.get('total')}")
                raise ConnectionError("resume did not match the part")
        else:
            if have:
                _restart(part, "the server sent the whole file (it ignores Range, or the file "
                         "changed since the part was written)")
                have = 0
            total = length
        validator = _validator(resp.headers)
        write_json(_record(part), {"url": url, "validator": validator, "total": total})
        bar = progress(total=total, initial=have, desc=desc, unit="B", unit_scale=True)
        with open(part, "ab" if resumed else "wb") as fh:
            for block in iter(lambda: resp.read(CHUNK), b""):
                fh.write(block)
                bar.update(len(block))
        bar.close()
        if length is not None and part.stat().st_size != have + length:
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
        kept = part.exists() and part.stat().st_size > 0
        raise DownloadError(
            f"could not download {url} to {target} after {retries + 1} attempts ({last}); "
            + (
                f"{part.name} keeps the {part.stat().st_size} bytes that arrived and the next "
                "run resumes it if the server's file is unchanged. "
                if kept
                else "nothing arrived. "
            )
            + manual_hint(url, target)
        )
    problem = mismatch(part, expected)
    if problem:
        rejected = target.with_name(target.name + ".rejected")
        part.replace(rejected)
        _record(part).unlink(missing_ok=True)
        raise DownloadError(f"{url}: {problem}; kept as {rejected}. " + manual_hint(url, target))
    part.replace(target)
    _record(part).unlink(missing_ok=True)
    return target


def mismatch(path: Path, expected: Expected) -> str | None:
    """Why ``path`` is not the expected file, or None."""
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        return f"{size} bytes, expected {expected.size}"
    if expected.sha256 and (actual := sha256_of(path)) != expected.sha256:
        return f"sha256 {actual}, expected {expected.sha256}"
    return None
