import copy

import pytest
import yaml

from clipfair.config import ConfigError, deep_merge, resolve_params
from clipfair.grid import cells, method_data

from .conftest import ROOT, SCHEMA


@pytest.fixture
def params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_default_params_describe_the_real_grid(params):
    resolved = resolve_params(params, SCHEMA)
    assert resolved["grid"]["dataset"] == "fairface"
    assert {(c.backbone, c.datasource) for c in cells(resolved)} == {
        ("ViT-L-14", "openai"),
        ("ViT-L-14-336", "openai"),
        ("ViT-L-14", "laion400m_e31"),
        ("ViT-L-14", "laion400m_e32"),
        ("ViT-L-14", "laion2b_s32b_b82k"),
        ("ViT-L-14", "datacomp_xl_s13b_b90k"),
        ("ViT-L-14", "commonpool_xl_s13b_b90k"),
        ("hf-clip", "hf_openai_b32"),
        ("hf-clip", "hf_openai_l14"),
        ("vggface", "vggface_t7"),
    }
    assert resolved["datasources"]["openai"]["quick_gelu"] is True


def test_demo_preset_overlays_the_grid(params):
    params["preset"] = "demo"
    resolved = resolve_params(params, SCHEMA)
    assert resolved["grid"]["dataset"] == "fairface_demo"
    assert {c.backbone for c in cells(resolved)} == {"tiny-vit", "tiny-hf", "vggface"}
    # a datasource's `backbones` list limits its pairs: no CLIP with VGG-Face's weights
    pairs = {(c.backbone, c.datasource) for c in cells(resolved)}
    assert pairs == {
        ("tiny-vit", "demo_full"),
        ("tiny-hf", "demo_full"),
        ("vggface", "vggface_random"),
    }
    assert resolved["probe"] == params["probe"]  # untouched sections stay


def test_unknown_key_is_named(params):
    params["probe"]["c_maxx"] = 3
    with pytest.raises(ConfigError, match=r"'probe'.*'c_maxx' was unexpected"):
        resolve_params(params, SCHEMA)


def test_wrong_value_is_named(params):
    params["embed"]["batch_size"] = 0
    with pytest.raises(ConfigError, match=r"embed\.batch_size"):
        resolve_params(params, SCHEMA)


def test_grid_reference_to_undefined_entry_is_named(params):
    params["grid"]["backbones"] = ["ViT-L-14", "ViT-Z-99"]
    with pytest.raises(ConfigError, match=r"grid\.backbones names 'ViT-Z-99'.*backbones:"):
        resolve_params(params, SCHEMA)


def test_unknown_preset_is_named(params):
    params["preset"] = "tiny"
    with pytest.raises(ConfigError, match=r"preset 'tiny' is not defined"):
        resolve_params(params, SCHEMA)


def test_the_old_profile_key_says_it_was_renamed(params):
    params["profile"] = "demo"
    with pytest.raises(ConfigError, match=r"'profile' was renamed 'preset'"):
        resolve_params(params, SCHEMA)


def test_method_option_of_another_kind_is_rejected(params):
    params["methods"]["probe_age"]["label_set"] = "gender"
    with pytest.raises(ConfigError, match=r"methods\.probe_age"):
        resolve_params(params, SCHEMA)


def test_deep_merge_merges_maps_and_replaces_lists():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2}
    merged = deep_merge(base, {"a": {"y": [3]}})
    assert merged == {"a": {"x": 1, "y": [3]}, "b": 2}
    assert base == copy.deepcopy(base) and base["a"]["y"] == [1, 2]


def test_exponent_floats_written_by_dvc_are_numbers(params):
    params["probe"]["c_min"] = "1e-05"  # how PyYAML reads DVC's `-S probe.c_min=0.00001`
    assert resolve_params(params, SCHEMA)["probe"]["c_min"] == 1e-05


def test_compare_reference_must_be_a_cell_of_the_task(params):
    params["compare"]["references"]["gender"] = "ViT-L-14/openai/zs_nothing"
    with pytest.raises(ConfigError, match=r"compare\.references\.gender .*not a cell"):
        resolve_params(params, SCHEMA)
    params["compare"]["references"]["gender"] = "ViT-L-14/openai/probe_race"
    with pytest.raises(ConfigError, match=r"a race method"):
        resolve_params(params, SCHEMA)


def test_methods_run_on_the_backbones_they_fit_and_the_datasets_by_role(params):
    resolved = resolve_params(params, SCHEMA)
    grid = cells(resolved)
    vgg = {c.method for c in grid if c.backbone == "vggface"}
    assert vgg == {m for m, s in resolved["methods"].items() if s["kind"] == "vggface_transfer"}
    assert all(c.datasource == "vggface_t7" for c in grid if c.backbone == "vggface")
    clip = {c.method for c in grid if c.backbone == "ViT-L-14"}
    assert "probe_gender_adience2ff" in clip and not clip & vgg
    assert method_data(resolved, "probe_gender_adience2ff") == {
        "train": "adience",
        "eval": "fairface",
        "padding": "0.25",
    }
    assert method_data(resolved, "vggface_gender_ff2adience") == {
        "train": "fairface",
        "eval": "adience",
        "padding": None,
    }
    zs_adience = method_data(resolved, "zs_raw_gender_labels_mean_adience")
    assert zs_adience == {"train": None, "eval": "adience", "padding": None}
    # without grid.adience the Adience cells leave the grid, the others stay
    params["grid"]["adience"] = None
    without = cells(resolve_params(params, SCHEMA))
    assert {c.key for c in without} == {c.key for c in grid if "adience" not in c.method}


def test_adience_rules_are_checked(params):
    bad = copy.deepcopy(params)
    bad["methods"]["probe_race_adience"] = {
        "kind": "linear_probe",
        "task": "race",
        "train_on": "adience",
    }
    with pytest.raises(ConfigError, match=r"probe_race_adience uses Adience.*gender labels only"):
        resolve_params(bad, SCHEMA)
    bad = copy.deepcopy(params)
    bad["grid"]["adience"] = "fairface_hf"
    with pytest.raises(ConfigError, match=r"grid\.adience is 'fairface_hf'.*expected 'adience'"):
        resolve_params(bad, SCHEMA)
    bad = copy.deepcopy(params)
    bad["datasets"]["adience"]["source"] = {"kind": "hf_parquet", "repo": "x", "config": "0.25"}
    with pytest.raises(ConfigError, match=r"datasets\.adience\.source\.kind is 'hf_parquet'"):
        resolve_params(bad, SCHEMA)
    bad = copy.deepcopy(params)
    del bad["datasets"]["adience"]["val_folds"]
    with pytest.raises(ConfigError, match=r"datasets\.adience .* needs val_folds"):
        resolve_params(bad, SCHEMA)
    bad = copy.deepcopy(params)
    # zero-shot trains on nothing
    bad["methods"]["zs_raw_gender_labels_mean_adience"]["train_on"] = "adience"
    with pytest.raises(ConfigError, match=r"methods\.zs_raw_gender_labels_mean_adience"):
        resolve_params(bad, SCHEMA)


def test_padding_written_as_a_number_is_read_as_the_padding(params):
    params["datasets"]["fairface"]["padding"] = 1.25  # `dvc exp run -S ...padding=1.25`
    assert resolve_params(params, SCHEMA)["datasets"]["fairface"]["padding"] == "1.25"
    params["datasets"]["fairface"]["padding"] = 0.5
    with pytest.raises(ConfigError, match=r"datasets\.fairface\.padding"):
        resolve_params(params, SCHEMA)


def test_compare_reference_must_predict_the_grid_dataset(params):
    params["compare"]["references"]["gender"] = "ViT-L-14/openai/probe_gender_ff2adience"
    with pytest.raises(ConfigError, match=r"does not predict grid\.dataset \(fairface\)"):
        resolve_params(params, SCHEMA)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda p: p["datasources"]["openai"].update(backbones=[]),
            r"datasources\.openai\.backbones.*should be non-empty",
        ),
        (
            lambda p: p["datasources"]["openai"].update(backbones=["ViT-X-99"]),
            r"datasources\.openai\.backbones names 'ViT-X-99', which is not defined",
        ),
        (
            lambda p: p["grid"].update(backbones=["hf-clip"]),
            r"grid\.datasources has 'openai', which fits none of grid\.backbones",
        ),
        (
            lambda p: p["grid"].update(datasources=["openai"]),
            r"grid\.backbones has 'hf-clip', which no datasource of grid\.datasources fits",
        ),
    ],
)
def test_grid_entries_never_drop_out_silently(params, change, message):
    change(params)
    with pytest.raises(ConfigError, match=message):
        resolve_params(params, SCHEMA)


def test_nested_config_strings_are_read_as_the_schema_wants(params):
    # snakemake --config 'finetune={epochs: 3, lr: 1e-4}' hands the values over as strings
    params["finetune"] = deep_merge(params["finetune"], {"epochs": "3", "lr": "0.0001"})
    params["embed"]["compile"] = "true"
    resolved = resolve_params(params, SCHEMA)
    assert resolved["finetune"]["epochs"] == 3 and resolved["finetune"]["lr"] == 1e-4
    assert resolved["embed"]["compile"] is True
    assert resolved["datasets"]["fairface"]["padding"] == "0.25"  # a string stays a string
    params["finetune"]["epochs"] = "three"
    with pytest.raises(ConfigError, match=r"finetune\.epochs.*'three' is not of type 'integer'"):
        resolve_params(params, SCHEMA)


def test_both_crops_in_one_grid(params):
    """grid.other_crop adds the *_other_crop cells on the same faces' other padding; off by
    default in the real grid, on in the demo, and it must be the other crop."""
    real = resolve_params(copy.deepcopy(params), SCHEMA)
    assert not [c for c in cells(real) if c.method.endswith("_other_crop")]
    params["grid"]["other_crop"] = "fairface_125"
    both = resolve_params(copy.deepcopy(params), SCHEMA)
    crops = {c.method for c in cells(both) if c.method.endswith("_other_crop")}
    assert crops == {"zs_raw_gender_labels_mean_other_crop", "probe_gender_other_crop",
                     "probe_race_other_crop", "probe_age_other_crop"}  # fmt: skip
    assert method_data(both, "probe_race_other_crop") == {
        "train": "fairface_125", "eval": "fairface_125", "padding": "1.25"}  # fmt: skip
    assert method_data(both, "probe_race")["padding"] == "0.25"
    assert method_data(both, "probe_gender_adience")["padding"] is None
    same = copy.deepcopy(params)
    same["datasets"]["fairface_125"]["padding"] = "0.25"
    with pytest.raises(ConfigError, match=r"grid\.other_crop is 'fairface_125'.*other crop"):
        resolve_params(same, SCHEMA)
    params["grid"]["other_crop"] = "adience"
    with pytest.raises(ConfigError, match=r"grid\.other_crop is 'adience'.*expected 'fairface'"):
        resolve_params(params, SCHEMA)


def test_utkface_cells_and_its_own_race_classes(params):
    params["grid"]["utkface"] = "utkface"
    resolved = resolve_params(copy.deepcopy(params), SCHEMA)
    utk = {c.method for c in cells(resolved) if "utk" in c.method}
    assert utk == {"zs_raw_gender_labels_mean_utkface", "zs_age_mean_utkface",
                   "zs_utkface_race_mean_utkface", "probe_gender_utkface", "probe_race_utkface",
                   "probe_age_utkface", "probe_gender_utk2ff", "probe_gender_ff2utk",
                   "probe_age_utk2ff", "probe_age_ff2utk"}  # fmt: skip
    assert method_data(resolved, "probe_age_utk2ff") == {
        "train": "utkface", "eval": "fairface", "padding": "0.25"}  # fmt: skip
    # race never crosses the two vocabularies, and a zero-shot set names the classes it scores
    crossing = copy.deepcopy(params)
    crossing["methods"]["probe_race_utk2ff"] = {"kind": "linear_probe", "task": "race",
                                                "train_on": "utkface"}  # fmt: skip
    with pytest.raises(ConfigError, match=r"probe_race_utk2ff crosses UTKFace and FairFace"):
        resolve_params(crossing, SCHEMA)
    wrong_set = copy.deepcopy(params)
    wrong_set["methods"]["zs_raw_race_labels_mean_utkface"] = {
        "kind": "zeroshot", "task": "race", "label_set": "raw_race_labels",
        "aggregation": "mean", "eval_on": "utkface"}  # fmt: skip
    with pytest.raises(ConfigError, match=r"predicts utkface race classes with label set"):
        resolve_params(wrong_set, SCHEMA)
    params["datasets"]["utkface"]["padding"] = "0.25"
    with pytest.raises(ConfigError, match=r"datasets\.utkface: padding is for FairFace"):
        resolve_params(copy.deepcopy(params), SCHEMA)
    del params["datasets"]["utkface"]["padding"]
    params["grid"]["utkface"] = "adience"
    with pytest.raises(ConfigError, match=r"grid\.utkface is 'adience'.*expected 'utkface'"):
        resolve_params(params, SCHEMA)


def test_the_schemas_training_enums_are_the_trainers_choices():
    """The schema (YAML) cannot import the choices; this holds it to them."""
    from clipfair.models.train_choices import TOKEN_EMBEDDING

    schema = yaml.safe_load(SCHEMA.read_text())
    token = schema["properties"]["train_clip"]["properties"]["token_embedding"]
    assert tuple(token["enum"]) == TOKEN_EMBEDDING


def _properties(node, out):
    """(name, has a default) of every property in a schema node, recursively."""
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            out.append((name, isinstance(sub, dict) and "default" in sub))
        for value in node.values():
            _properties(value, out)
    elif isinstance(node, list):
        for value in node:
            _properties(value, out)
    return out


def test_no_rule_or_module_restates_a_schema_default():
    """A default lives in the schema (`default:`, filled in at validation); code reads the
    key. A `.get("<key>", <value>)` on a key the schema gives a default would be a second
    home that can drift from the first."""
    import re

    from clipfair.data.sources import schema_of, source_kinds

    from .conftest import ROOT

    found = _properties(yaml.safe_load(SCHEMA.read_text()), [])
    for kind in source_kinds():  # each source kind's own schema, in its module
        found += _properties(schema_of(kind), [])
    with_default = {name for name, has in found if has}
    without = {name for name, has in found if not has}
    keys = sorted(with_default - without)  # a name used elsewhere without a default: ambiguous
    assert {"preset", "eval_on", "train_on", "on_bad_rows", "headline", "downloads_lock"} <= set(
        keys
    )
    names = "|".join(map(re.escape, keys))
    pattern = re.compile(rf"""\.get\(\s*["']({names})["']\s*,""")
    # not params: a probe cell's info (its C sweep) shares a key name with zeroshot.sweep
    elsewhere = {("src/clipfair/report/plots.py", 'info.get("sweep", [])')}
    files = [
        *ROOT.glob("src/clipfair/**/*.py"),
        *ROOT.glob("workflow/**/*.smk"),
        ROOT / "Snakefile",
    ]
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in files
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
        and not any(str(path.relative_to(ROOT)) == f and s in line for f, s in elsewhere)
    ]
    assert not offenders, offenders
    # and the defaults are filled in: a params file without these keys resolves with them
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    del params["grid"]["headline"], params["paths"]["downloads_lock"], params["preset"]
    resolved = resolve_params(params, SCHEMA)
    assert resolved["preset"] == "real" and resolved["grid"]["headline"] == "accuracy"
    assert resolved["paths"]["downloads_lock"] == "downloads.lock"
    assert resolved["datasets"]["fairface"]["on_count_mismatch"] == "fail"
    assert resolved["methods"]["probe_gender"]["eval_on"] == "fairface"
    assert resolved["methods"]["ft_gender"]["train_on"] == "fairface"
