"""``downloads.lock``: the size and sha256 of every file the pipeline downloads, trusted on
first use (like pip's hashes) and verified on every later download.

The first download of a URL records what arrived; commit the file. From then on a download
of that URL must match it, so a release that changed on its server (or a corrupted mirror) is
an error naming the file and both digests, never silently different data. Digests given in
params.yaml win over the lock; a lock that disagrees with them is an error too.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from clipfair.data.download import DownloadError, Expected, sha256_of
from clipfair.errors import InputError
from clipfair.io import atomic_path

HEADER = """\
# downloads.lock: size and sha256 of every downloaded file, recorded on first download
# (trust on first use) and checked on every download after. Commit it. A changed remote file
# fails the download naming both digests; delete its entry only if the change is expected.
"""


class DownloadLock:
    """The lock file at ``path`` (missing: empty; written on the first record)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.path.is_file():
            return {}
        data = yaml.safe_load(self.path.read_text()) or {}
        if not isinstance(data, dict):
            raise InputError(f"{self.path}: expected a mapping of URL -> size, sha256")
        return data

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive access across processes (two acquire jobs may record at once)."""
        guard = self.path.with_name(f".{self.path.name}.flock")
        with open(guard, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def expected(self, url: str, given: Expected, name: str) -> Expected:
        """What the file at ``url`` must be: ``given`` (params), else the lock's record; an
        error when both exist and disagree."""
        entry = self._read().get(url)
        if not entry:
            return given
        for key in ("size", "sha256"):
            mine, theirs = getattr(given, key), entry.get(key)
            if mine is not None and theirs is not None and mine != theirs:
                raise DownloadError(
                    f"{name} ({url}): params.yaml says {key} {mine}, {self.path} recorded "
                    f"{theirs} on {entry.get('recorded')}; fix one of them"
                )
        return Expected(
            given.size if given.size is not None else entry.get("size"),
            given.sha256 or entry.get("sha256"),
        )

    def record(self, url: str, path: str | Path, name: str) -> bool:
        """Record a verified download of ``url`` (first use); returns True if it was new."""
        path = Path(path)
        with self._locked():
            data = self._read()
            if url in data:
                return False
            data[url] = {
                "file": name,
                "size": path.stat().st_size,
                "sha256": sha256_of(path),
                "recorded": datetime.date.today().isoformat(),
            }
            with atomic_path(self.path) as tmp:
                tmp.write_text(HEADER + yaml.safe_dump(data, sort_keys=True, width=200))
        print(f"recorded {name} ({url}) in {self.path}: commit it", flush=True)
        return True


def locked_download(
    url: str,
    target: str | Path,
    given: Expected,
    lock: DownloadLock | None,
    fetch: Any,
) -> Path:
    """Make ``target`` the verified file of ``url``: ``fetch(expected)`` downloads it when it
    is not there yet (a file already there is verified, never replaced); the lock adds its
    record to what params give, and records the file on first use."""
    from clipfair.data.download import mismatch

    target = Path(target)
    expected = lock.expected(url, given, target.name) if lock else given
    from_lock = lock is not None and expected != given
    try:
        if target.is_file():  # downloaded before, or placed by hand
            if problem := mismatch(target, expected):
                raise DownloadError(
                    f"{target} is there but is not the expected file ({problem}); "
                    f"move it away to download {url} again"
                )
        else:
            fetch(expected)
    except DownloadError as exc:
        if from_lock:
            raise DownloadError(
                f"{target.name} ({url}) is not the file recorded in {lock.path}: {exc}. The "
                "file on the server changed, or the download is corrupt; if a new release is "
                "expected, delete its entry from the lock and run again"
            ) from None
        raise
    if lock is not None:
        lock.record(url, target, target.name)
    return target
