"""The method registry is the one place for a kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml

from clipfair.grid import TRAINED_KINDS, VGGFACE_KINDS
from clipfair.methods import METHODS, get_method, kind_options
from clipfair.methods.nearest_mean import class_means, run
from tests.conftest import SCHEMA


def _schema_methods():
    return yaml.safe_load(SCHEMA.read_text())["properties"]["methods"]["additionalProperties"]


def test_the_schemas_kind_enum_is_the_registry():
    assert set(_schema_methods()["properties"]["kind"]["enum"]) == set(METHODS)


def test_kinds_that_train_are_the_ones_the_schema_gives_a_train_on_role():
    with_roles = set()
    for branch in _schema_methods()["allOf"]:
        kinds = branch["if"]["properties"]["kind"]
        train_on = branch["then"]["properties"].get("train_on")
        if train_on is not None and "const" not in train_on:  # a role a user may choose
            with_roles |= set(kinds.get("enum") or [kinds.get("const")])
    # fine-tuned heads train on grid.dataset only (their role is fixed), the rest choose
    assert with_roles == TRAINED_KINDS - {"finetune"}
    assert {"vggface_transfer"} == VGGFACE_KINDS


def test_every_kind_imports_and_options_come_from_its_params_section():
    for kind in METHODS:
        module = get_method(kind)  # run, or fit + predict (a fit that cells can share)
        fits = hasattr(module, "fit") and callable(module.predict)
        assert callable(getattr(module, "run", None)) != fits, kind
    params = {"probe": {"c_min": 0.1, "n_c": 3}, "zeroshot": {"label_set_dir": "x", "sweep": {}}}
    assert kind_options("linear_probe", params) == params["probe"]
    assert kind_options("zeroshot", params) == {"label_set_dir": "x"}  # not the sweep
    assert kind_options("nearest_mean", params) == {}


def test_class_means_are_unit_means_of_unit_rows():
    x = np.array([[3.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    means = class_means(x, np.array([0, 0, 1]), 3)
    np.testing.assert_allclose(means[0], [2**-0.5, 2**-0.5])  # mean of (1,0) and (0,1)
    np.testing.assert_allclose(means[1], [2**-0.5, 2**-0.5])
    np.testing.assert_array_equal(means[2], [0.0, 0.0])  # a class with no train rows


def test_nearest_mean_predicts_the_closest_class_centre():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:2] * 5
    y = rng.integers(0, 2, 400)
    x = centres[y] + rng.normal(0, 1, (400, 8))
    index = pd.DataFrame({"gender_code": y[:300]})
    scores, classes, info = run(
        {"task": "gender"},
        {"train": x[:300], "train_index": index, "val": x[300:], "val_index": index[:100]},
        0,
        {},
    )
    assert classes == ["Male", "Female"] and scores.shape == (100, 2)
    assert (scores.argmax(1) == y[300:]).mean() > 0.95
    assert sum(info["train_counts"].values()) == 300
    assert np.all(np.abs(scores) <= 1 + 1e-6)  # cosines
