"""Progress bars that stay readable in Snakemake logs (rare updates when not on a terminal)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def progress(**kwargs: Any) -> tqdm:
    """A tqdm bar on stderr; updates every 10 s when stderr is a file (rule logs)."""
    kwargs.setdefault("mininterval", 0.2 if sys.stderr.isatty() else 10.0)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(file=sys.stderr, **kwargs)
