"""Open a page in headless Chromium (Debian's package) with the network off: its DOM after the
scripts ran, the console messages, and a screenshot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: where tests keep what a person may want to look at (screenshots); CI keeps the folder
ARTIFACTS = Path(os.environ.get("CLIPFAIR_TEST_ARTIFACTS", "test-artifacts")).resolve()
_CONSOLE = re.compile(r"CONSOLE[:(]\d+\)?\]? \"(?P<message>.*)\", source: (?P<source>\S*)")
#: console text that means a page is broken: script exceptions, resources it failed to load
_ERRORS = ("Uncaught", "Failed to load resource", "net::ERR_", "Error:", "TypeError")


@dataclass
class Page:
    dom: str
    console: list[str]
    screenshot: Path | None

    @property
    def errors(self) -> list[str]:
        return [m for m in self.console if any(e in m for e in _ERRORS)]


def _flags(profile: str) -> list[str]:
    return [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}",
        # the network is off: no proxy answers, and no host name resolves
        "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000",
        "--window-size=1280,2400", "--hide-scrollbars",
    ]  # fmt: skip


def open_offline(html: Path, screenshot: Path | None = None, timeout: int = 120) -> Page:
    """Load ``html`` (a file) offline; the DOM once its scripts ran, its console, a PNG."""
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed (Debian: apt-get install chromium)")
    url = html.resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [CHROMIUM, *_flags(profile), "--dump-dom", url],
            capture_output=True, text=True, timeout=timeout, check=True,
        )  # fmt: skip
        console = [m.group("message") for m in _CONSOLE.finditer(proc.stderr)]
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(
                [CHROMIUM, *_flags(profile), f"--screenshot={screenshot}", url],
                capture_output=True, text=True, timeout=timeout, check=True,
            )  # fmt: skip
    return Page(proc.stdout, console, screenshot)
