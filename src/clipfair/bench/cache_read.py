"""``clipfair bench cache-read``: peak RSS of reading an image cache through a memory map
(``np.load(mmap_mode="r")``, what the pipeline did before) against ``CacheReader``'s pread,
each in a fresh process over the same file, batch by batch as embed reads it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_READ = """
import json, resource, sys, time
import numpy as np
from clipfair.image_cache import CacheReader
path, how, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = time.perf_counter()
images = np.load(path, mmap_mode="r") if how == "mmap" else CacheReader(path)
for lo in range(0, len(images), batch):
    np.array(images[lo:lo + batch])  # a batch as the loader hands it on
print(json.dumps({"rows": len(images), "seconds": time.perf_counter() - t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(path: str | Path, how: str, batch: int = 512) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _READ, str(path), how, str(batch)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def run_cache_read_bench(path: str | Path, batch: int = 512) -> dict[str, dict[str, float]]:
    """Both ways over ``path``; the second read of each finds the file in the page cache."""
    return {how: measure(path, how, batch) for how in ("mmap", "pread")}
