"""The grid of a validated config: its (backbone, datasource) pairs and its cells, which
dataset each method trains on and predicts, and the comparison references.

Loading and validating the config is :mod:`clipfair.config`; this module only expands it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from clipfair.methods import METHODS


@dataclass(frozen=True)
class Cell:
    """One point of the grid."""

    backbone: str
    datasource: str
    method: str

    @property
    def key(self) -> str:
        return f"{self.backbone}/{self.datasource}/{self.method}"

    @classmethod
    def from_key(cls, key: str) -> Cell:
        """The cell of a ``backbone/datasource/method`` key."""
        backbone, datasource, method = key.split("/")
        return cls(backbone, datasource, method)


def compare_references(params: dict[str, Any]) -> dict[str, str]:
    """{task: reference cell} of ``compare.references``, without the tasks set to null."""
    references = (params.get("compare") or {}).get("references") or {}
    return {task: cell for task, cell in references.items() if cell}


def pairs(params: dict[str, Any]) -> list[tuple[str, str]]:
    """(backbone, datasource) pairs of the grid; a datasource may restrict its backbones.

    VGG-Face weights fit no CLIP backbone: a ``vggface`` backbone pairs only with the
    datasources that name it in their ``backbones``.
    """
    grid = params["grid"]
    out = []
    for backbone, datasource in itertools.product(grid["backbones"], grid["datasources"]):
        allowed = params["datasources"][datasource].get("backbones")
        if params["backbones"][backbone]["library"] == "vggface" and allowed is None:
            continue
        if allowed is None or backbone in allowed:
            out.append((backbone, datasource))
    return out


#: method kinds that run on VGG-Face; every other kind needs a CLIP backbone (embeddings, text)
VGGFACE_KINDS = frozenset(k for k, m in METHODS.items() if m.backbone == "vggface")
#: method kinds that train on a dataset's train split (the others only predict)
TRAINED_KINDS = frozenset(k for k, m in METHODS.items() if m.trains)


#: role (a method's ``train_on`` / ``eval_on``) -> (the grid key naming its dataset, format)
ROLES: dict[str, tuple[str, str]] = {
    "fairface": ("dataset", "fairface"),
    "other_crop": ("other_crop", "fairface"),  # the same FairFace faces in the other padding
    "adience": ("adience", "adience"),
    "utkface": ("utkface", "utkface"),
}


def role_dataset(params: dict[str, Any], role: str) -> str | None:
    """The dataset a role names (:data:`ROLES`; None when the grid leaves the role out)."""
    return params["grid"].get(ROLES[role][0])


def method_data(params: dict[str, Any], method: str) -> dict[str, str | None]:
    """{"train": dataset the method trains on (None if it does not), "eval": dataset of val,
    "padding": the eval dataset's FairFace crop (None for other formats)}."""
    spec = params["methods"][method]
    trains = spec["kind"] in TRAINED_KINDS
    evaluated = role_dataset(params, spec["eval_on"])
    return {
        "train": role_dataset(params, spec["train_on"]) if trains else None,
        "eval": evaluated,
        "padding": params["datasets"][evaluated].get("padding") if evaluated else None,
    }


def applies(params: dict[str, Any], backbone: str, method: str) -> bool:
    """Whether a method runs on a backbone, and its datasets are in this grid."""
    spec = params["methods"][method]
    vggface = params["backbones"][backbone]["library"] == "vggface"
    if vggface != (spec["kind"] in VGGFACE_KINDS):
        return False
    roles = [spec["eval_on"]]
    if spec["kind"] in TRAINED_KINDS:
        roles.append(spec["train_on"])
    return all(role_dataset(params, role) is not None for role in roles)


def cells(params: dict[str, Any]) -> list[Cell]:
    """Every (backbone, datasource, method) cell of the grid: methods that fit the backbone,
    on datasets the grid has (no ``grid.adience``: no Adience cells)."""
    return [
        Cell(b, d, m)
        for b, d in pairs(params)
        for m in params["grid"]["methods"]
        if applies(params, b, m)
    ]


def probe_fits(params: dict[str, Any], backbone: str, datasource: str) -> dict[str, int]:
    """Per method kind of the model's "probes" job: its distinct fits (cells training on the
    same dataset for the same task share one, :mod:`clipfair.methods.runner`), and
    ``"cells"``: the job's cells."""
    out: dict[str, int] = {"cells": 0}
    seen: set[tuple[str, str | None, str]] = set()
    for cell in cells(params):
        spec = params["methods"][cell.method]
        if (cell.backbone, cell.datasource) != (backbone, datasource):
            continue
        if METHODS[spec["kind"]].batch != "probes":
            continue
        out["cells"] += 1
        key = (spec["kind"], method_data(params, cell.method)["train"], spec["task"])
        if key not in seen:
            seen.add(key)
            out[spec["kind"]] = out.get(spec["kind"], 0) + 1
    return out


def clip_pairs(params: dict[str, Any]) -> list[tuple[str, str]]:
    """(backbone, datasource) pairs with a CLIP backbone (image and prompt embeddings)."""
    return [(b, d) for b, d in pairs(params) if params["backbones"][b]["library"] != "vggface"]


def cell_batches(params: dict[str, Any]) -> dict[str, tuple[list[str], list[str], list[str]]]:
    """{batch: (methods, backbones, datasources)}: the grid's cells grouped into one job per
    model and batch (the method kind's ``batch``). Every model of a batch runs all of its
    methods (a method runs on the backbone family it fits), so a job's outputs are fixed."""
    by_pair: dict[str, dict[tuple[str, str], list[str]]] = {}
    for c in cells(params):
        batch = METHODS[params["methods"][c.method]["kind"]].batch
        by_pair.setdefault(batch, {}).setdefault((c.backbone, c.datasource), []).append(c.method)
    out = {}
    for batch, pair_methods in by_pair.items():
        methods = sorted({m for ms in pair_methods.values() for m in ms})
        for pair, ms in pair_methods.items():
            if sorted(ms) != methods:  # cannot happen with the applies() rules; say so if it does
                raise ValueError(f"batch {batch}: {'/'.join(pair)} runs {ms}, others {methods}")
        backbones = sorted({b for b, _ in pair_methods})
        datasources = sorted({d for _, d in pair_methods})
        out[batch] = (methods, backbones, datasources)
    return out


def batch_threads(params: dict[str, Any], methods: list[str]) -> int:
    """A cell batch job's threads: the most its method kinds ask for, capped by
    ``cells.max_threads``."""
    wanted = max(METHODS[params["methods"][m]["kind"]].threads for m in methods)
    return min(wanted, params["cells"]["max_threads"])


def label_sets_used(params: dict[str, Any]) -> list[str]:
    """The zero-shot label sets the grid's methods and the k analysis use (each model embeds
    their prompts once)."""
    k_analysis = params["zeroshot"].get("k_analysis") or {"label_sets": []}
    used = {
        params["methods"][m]["label_set"]
        for m in params["grid"]["methods"]
        if "text" in METHODS[params["methods"][m]["kind"]].needs  # a label set's prompts
    }
    return sorted(used | set(k_analysis["label_sets"]))


def embed_datasets(params: dict[str, Any]) -> list[str]:
    """The datasets each CLIP model's embed job encodes (train and val), grid.dataset first:
    those some cell trains on or predicts (a role the grid names but no method uses is
    neither acquired nor embedded)."""
    read = {method_data(params, c.method)[s] for c in cells(params) for s in ("train", "eval")}
    first = params["grid"]["dataset"]
    roles = (params["grid"].get(k) for k in ("other_crop", "adience", "utkface"))
    return [first, *(d for d in roles if d and d in read and d != first)]


def vggface_datasets(params: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(the datasets a VGG-Face transfer trains on, the datasets it scores): it scores
    grid.dataset and Adience where they are embedded, and trains on those of them that a
    vggface_transfer cell trains on."""
    embedded = embed_datasets(params)
    roles = (params["grid"]["dataset"], params["grid"].get("adience"))
    scored = [d for d in roles if d in embedded]
    transfers_train_on = {
        method_data(params, c.method)["train"]
        for c in cells(params)
        if params["methods"][c.method]["kind"] in VGGFACE_KINDS
    }
    return [d for d in scored if d in transfers_train_on], scored
