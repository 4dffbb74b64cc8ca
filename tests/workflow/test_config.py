"""The workflow config: schema (descriptions, defaults, errors naming the key) and the cross-reference checks."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from dca.experiments.config import (
    IMAGE_INPUT,
    KNOWN_MODELS,
    SCHEMA_PATH,
    SMP_PREFIX,
    ConfigError,
    check_config,
    load_schema,
    load_yaml,
    prune,
    validate_config,
)
from dca.train.config import PRESETS, RunConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths of the configs (config/reported) resolve against the repository."""
    monkeypatch.chdir(REPO)


def checked(config: dict[str, Any]) -> dict[str, Any]:
    """Validate (defaults filled) and check a copy of ``config``."""
    config = copy.deepcopy(config)
    validate_config(config)
    check_config(config)
    return config


def error_of(config: dict[str, Any]) -> str:
    """The ConfigError message for ``config``."""
    with pytest.raises(ConfigError) as info:
        checked(config)
    return str(info.value)


def _properties(node: Any, path: str = "") -> list[tuple[str, dict[str, Any], bool]]:
    """Every (dotted path, subschema, required) under a schema's `properties`, recursively."""
    found: list[tuple[str, dict[str, Any], bool]] = []
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            found.append((f"{path}.{name}".lstrip("."), sub, name in node.get("required", [])))
        for key, value in node.items():
            found += _properties(value, f"{path}.{key}" if key not in ("properties",) else path)
    elif isinstance(node, list):
        for item in node:
            found += _properties(item, path)
    return found


def test_every_schema_key_has_a_description_and_a_default() -> None:
    missing = [
        path
        for path, sub, required in _properties(load_schema())
        if "description" not in sub or ("default" not in sub and not required)
    ]
    assert not missing


def test_both_configs_are_valid(full_config: dict[str, Any], demo_config: dict[str, Any]) -> None:
    for config in (full_config, demo_config):
        checked(config)


@pytest.mark.parametrize("name", ["config.yaml", "kvasir-quick.yaml"])
def test_cluster_configs_warn_training_before_its_time_limit(name: str) -> None:
    """A GPU config's training jobs get SIGTERM ahead of the limit (time to save last.pt, then exit 75 and
    resubmit): a `resources.train` mapping replaces the schema's default one, signal included."""
    train = validate_config(load_yaml(REPO / "config" / name))["resources"]["train"]
    assert train["slurm_extra"].startswith("--signal=TERM@") and train["retries"] > 0


def test_defaults_are_filled_and_not_shared(demo_config: dict[str, Any]) -> None:
    config = {key: value for key, value in demo_config.items() if key not in ("paths", "resources", "bench")}
    config = checked(config)
    assert config["paths"]["runs"] == "results/runs"
    assert config["resources"]["train"] == {
        **{"cpus_per_task": 4, "mem_mb": 32000, "runtime": 1440, "gpu": 1},
        **{"slurm_extra": "--signal=TERM@300", "retries": 20},
        **dict.fromkeys(("gpu_model", "gres", "slurm_partition", "slurm_account", "qos", "constraint"), ""),
    }
    assert config["jobs_per_gpu"] == 1
    assert config["variants"]["unet"]["inputs"] == ["image"]
    config["variants"]["unet"]["inputs"].append("fuzzy")
    assert config["variants"]["unet-dca"]["inputs"] == ["image"]  # defaults are copies, not one shared list


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c.update(seedz=[0]), "seedz"),
        (lambda c: c.update(seeds="0"), "seeds"),
        (lambda c: c["variants"]["unet"].update(modle="unet"), "variants.unet"),
        (lambda c: c["variants"]["unet"].update(dca="yes"), "variants.unet.dca"),
        (lambda c: c["training"]["dca"].update(epoch=3), "training.dca"),
        (lambda c: c["training"]["dca"]["data"].update(size="64"), "training.dca.data.size"),
        (lambda c: c["training"]["dca"].update(preset="dca-cvc"), "training.dca.preset"),
        (lambda c: c["datasets"]["synthetic-binary"]["synth"].update(kind="trinary"), "synth.kind"),
        (lambda c: c["experiments"]["demo_dca_table1"].update(paper=None), "experiments.demo_dca_table1.paper"),
        (lambda c: c["resources"]["train"].update(gpus=1), "resources.train"),
        (lambda c: c["experiments"].update({"bad-name": c["experiments"]["demo_dca_table1"]}), "bad-name"),
    ],
)
def test_schema_errors_name_the_key(demo: dict[str, Any], change: Any, expected: str) -> None:
    change(demo)
    assert expected in error_of(demo)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["variants"]["unet"].update(model="unet3"), "variants.unet.model: unknown model 'unet3'"),
        (
            lambda c: c["experiments"]["demo_dca_table1"]["datasets"].append("kvasir-seg"),
            "experiments.demo_dca_table1.datasets[1]: unknown dataset 'kvasir-seg'",
        ),
        (
            lambda c: c["experiments"]["demo_dca_table1"]["variants"].append("unet-xyz"),
            "experiments.demo_dca_table1.variants[2]: unknown variant 'unet-xyz'",
        ),
        (lambda c: c["experiments"]["demo_dca_table1"].update(paper="dcca"), "experiments.demo_dca_table1.paper"),
        (
            lambda c: c["experiments"]["demo_dca_table1"].update(baselines={"unet-dca": "resunetpp"}),
            "experiments.demo_dca_table1.baselines.unet-dca",
        ),
        (lambda c: c["experiments"]["demo_dca_table1"].update(reported="nope"), "experiments.demo_dca_table1.reported"),
        (lambda c: c["datasets"].update(kvasirseg={}), "datasets.kvasirseg.registry: unknown registry dataset"),
        (lambda c: c["datasets"].update(kvasir={"protocol": "din"}), "datasets.kvasir.protocol"),
        (lambda c: c["datasets"].update(glas={"download": True}), "datasets.glas.download"),
        (lambda c: c["datasets"].update(glas={"synth": {"n": 4}}), "datasets.glas.synth"),
        (lambda c: c["enhancement"].update(fuzzy={"windowz": 4}), "enhancement.fuzzy"),
        (lambda c: c["variants"]["unet"].update(options={"dca_layout": "cca"}), "variants.unet.options"),
        (lambda c: c["training"]["dca"].update(datasets={"glas": {}}), "training.dca.datasets.glas"),
        (lambda c: c["experiments"].update(train=c["experiments"]["demo_dca_table1"]), "experiments.train"),
    ],
)
def test_cross_reference_errors_name_the_key(demo: dict[str, Any], change: Any, expected: str) -> None:
    change(demo)
    assert expected in error_of(demo)


def test_schema_run_settings_follow_the_run_config() -> None:
    """The schema's run settings name only RunConfig keys, and its presets are dca.train's presets."""
    settings = load_schema()["$defs"]["run_settings"]["properties"]
    fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    assert set(settings) <= set(fields)
    assert set(settings["preset"]["enum"]) - {None} == set(PRESETS)
    hints = {
        "data": "DataConfig",
        "loss": "LossConfig",
        "optim": "OptimConfig",
        "device": "DeviceConfig",
        "eval": "EvalConfig",
    }
    import dca.train.config as train_config

    for key, cls_name in hints.items():
        names = {f.name for f in dataclasses.fields(getattr(train_config, cls_name))}
        assert set(settings[key]["properties"]) <= names, key


def test_known_models_are_registered() -> None:
    from dca.models import list_models

    assert set(KNOWN_MODELS) <= set(list_models())


def test_prune_drops_unset_keys() -> None:
    assert prune({"a": None, "b": {"c": None, "d": 1}, "e": [{"f": None}]}) == {"b": {"d": 1}, "e": [{}]}


def test_reported_tables_exist(full_config: dict[str, Any]) -> None:
    for group in full_config["experiments"].values():
        if group.get("reported"):
            assert (Path("config/reported") / f"{group['reported']}.csv").is_file()


#: What .dvcignore must hold for the DVC stages: loader caches written into the processed datasets by
#: training (else the `data` stage's output changes after every `runs` stage), and Python byte code in
#: the package folders the stages depend on.
DVCIGNORE_PATTERNS = ("/results/data/*/cache/", "__pycache__/")


def test_dvcignore_keeps_caches_out_of_dvc() -> None:
    lines = (REPO / ".dvcignore").read_text(encoding="utf-8").splitlines()
    missing = [pattern for pattern in DVCIGNORE_PATTERNS if pattern not in lines]
    assert not missing, f"add these lines to .dvcignore: {missing}"


def test_schema_lists_the_enhancement_registry() -> None:
    """The schema's enhancement methods (input enum, enhancement keys) are dca.enhance's registry."""
    from dca.enhance import METHODS

    schema = load_schema()
    inputs = schema["properties"]["variants"]["additionalProperties"]["properties"]["inputs"]["items"]["enum"]
    assert inputs == [IMAGE_INPUT, *METHODS]
    assert list(schema["properties"]["enhancement"]["properties"]) == list(METHODS)


def test_model_names_are_the_builtin_table() -> None:
    """KNOWN_MODELS and SMP_PREFIX are dca.models.builtin's, read without importing torch."""
    import subprocess
    import sys

    from dca.models import builtin

    assert KNOWN_MODELS == tuple(builtin.MODULES) and SMP_PREFIX == builtin.SMP_PREFIX
    code = "import sys, dca.experiments.config; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_schema_is_package_data() -> None:
    """The schema is found through the package (any install), and it is the file Snakemake validates with: one
    file in workflow/schemas (the catalog's place, read by a deployed workflow), linked from the package."""
    import importlib.resources

    path = importlib.resources.files("dca").joinpath("resources", "config.schema.yaml")
    assert SCHEMA_PATH == Path(str(path)) and SCHEMA_PATH.is_file()
    assert SCHEMA_PATH.resolve() == (REPO / "workflow/schemas/config.schema.yaml").resolve()
    assert SCHEMA_PATH.is_symlink() and not (REPO / "workflow/schemas/config.schema.yaml").is_symlink()
    assert 'validate(config, "../schemas/config.schema.yaml")' in (REPO / "workflow/rules/common.smk").read_text()
