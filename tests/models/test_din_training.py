"""Acceptance for DIN: din-tiny trained on the synthetic binary data through `dca train` / `dca evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from dca.cli import main
from dca.data.loader import load_case, read_index


def _trivial_dice(root: Path) -> float:
    """The better mean test Dice of predicting all background or all foreground."""
    scores = []
    for row in read_index(root):
        if row["split"] == "test":
            ref = load_case(root, row["id"])[1] > 0
            scores.append(2 * ref.sum() / (ref.sum() + ref.size))
    return float(np.mean(scores))


def test_din_tiny_learns_the_synthetic_binary_data(isolated_torch: None, tmp_path: Path) -> None:
    raw, data, run = tmp_path / "raw", tmp_path / "data", tmp_path / "run"
    assert main(["data", "synth", "binary", "--out", str(raw), "--n", "40", "--size", "64x64"]) == 0
    assert main(["data", "prepare", "synthetic-binary", "--raw", str(raw), "--out", str(data)]) == 0
    assert main(["enhance", "fuzzy", "--data", str(data)]) == 0
    config = {
        "preset": "din",
        "model": {"name": "din-tiny"},
        "data": {"root": str(data), "size": 64, "inputs": ["image", "fuzzy"]},
        "optim": {"lr": 1e-3},
        "epochs": 20,
        "batch_size": 4,
        "out": str(run),
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", str(tmp_path / "run.yaml")]) == 0
    assert main(["evaluate", str(run)]) == 0
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    trivial = _trivial_dice(data)
    assert metrics["dice"] > trivial + 0.15, (metrics["dice"], trivial)
