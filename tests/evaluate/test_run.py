"""``dca evaluate RUN_DIR`` on 3D runs: TransUNet protocol per volume, enhanced inputs, selection marks."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dca.cli import main
from dca.evaluate.run import evaluate_run
from dca.layout import RunDir
from dca.run_files import trained_config
from dca.train.config import resolve_config
from dca.train.loop import train

SPLITS = {"c1": "train", "c2": "train", "c3": "val", "c4": "test", "c5": "test"}
DEPTH, SIDE = 5, 40
SPACING = (2.5, 0.8, 0.8)


@pytest.fixture(autouse=True)
def _isolated(isolated_torch: None) -> None:
    """Every evaluation test runs isolated (see ``isolated_torch`` in tests/conftest.py)."""


@pytest.fixture(scope="module")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny 3D dataset (two organs, anisotropic spacing) with an enhanced copy ``half`` (image / 2)."""
    root = tmp_path_factory.mktemp("volumes")
    for folder in ("volumes", "enhanced/half"):
        (root / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for k, (case, split) in enumerate(SPLITS.items()):
        label = np.zeros((DEPTH, SIDE, SIDE), np.uint8)
        label[:, 8 + k : 20 + k, 6:18] = 1
        label[1:4, 24:34, 20 - k : 32 - k] = 2
        image = (0.2 + 0.3 * label + 0.1 * rng.random(label.shape)).astype(np.float32)
        np.save(root / "volumes" / f"{case}_image.npy", image)
        np.save(root / "volumes" / f"{case}_label.npy", label)
        np.save(root / "enhanced" / "half" / f"{case}_image.npy", image / 2)
        paths = [f"volumes/{case}_image.npy", f"volumes/{case}_label.npy"]
        rows.append([case, split, *paths, SIDE, SIDE, DEPTH, *SPACING])
    with open(root / "index.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "split", "image", "mask", "height", "width", "depth"] + [f"spacing_{a}" for a in "zyx"])
        writer.writerows(rows)
    ids = {s: [c for c, cs in SPLITS.items() if cs == s] for s in ("train", "val", "test")}
    info = {"name": "organs", "modality": "synthetic", "dims": 3, "channels": 1,
            "labels": ["background", "organ_a", "organ_b"], "num_classes": 3,
            "split": {"protocol": "fixture", "seed": 0, "val_fraction": 0.2, **ids}, "source": "tests"}  # fmt: skip
    (root / "dataset.json").write_text(json.dumps(info))
    return root


def config(root: Path, out: Path, **overrides: Any):
    """One epoch of a width-1/8 U-Net on 32 x 32 slices."""
    raw = {
        "preset": "dca-synapse",
        "model": {"name": "unet", "options": {"width": 0.125}},
        "data": {"root": str(root), "size": 32},
        "epochs": 1,
        "batch_size": 4,
        "device": {"name": "cpu", "threads": 1},
        "eval": {"batch": 4, "save_predictions": 1},
        "out": str(out),
    }
    return resolve_config(raw, overrides)


def test_volumes_follow_the_transunet_protocol_and_test_selection_is_marked(volumes: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(config(volumes, run, selection="test"), log=lambda _: None)
    assert main(["evaluate", str(run)]) == 0

    folder = RunDir(run)
    metrics = json.loads(folder.eval_metrics.read_text())
    assert metrics["test_selected"] is True and "TEST" in metrics["selection_note"]
    assert (metrics["convention"], metrics["hd95_unit"], metrics["resolution"]) == ("transunet", "mm", "volume")
    assert metrics["n_cases"] == 2 and set(metrics["per_class"]) == {"organ_a", "organ_b"}
    per_case = pd.read_csv(folder.eval_per_case)
    assert sorted(zip(per_case["case"], per_case["class"], strict=True)) == [
        ("c4", "organ_a"), ("c4", "organ_b"), ("c5", "organ_a"), ("c5", "organ_b")]  # fmt: skip
    assert per_case["ref_size"].tolist() == [DEPTH * 12 * 12, 3 * 10 * 12] * 2  # full-resolution reference volumes
    saved = list(folder.predictions.iterdir())
    assert [p.name for p in saved] == ["c4.npy"]
    prediction = np.load(saved[0])
    assert prediction.shape == (DEPTH, SIDE, SIDE) and prediction.dtype == np.uint8


class TwoInputs(nn.Module):
    """A two-input stand-in for DIN that checks every slice comes with its own enhanced copy (image / 2)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2 * in_channels, num_classes, 3, padding=1)
        self.slices = 0

    def forward(self, image: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
        assert image.shape == half.shape and (image / 2 - half).abs().max() <= 2 / 255
        self.slices += len(image)
        return self.conv(torch.cat([image, half], 1))


def test_enhanced_volumes_are_sliced_with_the_image(volumes: Path, tmp_path: Path, monkeypatch) -> None:
    built: list[TwoInputs] = []

    def build_model(name: str, *, in_channels: int, num_classes: int, **kwargs: Any) -> nn.Module:
        built.append(TwoInputs(in_channels, num_classes))
        return built[-1]

    monkeypatch.setattr("dca.train.setup.build_model", build_model)
    run = tmp_path / "run"
    train(config(volumes, run, data={"inputs": ["image", "half"]}, eval={"batch": 2}), log=lambda _: None)
    metrics = evaluate_run(run, log=lambda _: None)
    assert built[-1].slices == 2 * DEPTH and metrics["selection"] == "val" and metrics["test_selected"] is False


def test_an_unfinished_run_is_not_evaluated(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a finished training run"):
        evaluate_run(tmp_path, log=lambda _: None)


def test_one_config_per_run_folder_checked_on_resume(volumes: Path, tmp_path: Path) -> None:
    """``dca train`` writes no config of its own: the resolved config lives in the checkpoints, evaluation reads
    it from there, and training the folder again with other settings (device aside) is refused."""
    run = tmp_path / "run"
    first = config(volumes, run)
    train(first, log=lambda _: None)
    assert not (run / "config.yaml").exists() and not RunDir(run).config.exists()
    assert resolve_config(trained_config(RunDir(run).best)) == first
    messages: list[str] = []
    train(config(volumes, run, device={"threads": 2}), log=messages.append)  # device aside: the same run
    assert "nothing to do" in messages[-1]
    with pytest.raises(ValueError, match=r"different config \(keys epochs, optim differ"):
        train(config(volumes, run, epochs=2, optim={"lr": 0.5}), log=lambda _: None)
    assert evaluate_run(run, log=lambda _: None)["epoch"] == 1
    RunDir(run).summary.unlink()  # an unfinished run is checked the same way before it resumes
    with pytest.raises(ValueError, match=r"keys optim differ"):
        train(config(volumes, run, optim={"lr": 0.5}), log=lambda _: None)
