"""Where a job's time goes: process start-up, imports, model loading, and the work itself.

``clipfair`` commands time their phases (:class:`PhaseTimer`); when ``CLIPFAIR_PHASES=1`` (the
Snakefile sets it for its jobs) they print one line to stderr at the end,
``clipfair-phases {json}``. The rules send stderr to their log, where ``clipfair bench-grid``
reads it next to Snakemake's benchmark files.

- start-up: from the process's creation (the kernel's record, /proc/self/stat) to the first
  line of the command (the interpreter, and importing the CLI);
- imports: time inside outermost ``import`` statements while the command runs (torch,
  pandas, sklearn, open_clip ...);
- model loading: time inside :func:`loading` blocks (building a model, reading its weights);
- work: the rest.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

PREFIX = "clipfair-phases "
_loading = [0.0]  # seconds inside loading() blocks of this process, imports excluded
_active: list[PhaseTimer] = []  # the timer of the running command, if any
# A job forked by the fork server (clipfair.forkserver) started when its entry point did: the
# time.monotonic() of that moment (None: this process's own creation).
started_at: float | None = None


def process_age_s() -> float | None:
    """Seconds since this process was created, from /proc (None where there is no /proc)."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as up:
            fields = stat.read().rsplit(")", 1)[1].split()
            uptime = float(up.read().split()[0])
        start_ticks = int(fields[19])  # field 22 of stat: start time in clock ticks after boot
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def _peak_rss_mb() -> float | None:
    """Peak resident MiB (a fork server's child counts the pages it shares with the server,
    as a process that imported the same modules would)."""
    from clipfair.runtime import peak_rss_mb

    try:
        return round(peak_rss_mb(), 1)
    except ImportError:  # not on POSIX (it imports the resource module)
        return None


def cpu_s() -> float | None:
    """CPU seconds of this process and its waited-for children (a fork server's child: since
    the fork)."""
    try:
        import resource
    except ImportError:
        return None
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return round(total, 3)


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """Count the block as model loading (imports inside it stay imports)."""
    start = time.perf_counter()
    imported = _active[-1].imports if _active else 0.0
    try:
        yield
    finally:
        inside = (_active[-1].imports if _active else 0.0) - imported
        _loading[0] += time.perf_counter() - start - inside


def counts_as_loading(fn: Any) -> Any:
    """Decorator: the function's time is model loading."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with loading():
            return fn(*args, **kwargs)

    return wrapper


class PhaseTimer:
    """Times a command from its first line: outermost imports (an ``__import__`` hook) and
    :func:`loading` blocks; :meth:`report` gives the phases in seconds."""

    def __init__(self) -> None:
        self.startup = process_age_s() if started_at is None else time.monotonic() - started_at
        self.start = time.perf_counter()
        self.imports = 0.0
        self._depth = 0
        self._original = builtins.__import__

    def _import(self, *args: Any, **kwargs: Any) -> Any:
        if self._depth:
            return self._original(*args, **kwargs)
        self._depth += 1
        began = time.perf_counter()
        try:
            return self._original(*args, **kwargs)
        finally:
            self.imports += time.perf_counter() - began
            self._depth -= 1

    def __enter__(self) -> PhaseTimer:
        builtins.__import__ = self._import
        _loading[0] = 0.0
        _active.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        builtins.__import__ = self._original
        _active.remove(self)
        self.total = time.perf_counter() - self.start

    def report(self) -> dict[str, float | None]:
        load = _loading[0]
        return {
            "startup_s": None if self.startup is None else round(self.startup, 3),
            "import_s": round(self.imports, 3),
            "load_s": round(load, 3),
            "work_s": round(max(0.0, self.total - self.imports - load), 3),
            "command_s": round(self.total, 3),
            "peak_rss_mb": _peak_rss_mb(),
            "cpu_s": cpu_s(),
        }

    def print(self) -> None:
        print(PREFIX + json.dumps(self.report()), file=sys.stderr, flush=True)


def _combine(a: float | None, b: float | None, how: Any) -> float | None:
    return None if a is None or b is None else round(how(a, b), 3)


def parse_phases(text: str) -> dict[str, float | None] | None:
    """The phases of the commands a job's log records, or None: a job that ran several
    (an ingest does one per split) spent their sum, and peaked at the largest peak."""
    found: dict[str, float | None] | None = None
    for line in text.splitlines():
        if not line.startswith(PREFIX):
            continue
        try:
            phases = json.loads(line[len(PREFIX) :])
        except ValueError:
            continue
        if found is None:
            found = phases
            continue
        for key, value in phases.items():
            how = max if key == "peak_rss_mb" else (lambda x, y: x + y)
            found[key] = _combine(found.get(key), value, how)
    return found
