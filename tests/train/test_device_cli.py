"""Device fallback and the ``dca train`` command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from dca.cli import main
from dca.train.config import DeviceConfig
from dca.train.device import select_device


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_one_runs_on_cpu_and_says_so() -> None:
    messages: list[str] = []
    assert select_device(DeviceConfig(name="cuda"), messages.append).type == "cpu"
    assert messages == ["no CUDA, running on CPU"]
    assert select_device(DeviceConfig(name="auto"), messages.append).type == "cpu" and len(messages) == 1


def test_print_config_shows_the_resolved_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"preset": "din", "model": {"name": "unet"}, "data": {"root": "d"}, "out": "o"}))
    assert main(["train", str(path), "--print-config", "--set", "seed=3", "--set", "optim.lr=3e-4"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["seed"] == 3 and resolved["optim"]["name"] == "adamw" and resolved["loss"]["boundary"] == 1.0
    assert resolved["optim"]["lr"] == 3e-4  # YAML 1.1 reads 3e-4 as a string: taken as the number it spells


def test_config_errors_exit_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"model": {"name": "unet"}, "data": {"root": "d"}, "out": "o", "epochz": 3}))
    assert main(["train", str(path)]) == 1
    assert "epochz" in capsys.readouterr().err
