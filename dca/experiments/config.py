"""Workflow config validation: the JSON schema (with its defaults), then the cross-references it cannot check.

Snakemake validates the config with ``snakemake.utils.validate`` (``workflow/rules/common.smk``) against
the schema in ``workflow/schemas/config.schema.yaml``, shipped in the package through the link
``dca/resources/config.schema.yaml`` (:data:`SCHEMA_PATH`; a wheel holds the file itself);
:func:`validate_config` does the same here (Draft 2020-12, defaults filled in) so that tests, DVC
helpers and ``dca experiments check`` need no Snakemake. :func:`check_config` then checks the
names that refer to other keys (groups -> datasets, variants, papers; datasets -> the registry;
variants -> registered models; enhancement parameters) and raises :class:`ConfigError` with the
dotted key of the first problem.
"""

from __future__ import annotations

import copy
import importlib.resources
import importlib.util
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml


def _builtin_models() -> ModuleType:
    """``dca/models/builtin.py`` (the name table of the built-in models) loaded on its own.

    ``import dca.models.builtin`` would first run ``dca/models/__init__.py``, whose registry imports torch
    (seconds per Snakemake parse); the table module itself imports nothing, so it is executed from its file.
    """
    package = importlib.util.find_spec("dca.models")
    assert package is not None and package.submodule_search_locations
    path = Path(next(iter(package.submodule_search_locations))) / "builtin.py"
    spec = importlib.util.spec_from_file_location("dca_models_builtin_table", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_BUILTIN = _builtin_models()
#: Models registered by :mod:`dca.models` (``dca models list``), from ``dca.models.builtin``;
#: ``smp-unet-<encoder>`` names are accepted too.
KNOWN_MODELS: tuple[str, ...] = tuple(_BUILTIN.MODULES)
SMP_PREFIX: str = _BUILTIN.SMP_PREFIX
#: Inputs a variant may list: the image itself or an enhancement method of :mod:`dca.enhance`.
IMAGE_INPUT = "image"
#: Snakemake target names the workflow defines itself; a group may not take one of them.
RESERVED_TARGETS: frozenset[str] = frozenset(
    {
        "all",
        "data_all",
        "train_all",
        "evaluate_all",
        "report_all",
        "bench_models",
        "prepare",
        "enhance",
        "run_config",
        "train",
        "evaluate",
        "effective_config",
        "aggregate",
        "curves",
        "tables",
    }
)
#: Prefix of the per-group figure rules (``figures_<group>``).
FIGURES_RULE_PREFIX = "figures_"
#: Prefix of the per-paper claims rules (``claims_<paper>``).
CLAIMS_RULE_PREFIX = "claims_"

#: The workflow config's JSON schema, package data (found through the package, so any install has it).
SCHEMA_PATH = Path(str(importlib.resources.files("dca").joinpath("resources", "config.schema.yaml")))


class ConfigError(ValueError):
    """A workflow config error; the message starts with the dotted key at fault."""


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path`` (an empty file is an empty mapping)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a workflow config must be a YAML mapping")
    return data


def load_schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """The workflow's JSON schema (YAML)."""
    return load_yaml(path)


def _key(path: Iterator[Any] | list[Any]) -> str:
    """A JSON-schema error path as a dotted key (``experiments.dca_table1.datasets[2]``)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<config>"


def validate_config(config: dict[str, Any], schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validate ``config`` in place against the schema, filling defaults as Snakemake's ``validate`` does.

    Defaults are deep-copied (Snakemake inserts the schema's own objects). Returns ``config``; raises
    :class:`ConfigError` naming the offending key.
    """
    from jsonschema import Draft202012Validator, validators

    schema = load_schema() if schema is None else schema
    base = Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator: Any, properties: dict[str, Any], instance: Any, subschema: Any) -> Iterator[Any]:
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, subschema)

    validator = validators.extend(base, {"properties": set_defaults})(schema)
    error = next(iter(sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        raise ConfigError(f"{_key(error.absolute_path)}: {error.message}")
    return config


def prune(value: Any) -> Any:
    """``value`` without the mapping entries that are None (schema defaults meaning "not set"), recursively."""
    if isinstance(value, Mapping):
        return {k: prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def known_model(name: str) -> bool:
    """Whether ``name`` is a model the registry builds (a known name or ``smp-unet-<encoder>``)."""
    return name in KNOWN_MODELS or (name.startswith(SMP_PREFIX) and len(name) > len(SMP_PREFIX))


def _check_names(where: str, names: list[str], known: Mapping[str, Any], what: str) -> None:
    """Raise unless every name is a key of ``known``."""
    for i, name in enumerate(names):
        if name not in known:
            raise ConfigError(f"{where}[{i}]: unknown {what} {name!r}; defined: {', '.join(known) or 'none'}")


def _check_datasets(config: dict[str, Any]) -> None:
    """Registry names, protocols, synth and download settings of every dataset."""
    from dca.data.registry import load_registry

    registry = load_registry()
    for name, spec in config["datasets"].items():
        key = f"datasets.{name}"
        reg_name = spec.get("registry") or name
        if reg_name not in registry:
            raise ConfigError(
                f"{key}.registry: unknown registry dataset {reg_name!r}; known: {', '.join(registry)}"
                + ("" if spec.get("registry") else " (set `registry:` when the id differs from the registry name)")
            )
        entry = registry[reg_name]
        protocol = spec.get("protocol")
        if protocol is not None and protocol not in entry.protocols:
            known = ", ".join(entry.protocols)
            raise ConfigError(f"{key}.protocol: {reg_name} has no protocol {protocol!r}; known: {known}")
        if spec.get("synth") is not None and entry.source.kind != "synthetic":
            raise ConfigError(f"{key}.synth: {reg_name} is not a synthetic dataset (source kind {entry.source.kind})")
        if spec.get("download") and entry.source.kind != "url":
            raise ConfigError(f"{key}.download: {reg_name} cannot be downloaded (source kind {entry.source.kind})")


def _check_enhancement(config: dict[str, Any]) -> None:
    """Every enhancement method's parameters are parameters of that method."""
    from dca.enhance import resolve_params

    for method, params in config["enhancement"].items():
        try:
            resolve_params(method, **params)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"enhancement.{method}: {err}") from None


def _check_variants(config: dict[str, Any]) -> None:
    """Registered models, DCA options only with dca on."""
    for name, spec in config["variants"].items():
        key = f"variants.{name}"
        if not known_model(spec["model"]):
            raise ConfigError(
                f"{key}.model: unknown model {spec['model']!r}; known: {', '.join(KNOWN_MODELS)}, {SMP_PREFIX}<encoder>"
            )
        dca_options = sorted(k for k in spec.get("options") or {} if k.startswith("dca_"))
        if dca_options and not spec.get("dca"):
            raise ConfigError(f"{key}.options: DCA options {', '.join(dca_options)} need `dca: true`")


def _check_training(config: dict[str, Any]) -> None:
    """Per-dataset training settings name defined datasets."""
    for paper, settings in config["training"].items():
        for dataset in settings.get("datasets") or {}:
            if dataset not in config["datasets"]:
                raise ConfigError(
                    f"training.{paper}.datasets.{dataset}: unknown dataset; defined: {', '.join(config['datasets'])}"
                )


def _check_groups(config: dict[str, Any]) -> None:
    """Groups name a paper, defined datasets and variants, baselines among their variants, an existing table."""
    reported_dir = Path(config["paths"]["reported"])
    for group, spec in config["experiments"].items():
        key = f"experiments.{group}"
        if group in RESERVED_TARGETS or group.startswith((FIGURES_RULE_PREFIX, CLAIMS_RULE_PREFIX)):
            raise ConfigError(f"{key}: {group!r} is (or looks like) a rule of the workflow itself; rename the group")
        if spec["paper"] not in config["training"]:
            raise ConfigError(f"{key}.paper: no training.{spec['paper']}; papers: {', '.join(config['training'])}")
        _check_names(f"{key}.datasets", spec["datasets"], config["datasets"], "dataset")
        _check_names(f"{key}.variants", spec["variants"], config["variants"], "variant")
        for variant, baseline in (spec.get("baselines") or {}).items():
            for role, name in (("variant", variant), ("baseline", baseline)):
                if name not in spec["variants"]:
                    raise ConfigError(f"{key}.baselines.{variant}: {role} {name!r} is not a variant of {group}")
        for variant in spec.get("reported_rows") or {}:
            if variant not in spec["variants"]:
                raise ConfigError(f"{key}.reported_rows.{variant}: not a variant of {group}")
        reported = spec.get("reported")
        if reported is not None and not (reported_dir / f"{reported}.csv").is_file():
            raise ConfigError(f"{key}.reported: {reported_dir / (reported + '.csv')} not found")


def check_config(config: dict[str, Any]) -> None:
    """The checks a JSON schema cannot express, on a validated config; raises :class:`ConfigError`."""
    _check_datasets(config)
    _check_enhancement(config)
    _check_variants(config)
    _check_training(config)
    _check_groups(config)


def check_run_models(runs: Mapping[Any, dict[str, Any]]) -> None:
    """Build each distinct model spec of the resolved run configs ``runs`` (Run -> config) on the meta device
    (:func:`dca.models.check_model`: cheap), so an unknown option, a bad value or a size the model refuses fails
    in ``snakemake -n`` and ``dca experiments check``, not in a queued training job; a :class:`ConfigError`
    names the variant, the size and the run."""
    import json

    from dca.models import check_model

    seen: set[str] = set()
    for run, config in runs.items():
        model, size = config["model"], config["data"]["size"]
        spec = json.dumps([model["name"], bool(model.get("dca")), model.get("options") or {}, size], sort_keys=True)
        if spec in seen:
            continue
        seen.add(spec)
        try:
            check_model(model["name"], dca=bool(model.get("dca")), options=model.get("options") or {}, img_size=size)
        except ValueError as err:
            raise ConfigError(
                f"variants.{run.variant} (run {run.dataset}/{run.variant}/seed{run.seed}, data.size {size}): {err}"
            ) from err


def check_run_determinism(runs: Mapping[Any, dict[str, Any]], classes: Mapping[Any, int]) -> None:
    """Refuse runs that ask for ``device.determinism: strict`` and may land on CUDA (``device: cuda`` or ``auto``)
    while their model or loss uses an op without a deterministic CUDA kernel (:mod:`dca.train.determinism`);
    ``classes`` gives each run's label count (background included). ``device: cpu`` runs are not refused."""
    from dca.train.config import LossConfig, resolve_config
    from dca.train.determinism import nondeterministic_cuda_ops, strict_refusal
    from dca.train.losses import SegmentationLoss
    from dca.train.setup import num_outputs

    for run, config in runs.items():
        device = config["device"]
        if device.get("determinism") != "strict" or device.get("name") == "cpu":
            continue
        model, resolved = config["model"], resolve_config(config)
        loss = SegmentationLoss(LossConfig(**config["loss"])) if config.get("loss") else None
        ops = nondeterministic_cuda_ops(
            model["name"],
            dca=bool(model.get("dca")),
            options=model.get("options") or {},
            num_classes=num_outputs(["label"] * classes[run]),
            img_size=config["data"]["size"],
            inputs=len(resolved.data.inputs),
            loss=loss,
        )
        if ops:
            label = f"{model['name']}{'+DCA' if model.get('dca') else ''}"
            where = f"variants.{run.variant} (run {run.dataset}/{run.variant}/seed{run.seed}, device {device['name']})"
            raise ConfigError(str(strict_refusal(label, ops, where)))


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read, validate (defaults filled) and check the workflow config at ``path`` (``overrides`` merged first)."""
    from dca.train.config import deep_merge

    config = deep_merge(load_yaml(path), dict(overrides or {}))
    validate_config(config)
    check_config(config)
    return config


def one_of_pattern(names: list[str]) -> str:
    """A regular expression matching exactly one of ``names`` (for Snakemake wildcard constraints)."""
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) or "(?!)"
