"""Fixtures for the training tests: a tiny, easily learnt binary dataset in the processed format, and run configs."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dca.train.config import RunConfig, resolve_config

SPLIT_SIZES = {"train": 16, "val": 4, "test": 4}
HEIGHT, WIDTH = 72, 80  # original size; runs train at 64 x 64


@pytest.fixture(autouse=True)
def _isolated(isolated_torch: None) -> None:
    """Every training test runs isolated (see ``isolated_torch`` in tests/conftest.py)."""


def _case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One RGB image with one or two reddish discs on a noisy greyish background, and its mask."""
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    mask = np.zeros((HEIGHT, WIDTH), bool)
    for _ in range(rng.integers(1, 3)):
        cy, cx, r = rng.uniform(15, HEIGHT - 15), rng.uniform(15, WIDTH - 15), rng.uniform(7, 14)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
    image = rng.uniform(0.25, 0.55, (HEIGHT, WIDTH, 3))
    image[mask] = rng.uniform(0.5, 0.8, (int(mask.sum()), 3)) * (1.0, 0.45, 0.45)
    return (image * 255).astype(np.uint8), mask.astype(np.uint8)


def write_binary_dataset(root: Path, seed: int = 0) -> Path:
    """Write the dataset (images/, masks/, index.csv, dataset.json) under ``root`` and return ``root``.

    An enhanced copy ``half`` (the image at half intensity) stands in for a cached enhancement.
    """
    rng = np.random.default_rng(seed)
    for folder in ("images", "masks", "enhanced/half"):
        (root / folder).mkdir(parents=True)
    rows, ids = [], {}
    for split, n in SPLIT_SIZES.items():
        ids[split] = [f"{split}{k:02d}" for k in range(n)]
        for case in ids[split]:
            image, mask = _case(rng)
            Image.fromarray(image).save(root / "images" / f"{case}.png")
            Image.fromarray(mask).save(root / "masks" / f"{case}.png")
            Image.fromarray(image // 2).save(root / "enhanced" / "half" / f"{case}.png")
            rows.append([case, split, f"images/{case}.png", f"masks/{case}.png", HEIGHT, WIDTH, 1, 1.0, 1.0, 1.0])
    with open(root / "index.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "split", "image", "mask", "height", "width", "depth"] + [f"spacing_{a}" for a in "zyx"])
        writer.writerows(rows)
    info = {
        "name": "discs",
        "modality": "synthetic",
        "dims": 2,
        "channels": 3,
        "labels": ["background", "disc"],
        "num_classes": 2,
        "split": {"protocol": "fixture", "seed": seed, "val_fraction": 0.2, **ids},
        "source": "tests/train/conftest.py",
    }
    (root / "dataset.json").write_text(json.dumps(info))
    return root


@pytest.fixture(scope="session")
def discs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny binary dataset, written once per session (the loader caches its resized arrays beside it)."""
    return write_binary_dataset(tmp_path_factory.mktemp("discs"))


def small_config(root: Path, out: Path, **overrides: Any) -> RunConfig:
    """A fast CPU run: U-Net+DCA at width 1/8 on 64 x 64 inputs, DCA preset with a higher learning rate."""
    raw: dict[str, Any] = {
        "preset": "dca-glas",
        "model": {"name": "unet", "dca": True, "options": {"width": 0.125}},
        "data": {"root": str(root), "size": 64, "workers": 0},
        "optim": {"lr": 3e-3},
        "epochs": 3,
        "batch_size": 4,
        "device": {"name": "cpu", "threads": 1},
        "eval": {"batch": 8, "save_predictions": 2},
        "out": str(out),
    }
    return resolve_config(raw, overrides)


@pytest.fixture(scope="session")
def make_config(discs: Path) -> Callable[..., RunConfig]:
    """``make_config(out, **overrides)``: :func:`small_config` on the discs dataset."""
    return lambda out, **overrides: small_config(discs, out, **overrides)
