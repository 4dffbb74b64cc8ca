"""The papers' selection scores (dca.train.selection), the paper protocol's defaults, and selection by them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from dca.layout import RunDir
from dca.metrics import transunet_case
from dca.metrics.official import official_scores
from dca.train import loop
from dca.train.config import resolve_config, to_dict
from dca.train.selection import SelectionScorer, binary_slice_dice


def _raw(preset: str, protocol: str, **extra: object) -> dict:
    """A minimal run config of ``preset`` under ``protocol``."""
    return {
        "preset": preset,
        "model": {"name": "unet"},
        "data": {"root": "d"},
        "out": "o",
        "protocol": protocol,
    } | extra


def test_paper_protocol_defaults_fp32_and_the_papers_selection_and_augmentation() -> None:
    dca_paper = resolve_config(_raw("dca-kvasir-seg", "paper"))
    assert (dca_paper.device.amp, dca_paper.selection_metric, dca_paper.data.augmentation) == (
        "none",
        "official",
        "dca",
    )
    din_paper = resolve_config(_raw("din-paper", "paper"))
    assert (din_paper.device.amp, din_paper.selection_metric, din_paper.data.augmentation) == ("bf16", "merit", "merit")
    honest = resolve_config(_raw("dca-kvasir-seg", "honest"))
    assert (honest.device.amp, honest.selection_metric, honest.data.augmentation) == ("bf16", "dice", "dca")
    assert "selection_metric" not in to_dict(honest) and "augmentation" not in to_dict(honest)["data"]  # digest kept
    own = resolve_config(_raw("dca-kvasir-seg", "paper", device={"amp": "bf16"}, selection_metric="dice"))
    assert (own.device.amp, own.selection_metric) == ("bf16", "dice")  # a config's own keys win
    with pytest.raises(ValueError, match="selection_metric='best' is not one of dice, official, merit"):
        resolve_config(_raw("dca-kvasir-seg", "paper", selection_metric="best"))


def test_merit_dice_rules() -> None:
    ref = np.zeros((4, 4), np.uint8)
    ref[:2, :2] = 2
    pred = np.zeros_like(ref)
    pred[:2, :1] = 1  # another class, but foreground for the binary slice Dice
    assert binary_slice_dice(pred, ref) == pytest.approx(2 * 2 / (2 + 4))
    assert binary_slice_dice(np.zeros_like(ref), np.zeros_like(ref)) == 0.0  # medpy: both empty -> 0
    assert transunet_case(pred == 2, ref == 2)["dice"] == 0.0  # prediction empty
    assert transunet_case(pred == 1, ref == 1)["dice"] == 1.0  # prediction only
    assert transunet_case(ref == 2, ref == 2)["dice"] == 1.0


def _volumes(root: Path, labels: dict[str, np.ndarray], split: str) -> Path:
    """A processed 3D dataset holding these label volumes (images zero) in ``split``."""
    (root / "volumes").mkdir(parents=True)
    rows = []
    for case, label in labels.items():
        np.save(root / "volumes" / f"{case}_label.npy", label)
        np.save(root / "volumes" / f"{case}_image.npy", np.zeros(label.shape, np.float32))
        depth, height, width = label.shape
        rows.append([case, split, f"volumes/{case}_image.npy", f"volumes/{case}_label.npy", height, width, depth])
    with open(root / "index.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["id", "split", "image", "mask", "height", "width", "depth", "spacing_z", "spacing_y", "spacing_x"]
        )
        writer.writerows([*row, 1.0, 1.0, 1.0] for row in rows)
    (root / "dataset.json").write_text(json.dumps({"dims": 3, "channels": 1, "labels": ["background", "a", "b"]}))
    return root


def test_merit_scores_predictions_zoomed_back_to_the_original_size(tmp_path: Path) -> None:
    label = np.zeros((2, 10, 12), np.uint8)
    label[0, :5] = 1
    label[1, 5:] = 2
    root = _volumes(tmp_path, {"v": label}, "val")
    ones = np.ones((2, 8, 8), np.int64)  # class 1 everywhere, at the model size
    val = SelectionScorer("merit", "val", root, 3, batch=4)
    val.add(ones, ones, [("v", 1), ("v", 0)])
    assert val.score() == pytest.approx(np.mean([2 * 60 / (120 + 60), 2 * 60 / (120 + 60)]))
    test = SelectionScorer("merit", "test", root, 3, batch=4)
    test.add(ones, ones, [("v", 0), ("v", 1)])
    assert test.score() == pytest.approx(np.mean([2 * 60 / (240 + 60), 0.0]))  # class 1 Dice; class 2 missed


def test_official_score_is_the_batch_pooled_dice() -> None:
    rng = np.random.default_rng(0)
    preds, refs = rng.integers(0, 2, (5, 6, 6)), rng.integers(0, 2, (5, 6, 6))
    scorer = SelectionScorer("official", "test", Path("unused"), 2, batch=2)
    scorer.add(preds[:3], refs[:3], [("x", 0)] * 3)
    scorer.add(preds[3:], refs[3:], [("x", 0)] * 2)
    assert scorer.score() == official_scores(list(preds), list(refs), 2, 2)["dice_official"]


def test_the_official_score_selects_and_is_recorded(make_config, tmp_path: Path, monkeypatch) -> None:
    scores = iter([0.9, 0.1])
    monkeypatch.setattr(SelectionScorer, "score", lambda self: next(scores))
    config = make_config(tmp_path / "run", epochs=2, selection="test", protocol="paper")
    assert config.selection_metric == "official"  # the DCA preset's paper-protocol default
    summary = loop.train(config, log=lambda _: None)
    assert summary["selection_metric"] == "official" and summary["best_epoch"] == 1
    assert summary["best"]["test_dice_official"] == 0.9
    header = RunDir(tmp_path / "run").curves.read_text().splitlines()[0]
    assert header == "epoch,train_loss,test_loss,test_dice,test_dice_official,lr,time_s"
