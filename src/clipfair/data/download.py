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
- Google Drive answers large files with an HTML "can't scan for viruses" page that leads to
  the file; gdown's parser (which knows Drive's page variants) finds the link, and it is
  followed with the same resume rules. Drive's "too many users" page is an error quoting it;
  any other HTML page where a file was expected is an error (a wrong or expired link), never
  saved as the file. A Drive share link (``/file/d/<id>/view``) is read as its download URL.
- Size and sha256, when known, are checked before the part file is renamed onto the target
  (atomic); a mismatching download is kept aside as ``<target>.rejected`` for inspection.
"""

from __future__ import annotations

import errno
import hashlib
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

from clipfair.errors import DiskSpaceError, LoadError
from clipfair.io import MOVE_DATA, ensure_free_space, write_json
from clipfair.progress import progress

CHUNK = 1 << 20
RETRY_STATUS = {429, 500, 502, 503, 504}
DRIVE_HOSTS = ("drive.google.com", "docs.google.com")  # gdown's is_google_drive_url
MAX_CONFIRM_PAGES = 3  # Drive's confirm pages followed before the answer counts as wrong


class DownloadError(LoadError):
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


def confirm_url(page: str, base: str) -> str | None:
    """The URL behind a Google Drive confirmation page, or None if ``page`` is not one.

    gdown's parser reads every page variant Drive has used (the old ``/uc?export=download``
    link, today's ``<form id="download-form">``, the ``"downloadUrl"`` JSON). A Drive error
    page ("Too many users have viewed or downloaded this file recently") is a DownloadError
    quoting Drive's words: that quota lasts about a day, so retrying now does not help.
    """
    from gdown.download import get_url_from_gdrive_confirmation
    from gdown.exceptions import FileURLRetrievalError

    try:
        url = get_url_from_gdrive_confirmation(page)
    except FileURLRetrievalError as exc:
        if "uc-error-subcaption" in page:
            raise DownloadError(f"Google Drive refused {base}: {exc}") from exc
        return None
    return urllib.parse.urljoin(base, url)


def drive_download_url(url: str) -> str:
    """A Google Drive share link (``/file/d/<id>/view``, ``/open?id=``) as its download URL
    (``/uc?export=download&id=<id>``), as gdown reads it; any other URL as it is."""
    if urllib.parse.urlparse(url).hostname not in DRIVE_HOSTS:
        return url  # not Drive: no need to import gdown (requests, bs4)
    from gdown.parse_url import parse_url

    file_id, is_download_link = parse_url(url)
    if file_id and not is_download_link:
        return f"https://drive.google.com/uc?export=download&id={file_id}"
    return url


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


def _attempt(
    url: str, part: Path, timeout: float, desc: str, origin: str | None = None, hops: int = 0
) -> None:
    """One request: append to ``part`` from where it stops (Range + If-Range), follow a Drive
    confirm page (the part keeps its origin, the URL given, so a Drive download resumes too);
    restart whenever the part cannot be proven to be the start of this file."""
    origin = origin or url
    have, record = _resume_state(origin, part)
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
            if follow is None or hops >= MAX_CONFIRM_PAGES:
                raise DownloadError(
                    f"{url} returned an HTML page, not the file (wrong or expired link?)"
                )
            return _attempt(follow, part, timeout, desc, origin, hops + 1)
        length = int(resp.headers.get("Content-Length") or 0) or None
        resumed = resp.status == 206
        if resumed:
            start = resp.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
            total = _total(resp.headers.get("Content-Range"))
            if start != str(have) or total != record.get("total"):
                _restart(
                    part,
                    f"the server resumed at {start} of {total}, not {have} of "
                    f"{record.get('total')}",
                )
                raise ConnectionError("resume did not match the part")
        else:
            if have:
                _restart(
                    part,
                    "the server sent the whole file (it ignores Range, or the file "
                    "changed since the part was written)",
                )
                have = 0
            total = length
        if length:
            ensure_free_space(part, length, f"downloading {desc.removeprefix('download ')}")
        validator = _validator(resp.headers)
        write_json(_record(part), {"url": origin, "validator": validator, "total": total})
        bar = progress(total=total, initial=have, desc=desc, unit="B", unit_scale=True)
        try:
            with open(part, "ab" if resumed else "wb") as fh:
                for block in iter(lambda: resp.read(CHUNK), b""):
                    fh.write(block)
                    bar.update(len(block))
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            raise DiskSpaceError(
                f"the disk filled up while downloading {part.name}: the part keeps what arrived "
                f"and the next run resumes it. " + MOVE_DATA
            ) from exc
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
    url = drive_download_url(url)
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
        except DiskSpaceError:
            raise  # no retry makes room
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
