"""The training loop in-process: divergence handling, two-input models, test selection, config checks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from dca.layout import RunDir
from dca.train import loop
from dca.train.checkpoint import load_checkpoint
from dca.train.losses import SegmentationLoss


def _nan_at_training_step(monkeypatch: pytest.MonkeyPatch, bad_step: int) -> None:
    """Make the loss NaN at the ``bad_step``-th training step (1-based; validation calls not counted)."""
    original = SegmentationLoss.forward
    calls = {"n": 0}

    def forward(self: SegmentationLoss, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = original(self, logits, target)
        if torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] == bad_step:
                return loss * float("nan")
        return loss

    monkeypatch.setattr(SegmentationLoss, "forward", forward)


def test_nan_loss_stops_the_run_naming_epoch_and_step(make_config, tmp_path: Path, monkeypatch) -> None:
    _nan_at_training_step(monkeypatch, bad_step=6)  # 4 steps per epoch: epoch 2, step 2
    out = tmp_path / "run"
    with pytest.raises(loop.DivergedError, match=r"epoch 2, step 2"):
        loop.train(make_config(out), log=lambda _: None)
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    assert load_checkpoint(out / "best.pt")["epoch"] == 1
    assert not (out / "summary.json").exists()
    assert len(RunDir(out).curves.read_text().splitlines()) == 2  # header + epoch 1


def test_non_finite_weights_after_an_epoch_never_become_best(make_config, tmp_path: Path, monkeypatch) -> None:
    original = loop.Trainer.train_step

    def train_step(self: loop.Trainer, batch: dict[str, Any], epoch: int, step: int) -> None:
        original(self, batch, epoch, step)
        if (epoch, step) == (1, 3):  # the last step of epoch 2 leaves NaN weights behind
            with torch.no_grad():
                next(self.model.parameters()).fill_(float("nan"))

    monkeypatch.setattr(loop.Trainer, "train_step", train_step)
    out = tmp_path / "run"
    with pytest.raises(loop.DivergedError, match="epoch 2"):
        loop.train(make_config(out), log=lambda _: None)
    best = load_checkpoint(out / "best.pt")
    assert best["epoch"] == 1 and all(torch.isfinite(t).all() for t in best["model"].values() if t.is_floating_point())
    assert load_checkpoint(out / "last.pt")["epoch"] == 1


class TwoInputs(nn.Module):
    """A stand-in for DIN: ``forward(image, enhanced)``; checks it gets the enhanced copy of the same image."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.conv = nn.Conv2d(2 * in_channels, 1, 3, padding=1)
        self.calls = 0

    def forward(self, image: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
        assert image.shape == half.shape
        assert (image / 2 - half).abs().max() <= 2 / 255
        self.calls += 1
        return self.conv(torch.cat([image, half], 1))


def test_enhanced_inputs_are_passed_as_extra_forward_arguments(make_config, tmp_path: Path, monkeypatch) -> None:
    built: list[TwoInputs] = []

    def build_model(name: str, *, in_channels: int, **kwargs: Any) -> nn.Module:
        built.append(TwoInputs(in_channels))
        return built[-1]

    monkeypatch.setattr("dca.train.setup.build_model", build_model)
    config = make_config(tmp_path / "run", epochs=1, data={"inputs": ["image", "half"]})
    loop.train(config, log=lambda _: None)
    assert built[0].in_channels == 3 and built[0].calls == 4 + 1  # four training steps, one validation batch


def test_test_selection_is_marked_in_the_summary(make_config, tmp_path: Path) -> None:
    summary = loop.train(make_config(tmp_path / "run", epochs=1, selection="test"), log=lambda _: None)
    assert summary["test_selected"] is True and "TEST" in summary["selection_note"]
    assert summary["selection_split"] == "test" and "test_dice" in summary["best"]
    header = RunDir(tmp_path / "run").curves.read_text().splitlines()[0]
    assert header == "epoch,train_loss,test_loss,test_dice,lr,time_s"


def test_a_different_config_does_not_resume_an_existing_run(make_config, tmp_path: Path, monkeypatch) -> None:
    _nan_at_training_step(monkeypatch, bad_step=5)  # leave an unfinished run with last.pt after epoch 1
    out = tmp_path / "run"
    with pytest.raises(loop.DivergedError):
        loop.train(make_config(out), log=lambda _: None)
    with pytest.raises(ValueError, match="optim"):
        loop.train(make_config(out, optim={"lr": 1e-3}), log=lambda _: None)


def test_image_dice_per_image() -> None:
    ref = np.zeros((3, 4, 4), dtype=np.int64)
    ref[0, :2] = 1
    pred = ref.copy()
    pred[1, 0, 0] = 1  # false positive on an empty reference
    assert loop.image_dice(pred, ref, num_labels=2) == [1.0, 0.0, 1.0]
    assert math.isclose(loop.image_dice(np.ones_like(ref), ref, 2)[0], 2 * 8 / (8 + 16), rel_tol=1e-6)
    three = np.array([[[1, 2], [0, 0]]])
    assert loop.image_dice(three, np.array([[[1, 0], [0, 0]]]), 3) == [0.5]  # label 1 right, label 2 spurious


def test_summary_is_json_serialisable(make_config, tmp_path: Path) -> None:
    summary = loop.train(make_config(tmp_path / "run", epochs=1), log=lambda _: None)
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == summary


def test_last_selection_keeps_no_best_checkpoint(make_config, tmp_path: Path) -> None:
    summary = loop.train(make_config(tmp_path / "run", epochs=1, selection="last"), log=lambda _: None)
    assert summary["checkpoint"] == "last.pt" and summary["best_epoch"] == 1 and summary["test_selected"] is False
    assert not (tmp_path / "run" / "best.pt").exists()
