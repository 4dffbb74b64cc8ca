"""Run config: presets, YAML loading, overrides, validation and the resolved round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dca.train.config import (
    PRESETS,
    dump_config,
    load_run_config,
    parse_overrides,
    resolve_config,
)

BASE = {"model": {"name": "unet", "dca": True}, "data": {"root": "data/glas"}, "out": "runs/x"}


@pytest.mark.parametrize(
    ("preset", "batch"),
    [("dca-glas", 4), ("dca-monuseg", 4), ("dca-cvc-clinicdb", 16), ("dca-kvasir-seg", 16), ("dca-synapse", 24)],
)
def test_dca_presets_follow_the_paper(preset: str, batch: int) -> None:
    cfg = resolve_config({**BASE, "preset": preset})
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.scheduler) == ("adam", 1e-4, "none")
    assert (cfg.loss.dice, cfg.loss.ce, cfg.loss.boundary) == (1.0, 0.0, 0.0)
    assert (cfg.epochs, cfg.batch_size, cfg.data.size) == (200, batch, 224)


def test_din_preset_follows_the_paper() -> None:
    cfg = resolve_config({**BASE, "preset": "din", "data": {"root": "d", "inputs": ["image", "fuzzy"]}})
    assert (cfg.optim.name, cfg.optim.lr, cfg.epochs, cfg.batch_size) == ("adamw", 1e-4, 300, 3)
    assert (cfg.loss.ce, cfg.loss.dice, cfg.loss.boundary, cfg.loss.boundary_scales) == (0.3, 0.7, 1.0, (1, 2, 4))
    assert cfg.data.inputs == ("image", "fuzzy") and cfg.data.enhanced == ("fuzzy",)


def test_own_keys_and_overrides_beat_the_preset() -> None:
    raw = {**BASE, "preset": "dca-glas", "epochs": 5, "optim": {"lr": 1e-3}}
    cfg = resolve_config(raw, parse_overrides(["epochs=7", "model.options.width=0.25", "device.amp=bf16"]))
    assert (cfg.epochs, cfg.optim.lr, cfg.optim.name) == (7, 1e-3, "adam")
    assert cfg.model.options == {"width": 0.25} and cfg.device.amp == "bf16"


def test_load_run_config_and_resolved_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**BASE, "preset": "dca-synapse", "selection": "test"}))
    cfg = load_run_config(path)
    assert cfg.selection == "test" and cfg.batch_size == 24
    assert resolve_config(yaml.safe_load(dump_config(cfg))) == cfg


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"optim": {"lr": 1e-4, "momentum": 0.9}}, KeyError, "optim.momentum"),
        ({"preset": "dca-isic"}, KeyError, "unknown preset"),
        ({"epochs": "many"}, TypeError, "epochs"),
        ({"epochs": 2.5}, TypeError, "epochs"),
        ({"selection": "train"}, ValueError, "selection"),
        ({"device": {"amp": "fp8"}}, ValueError, "device.amp"),
        ({"loss": {"dice": 0.0}}, ValueError, "loss weights"),
        ({"data": {"root": "d", "inputs": []}}, ValueError, "data.inputs"),
    ],
)
def test_invalid_configs_are_rejected_by_name(change: dict, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        resolve_config({**BASE, **change})


def test_missing_required_keys_are_named() -> None:
    with pytest.raises(KeyError, match="out"):
        resolve_config({"model": {"name": "unet"}, "data": {"root": "d"}})


def test_overrides_must_be_key_value() -> None:
    with pytest.raises(ValueError, match=r"key\.sub=value"):
        parse_overrides(["epochs"])


def test_every_preset_resolves() -> None:
    for name in PRESETS:
        assert resolve_config({**BASE, "preset": name}).preset == name
