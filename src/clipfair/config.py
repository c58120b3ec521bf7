"""Load params.yaml, apply its preset and validate it against the one JSON schema (the grid
it describes is expanded by :mod:`clipfair.grid`)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import best_match

from clipfair.data.sources import checked, kinds_for, source_for_padding
from clipfair.errors import InputError
from clipfair.grid import ROLES, cells, compare_references, method_data, pairs
from clipfair.methods import method_kind

DEFAULT_SCHEMA = Path("workflow/schemas/params.schema.yaml")


class ConfigError(InputError):
    """params.yaml does not match the schema or names something it does not define."""


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "<top level>"


_SCALAR_TYPES = {"integer": int, "number": (int, float), "boolean": bool}


def coerce_scalars(params: dict[str, Any], validator: jsonschema.Validator) -> None:
    """Read strings where the schema wants a number or boolean as YAML scalars, in place.

    Snakemake's ``--config 'finetune={epochs: 3}'`` hands nested values over as strings
    ('3'); only values the schema rejects as strings, and that read as the wanted type, change.
    """
    for _ in range(100):  # each pass fixes every error it sees; nested fixes may reveal more
        changed = False
        for error in validator.iter_errors(params):
            wanted = error.validator_value if error.validator == "type" else None
            if not isinstance(error.instance, str) or not wanted:
                continue
            wanted = [wanted] if isinstance(wanted, str) else wanted
            try:
                value = yaml.safe_load(error.instance)
            except yaml.YAMLError:
                continue
            if any(isinstance(value, _SCALAR_TYPES.get(t, ())) for t in wanted) and (
                not isinstance(value, bool) or "boolean" in wanted
            ):
                parent = params
                *path, last = error.absolute_path
                for key in path:
                    parent = parent[key]
                parent[last] = value
                changed = True
        if not changed:
            return


def _filling_defaults(cls: type) -> type:
    """A validator class that, validating an object, first sets each of its missing
    properties that has a ``default`` in the schema (what Snakemake's
    ``validate(..., set_default=True)`` does)."""
    properties = cls.VALIDATORS["properties"]

    def with_defaults(validator, props, instance, schema):
        if validator.is_type(instance, "object"):
            for key, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from properties(validator, props, instance, schema)

    return jsonschema.validators.extend(cls, {"properties": with_defaults})


DefaultsValidator = _filling_defaults(jsonschema.Draft202012Validator)


def apply_defaults(params: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA) -> None:
    """Fill the schema's defaults into ``params`` (in place), whether or not it is valid."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    for _ in DefaultsValidator(schema).iter_errors(params):
        pass


def validate_params(params: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA) -> None:
    """Raise ConfigError naming the key and what was expected if ``params`` is invalid; fill
    in the schema's defaults (the one place a default is written).

    Number and boolean values given as strings (nested ``--config``) are read first."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = DefaultsValidator(schema)
    coerce_scalars(params, validator)
    errors = list(validator.iter_errors(params))
    if errors:
        error = best_match(errors)
        raise ConfigError(f"params: invalid value at '{_where(error)}': {error.message}")
    grid = params["grid"]
    for key, registry in (
        ("dataset", "datasets"),
        ("adience", "datasets"),
        ("other_crop", "datasets"),
        ("utkface", "datasets"),
        ("backbones", "backbones"),
        ("datasources", "datasources"),
        ("methods", "methods"),
    ):
        names = grid.get(key) or []
        names = names if isinstance(names, list) else [names]
        for name in names:
            if name not in params[registry]:
                known = ", ".join(sorted(params[registry]))
                raise ConfigError(
                    f"params: grid.{key} names {name!r}, which is not defined under "
                    f"'{registry}:' (defined: {known})"
                )
    _check_datasets(params)
    _check_methods(params)
    _check_pairs(params)
    grid_cells = cells(params)
    if not grid_cells:
        raise ConfigError("params: the grid is empty (no datasource fits any backbone)")
    keys = {c.key: c for c in grid_cells}
    for task, reference in compare_references(params).items():
        if reference not in keys:
            raise ConfigError(
                f"params: compare.references.{task} is {reference!r}, which is not a cell of "
                "the grid (backbone/datasource/method)"
            )
        method_task = params["methods"][keys[reference].method]["task"]
        if method_task != task:
            raise ConfigError(
                f"params: compare.references.{task} is {reference!r}, a {method_task} method"
            )
        if method_data(params, keys[reference].method)["eval"] != grid["dataset"]:
            raise ConfigError(
                f"params: compare.references.{task} is {reference!r}, which does not predict "
                f"grid.dataset ({grid['dataset']}): cells are compared on its val images"
            )


def _dataset_defaults(params: dict[str, Any]) -> None:
    """Spell out each dataset's defaults once (format fairface; a FairFace-format dataset's
    padding 0.25), and read a padding written as a number (`-S datasets.fairface.padding=1.25`,
    unquoted YAML) as the padding's name."""
    for dataset in (params.get("datasets") or {}).values():
        if not isinstance(dataset, dict):
            continue  # the schema names it
        if isinstance(dataset.get("padding"), float | int):
            dataset["padding"] = f"{dataset['padding']:.2f}"
        dataset.setdefault("format", "fairface")
        if dataset["format"] == "fairface":
            dataset.setdefault("padding", "0.25")


def _check_datasets(params: dict[str, Any]) -> None:
    """Grid roles name datasets of the right format; sources and paddings fit the format."""
    grid = params["grid"]
    for key, fmt in ROLES.values():
        name = grid.get(key)
        if name and params["datasets"][name]["format"] != fmt:
            raise ConfigError(
                f"params: grid.{key} is {name!r}, a dataset of format "
                f"{params['datasets'][name]['format']!r}; expected {fmt!r}"
            )
    other = grid.get("other_crop")
    if (
        other
        and params["datasets"][other]["padding"] == params["datasets"][grid["dataset"]]["padding"]
    ):
        raise ConfigError(
            f"params: grid.other_crop is {other!r}, which has the padding of grid.dataset "
            f"({grid['dataset']!r}: {params['datasets'][other]['padding']}); it must be the "
            "other crop of the same faces"
        )
    for name, dataset in params["datasets"].items():
        fmt, kind = dataset["format"], dataset["source"]["kind"]
        adience = fmt == "adience"
        if kind not in kinds_for(fmt):
            raise ConfigError(
                f"params: datasets.{name}.source.kind is {kind!r}; a {fmt}-format dataset "
                f"comes from {', '.join(kinds_for(fmt))}"
            )
        try:  # the kind's own schema; its defaults filled in
            dataset["source"] = checked(dataset["source"], f"datasets.{name}.source")
        except InputError as exc:
            raise ConfigError(f"params: {exc}") from exc
        if adience and "val_folds" not in dataset:
            raise ConfigError(f"params: datasets.{name} (Adience) needs val_folds (e.g. [4])")
        if fmt != "fairface" and "padding" in dataset:
            raise ConfigError(f"params: datasets.{name}: padding is for FairFace-format data")
        if fmt != "utkface" and "split_seed" in dataset:
            raise ConfigError(
                f"params: datasets.{name}: split_seed is for UTKFace (which has no split)"
            )
        if fmt == "fairface":
            try:
                source_for_padding(dataset["source"], dataset["padding"])
            except ValueError as exc:
                raise ConfigError(f"params: datasets.{name}.{exc}") from exc


def _check_pairs(params: dict[str, Any]) -> None:
    """Datasources name defined backbones, and nothing in the grid drops out without a word:
    every grid datasource pairs with a grid backbone and every grid backbone with a datasource."""
    for name, entry in params["datasources"].items():
        for backbone in entry.get("backbones") or []:
            if backbone not in params["backbones"]:
                known = ", ".join(sorted(params["backbones"]))
                raise ConfigError(
                    f"params: datasources.{name}.backbones names {backbone!r}, which is not "
                    f"defined under 'backbones:' (defined: {known})"
                )
    paired = pairs(params)
    grid = params["grid"]
    for datasource in grid["datasources"]:
        if not any(d == datasource for _, d in paired):
            allowed = params["datasources"][datasource].get("backbones")
            raise ConfigError(
                f"params: grid.datasources has {datasource!r}, which fits none of grid.backbones "
                f"{grid['backbones']} (datasources.{datasource}.backbones: {allowed}); "
                "drop it from the grid or add a backbone it fits"
            )
    for backbone in grid["backbones"]:
        if not any(b == backbone for b, _ in paired):
            raise ConfigError(
                f"params: grid.backbones has {backbone!r}, which no datasource of "
                f"grid.datasources fits; add one (datasources.<name>.backbones) or drop it"
            )


def _check_race_vocabulary(name: str, spec: dict[str, Any], label_set_dir: str | None) -> None:
    """A race method stays within one vocabulary: UTKFace's five races are not FairFace's
    seven, so no race model crosses the two, and a zero-shot set names the classes it scores."""
    from clipfair.grid import TRAINED_KINDS
    from clipfair.methods.label_sets import get_label_set

    roles = [spec["eval_on"]]
    if spec["kind"] in TRAINED_KINDS:
        roles.append(spec["train_on"])
    vocabularies = {"utkface" if role == "utkface" else "fairface" for role in roles}
    if len(vocabularies) > 1:
        raise ConfigError(
            f"params: methods.{name} crosses UTKFace and FairFace for race, whose classes "
            "differ (UTKFace: White, Black, Asian, Indian, Others); race methods stay within one"
        )
    if "text" in method_kind(spec["kind"]).needs:  # a zero-shot label set names its classes
        label_set = get_label_set(spec["label_set"], label_set_dir)
        (wanted,) = vocabularies
        if label_set.vocabulary != wanted:
            raise ConfigError(
                f"params: methods.{name} predicts {wanted} race classes with label set "
                f"{spec['label_set']!r}, whose classes are {label_set.vocabulary}'s"
            )


def _check_methods(params: dict[str, Any]) -> None:
    """Adience methods are gender methods; fine-tune head sets exist and have the task;
    zero-shot label sets exist and predict the method's task."""
    from clipfair.methods.label_sets import LabelSetError, get_label_set

    label_set_dir = params["zeroshot"].get("label_set_dir")
    for name, spec in params["methods"].items():
        kind = method_kind(spec["kind"])
        if "text" in kind.needs:  # a label set's prompts
            try:
                label_set = get_label_set(spec["label_set"], label_set_dir)
            except LabelSetError as exc:
                raise ConfigError(f"params: methods.{name}.label_set: {exc}") from None
            if label_set.task != spec["task"]:
                raise ConfigError(
                    f"params: methods.{name} is a {spec['task']} method but label set "
                    f"{spec['label_set']!r} predicts {label_set.task}"
                )
        roles = (spec.get("train_on"), spec.get("eval_on"))
        if "adience" in roles and spec["task"] != "gender":
            raise ConfigError(
                f"params: methods.{name} uses Adience, which has gender labels only; "
                f"its task is {spec['task']!r}"
            )
        if spec["task"] == "race":
            _check_race_vocabulary(name, spec, label_set_dir)
        if kind.backbone == "vggface" and "vggface" not in params:
            raise ConfigError(f"params: methods.{name} needs the 'vggface:' section")
        if kind.scores_from == "finetune":  # a head set of finetune.heads
            heads = params["finetune"]["heads"]
            if spec["heads"] not in heads:
                raise ConfigError(
                    f"params: methods.{name}.heads is {spec['heads']!r}; defined under "
                    f"finetune.heads: {', '.join(sorted(heads))}"
                )
            if spec["task"] not in heads[spec["heads"]]:
                raise ConfigError(
                    f"params: methods.{name} is a {spec['task']} method but head set "
                    f"{spec['heads']!r} has only {heads[spec['heads']]}"
                )


# YAML 1.2 writers (DVC's `-S key=1e-05`) emit exponent floats without a dot, which PyYAML
# (YAML 1.1, used by Snakemake) reads as strings.
_EXP_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _exponent_floats(obj: Any) -> Any:
    """Turn exponent-notation strings like '1e-05' back into floats, recursively."""
    if isinstance(obj, dict):
        return {k: _exponent_floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_exponent_floats(v) for v in obj]
    if isinstance(obj, str) and _EXP_FLOAT.match(obj):
        return float(obj)
    return obj


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay`` applied: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def zeroshot_sweep(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Methods of the zero-shot sweep: every (label set, aggregation, k), named
    ``zs_<label_set>_<mean|embavg|top<k>|probtop<k>>``.

    No cell repeats another: a set with one prompt per class gets ``mean`` only (every rule
    gives the same predictions), ``probtop1`` is ``top1``, and k stops at the fewest prompts
    of a class (beyond that it equals a larger k).
    """
    from clipfair.methods.label_sets import get_label_set

    zeroshot = params["zeroshot"]
    sweep = zeroshot["sweep"]
    out: dict[str, dict[str, Any]] = {}
    for name in sweep["label_sets"]:
        label_set = get_label_set(name, zeroshot.get("label_set_dir"))
        base = {"kind": "zeroshot", "task": label_set.task, "label_set": name}
        for aggregation in sweep["aggregations"]:
            if label_set.max_prompts == 1 and aggregation != "mean":
                continue
            if aggregation in ("mean", "embavg"):
                out[f"zs_{name}_{aggregation}"] = {**base, "aggregation": aggregation}
                continue
            prefix = "top" if aggregation == "topk" else "probtop"
            for k in sweep["k"]:
                if k <= label_set.min_prompts and (aggregation == "topk" or k > 1):
                    out[f"zs_{name}_{prefix}{k}"] = {**base, "aggregation": aggregation, "k": k}
    return out


def _expand_methods(params: dict[str, Any]) -> dict[str, Any]:
    """Add the zero-shot sweep's methods to ``methods:`` and (if enabled) to the grid."""
    from clipfair.methods.label_sets import LabelSetError

    try:
        sweep = zeroshot_sweep(params)
    except LabelSetError as exc:
        raise ConfigError(f"params: zeroshot.sweep.label_sets: {exc}") from None
    methods = params.setdefault("methods", {})
    for name, spec in sweep.items():
        methods.setdefault(name, spec)
    grid = params.get("grid") or {}
    if grid["zeroshot_sweep"]:
        grid["methods"] = list(dict.fromkeys([*grid.get("methods", []), *sweep]))
    return params


def resolve_params(
    params: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA
) -> dict[str, Any]:
    """Apply the selected ``preset`` (an overlay under ``presets:``) and validate the result.

    ``preset: real`` (the default) uses params as written; ``preset: demo`` overlays
    ``presets.demo``, ``preset: scale`` the full-size rehearsal. So ``dvc exp run -S
    preset=demo`` and ``snakemake --config preset=demo`` switch the whole run with one key.
    (``preset`` was called ``profile`` before; that word is kept for Snakemake's profiles.)
    """
    params = _exponent_floats(copy.deepcopy(params))  # callers may reuse the dict they passed
    for old, new in (("profile", "preset"), ("profiles", "presets")):
        if old in params:
            raise ConfigError(
                f"params: {old!r} was renamed {new!r} (a Snakemake profile is another thing); "
                f"rename the key, e.g. --config {new}=demo"
            )
    apply_defaults(params, schema_path)  # the preset's default, before it is applied
    name = params["preset"]
    if name != "real":
        presets = params.get("presets") or {}
        if name not in presets:
            raise ConfigError(
                f"params: preset {name!r} is not defined under 'presets:' "
                f"(defined: real, {', '.join(sorted(presets))})"
            )
        params = deep_merge(params, presets[name])
        apply_defaults(params, schema_path)  # what the overlay added
    params = _expand_methods(params)
    _dataset_defaults(params)
    validate_params(params, schema_path)
    return params


def load_params(
    path: str | Path, schema_path: str | Path = DEFAULT_SCHEMA, preset: str | None = None
) -> dict[str, Any]:
    """Read a params file, apply its preset (or ``preset``, as ``--config preset=...``
    would), validate."""
    params = yaml.safe_load(Path(path).read_text())
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level")
    if preset:
        params["preset"] = preset
    return resolve_params(params, schema_path)


def run_config(resolved: dict[str, Any]) -> dict[str, Any]:
    """What a run records next to its metrics: the preset, then the config it resolved to
    (the other presets left out), in the config's order."""
    out = {"preset": resolved["preset"]}
    out.update((k, v) for k, v in resolved.items() if k not in ("preset", "presets"))
    return out


def run_config_digest(resolved: dict[str, Any]) -> str:
    """sha256 of :func:`run_config` (order included): the run_config rule's param, so that a
    changed value rewrites the file without Snakemake printing the whole config as the
    reason."""
    import hashlib

    return hashlib.sha256(json.dumps(run_config(resolved)).encode()).hexdigest()


def write_run_config(out: str | Path, resolved: dict[str, Any], log: str | Path) -> None:
    """Record what a run ran with (``metrics/run_config.yaml``): its preset and the config it
    resolved to, as block YAML; one line in ``log``."""
    from clipfair.io import write_yaml

    header = "# written by the run_config rule: the config this run's metrics come from\n"
    write_yaml(out, resolved, header)
    Path(log).write_text(f"preset {resolved.get('preset')}: resolved config -> {out}\n")
