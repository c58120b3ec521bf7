"""The project's own error types: what a user can fix (an input file, a setting, a missing
download). The CLI prints their message, which names the file or setting, as one line;
every other exception keeps its traceback (:func:`clipfair.cli.main`)."""

from __future__ import annotations


class ClipfairError(Exception):
    """Something the user can fix; the message names the file, row or setting."""


class InputError(ClipfairError, ValueError):
    """A file's content or a setting's value is not what was expected."""


class MissingFileError(ClipfairError, FileNotFoundError):
    """A file or folder that should be there is not."""


class LoadError(ClipfairError, RuntimeError):
    """Weights, data or a device that could not be had (offline, no GPU, ...)."""


class DiskSpaceError(ClipfairError, OSError):
    """Not enough free disk for a large write, found before the write starts."""
