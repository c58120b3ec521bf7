"""An HTML template for ``dvc plots show`` that opens without a network.

DVC's default page loads vega, vega-lite and vega-embed from a CDN (``<script src=
"https://cdn.jsdelivr.net/...">``); on a cluster node without internet it shows no plots.
This template inlines the same three libraries, at the versions dvc-render pins for its CDN
links, taken from their npm packages (``npm pack``, whose sha512 integrity npm checks against
the registry). ``.dvc/config`` names it (``plots.html_template``). The template leaves out
DVC's ``{scripts}`` placeholder, so no CDN tag is added. Each inlined library is preceded by
a comment with its package, version, file and sha256, which :func:`inlined_libraries` reads
back (a test checks them against the file's own content).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

from clipfair.errors import InputError, LoadError

#: package -> (version, file in the package): dvc-render's CDN versions (dvc_render/vega.py)
LIBRARIES: dict[str, tuple[str, str]] = {
    "vega": ("5.20.2", "build/vega.min.js"),
    "vega-lite": ("5.2.0", "build/vega-lite.min.js"),
    "vega-embed": ("6.18.2", "build/vega-embed.min.js"),
}
TEMPLATE = Path(".dvc") / "offline_plots.html"
_MARK = re.compile(
    r"/\* (?P<package>[\w-]+)@(?P<version>[\d.]+) (?P<file>\S+) sha256=(?P<sha>[0-9a-f]{64}) \*/\n"
)
PLACEHOLDERS = ("{plot_divs}", "{refresh_tag}", "{scripts}")

PAGE = """<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <title>DVC Plot</title>
    <!-- vega, vega-lite and vega-embed inlined from their npm packages: no network needed.
         Rebuild: clipfair offline-plots-template (src/clipfair/report/offline_html.py) -->
{scripts}
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def npm_library(package: str, version: str, member: str, workdir: Path) -> tuple[str, str]:
    """(JavaScript text, npm integrity) of ``member`` of ``package@version`` via ``npm pack``."""
    proc = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--json", "--pack-destination", str(workdir)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise LoadError(f"npm pack {package}@{version} failed:\n{proc.stderr[-2000:]}")
    packed = json.loads(proc.stdout)[0]
    with tarfile.open(workdir / packed["filename"]) as tar:
        handle = tar.extractfile(f"package/{member}")
        if handle is None:
            raise LoadError(f"{package}@{version} has no {member}")
        return handle.read().decode("utf-8"), packed["integrity"]


def render_template(libraries: dict[str, tuple[str, str, str]]) -> str:
    """The page with each {package: (version, file, JavaScript)} inlined in order."""
    blocks = []
    for package, (version, member, js) in libraries.items():
        if "</script" in js.lower() or any(p in js for p in PLACEHOLDERS):
            raise InputError(f"{package}@{version} {member} cannot be inlined as it is")
        sha = hashlib.sha256(js.encode("utf-8")).hexdigest()
        blocks.append(f"<script>/* {package}@{version} {member} sha256={sha} */\n{js}\n</script>")
    return PAGE.format(scripts="\n".join(blocks))


def build_template(out: str | Path = TEMPLATE) -> dict[str, str]:
    """Fetch the pinned libraries with npm and write the template; {package: integrity}."""
    from clipfair.io import atomic_path

    libraries, integrity = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for package, (version, member) in LIBRARIES.items():
            js, integrity[package] = npm_library(package, version, member, Path(tmp))
            libraries[package] = (version, member, js)
    with atomic_path(out) as path:
        Path(path).write_text(render_template(libraries), encoding="utf-8")
    return integrity


def inlined_libraries(html: str) -> list[dict[str, str]]:
    """The libraries a page inlines: package, version, file, recorded and actual sha256."""
    out = []
    for mark in _MARK.finditer(html):
        end = html.index("\n</script>", mark.end())
        actual = hashlib.sha256(html[mark.end() : end].encode("utf-8")).hexdigest()
        out.append({**mark.groupdict(), "actual": actual})
    return out
