"""Source kinds: where a dataset's release comes from (``datasets.<name>.source.kind``).

One module per kind in this package; its file name is the kind, so a new kind is one module
here and one params entry, nothing else. A kind's module gives:

- ``FORMATS``: the dataset formats it delivers (fairface, adience, utkface);
- ``SCHEMA``: the JSON schema of its params entry (``properties``, ``required``; defaults with
  ``default:``), checked and filled in when params are validated;
- ``fetch(source, out, fmt, lock_path)``: make the release exist at ``out`` (the FairFace
  layout's folder, Adience's folder, or UTKFace's archive);
- optionally ``KNOWS_COUNTS = True`` (a synthetic source knows each split's rows:
  ``n_<split>``) and ``for_padding(source, padding)`` (the entry of one FairFace crop; by
  default the padding is added to it, and :func:`schema_of` gives the kind's schema a
  ``padding`` key).
"""

from __future__ import annotations

import copy
import importlib
import os
import pkgutil
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

from clipfair.data.layout import PADDINGS
from clipfair.errors import InputError


def source_kinds() -> list[str]:
    """Every kind: the modules of this package."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def source_module(kind: str) -> ModuleType:
    """The module of ``kind``; InputError naming the known kinds."""
    if kind not in source_kinds():
        raise InputError(f"unknown source kind {kind!r}; known: {', '.join(source_kinds())}")
    return importlib.import_module(f"{__name__}.{kind}")


def kinds_for(fmt: str) -> list[str]:
    """The kinds that deliver a dataset format."""
    return [k for k in source_kinds() if fmt in source_module(k).FORMATS]


def schema_of(kind: str) -> dict[str, Any]:
    """The full JSON schema of a kind's params entry: its ``kind`` key, and for a FairFace
    kind without ``for_padding`` the ``padding`` that :func:`source_for_padding` adds."""
    module = source_module(kind)
    schema = copy.deepcopy(module.SCHEMA)
    properties: dict[str, Any] = {"kind": {"const": kind}}
    if "fairface" in module.FORMATS and not hasattr(module, "for_padding"):
        properties["padding"] = {
            "enum": list(PADDINGS),
            "default": PADDINGS[0],
            "description": "FairFace: set from the dataset's padding",
        }
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {**properties, **schema.get("properties", {})},
        "required": ["kind", *schema.get("required", [])],
    }


def checked(source: dict[str, Any], where: str = "source") -> dict[str, Any]:
    """A copy of a source entry, valid against its kind's schema, with its defaults filled
    in; InputError naming the key and what was expected."""
    from jsonschema.exceptions import best_match

    from clipfair.config import DefaultsValidator, coerce_scalars

    source = copy.deepcopy(source)
    validator = DefaultsValidator(schema_of(source["kind"]))
    coerce_scalars(source, validator)
    errors = list(validator.iter_errors(source))
    if errors:
        error = best_match(errors)
        at = "".join(f".{p}" for p in error.absolute_path)
        raise InputError(f"invalid value at '{where}{at}': {error.message}")
    return source


def knows_counts(source: dict[str, Any]) -> bool:
    """Whether the source knows each split's row count (``n_<split>``): a synthetic one."""
    return getattr(source_module(source["kind"]), "KNOWS_COUNTS", False)


def source_for_padding(source: dict[str, Any], padding: str) -> dict[str, Any]:
    """The entry of one FairFace crop (which zip to look for, write or download): the kind's
    ``for_padding``, else the entry with the padding added."""
    if padding not in PADDINGS:
        raise InputError(f"padding {padding!r}; expected one of {PADDINGS}")
    module = source_module(source["kind"])
    if hasattr(module, "for_padding"):
        return module.for_padding(source, padding)
    return {**source, "padding": padding}


def fetch(
    source: dict[str, Any], out: str | Path, fmt: str, lock_path: str | Path | None = None
) -> Path:
    """Make a release of format ``fmt`` exist at ``out`` from ``source`` (checked against its
    kind's schema first). An Adience folder is built beside ``out`` and renamed, so an
    interrupted run leaves no half release."""
    module = source_module(source["kind"])
    source = checked(source)
    if fmt not in module.FORMATS:
        raise InputError(
            f"a {source['kind']} source delivers {', '.join(module.FORMATS)}, not {fmt} data"
        )
    out = Path(out)
    if fmt != "adience":
        module.fetch(source, out, fmt, lock_path)
    else:
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        module.fetch(source, tmp, fmt, lock_path)
        if out.exists():
            shutil.rmtree(out)  # a directory output Snakemake is rebuilding
        os.replace(tmp, out)
    return out
