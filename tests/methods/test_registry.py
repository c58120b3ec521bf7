"""The method registry is the one place for a kind."""

from __future__ import annotations

import yaml

from clipfair.config import TRAINED_KINDS, VGGFACE_KINDS
from clipfair.methods import METHODS, get_method, kind_options
from tests.conftest import SCHEMA


def _schema_methods():
    return yaml.safe_load(SCHEMA.read_text())["properties"]["methods"]["additionalProperties"]


def test_the_schemas_kind_enum_is_the_registry():
    assert set(_schema_methods()["properties"]["kind"]["enum"]) == set(METHODS)


def test_kinds_that_train_are_the_ones_the_schema_gives_a_train_on_role():
    with_roles = set()
    for branch in _schema_methods()["allOf"]:
        kinds = branch["if"]["properties"]["kind"]
        if "train_on" in branch["then"]["properties"]:
            with_roles |= set(kinds.get("enum") or [kinds.get("const")])
    # fine-tuned heads train on grid.dataset only (their rule has no role), the rest do
    assert with_roles == TRAINED_KINDS - {"finetune"}
    assert {"vggface_transfer"} == VGGFACE_KINDS


def test_every_kind_imports_and_options_come_from_its_params_section():
    for kind in METHODS:
        assert callable(get_method(kind).run)
    params = {"probe": {"c_min": 0.1, "n_c": 3}, "zeroshot": {"label_set_dir": "x", "sweep": {}}}
    assert kind_options("linear_probe", params) == params["probe"]
    assert kind_options("zeroshot", params) == {"label_set_dir": "x"}  # not the sweep
    assert kind_options("finetune", params) == {}
