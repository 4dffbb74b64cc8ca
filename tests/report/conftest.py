"""Fake run folders of a small experiment group (two seeds, a baseline) and a tiny processed dataset.

``config.yaml`` is a workflow config (the report reads its groups through :class:`dca.experiments.grid.Grid`).
Group ``toy_table``: variants ``net`` (baseline), ``net-dca`` and ``net-cca`` on datasets ``toy``
(binary) and ``organs`` (two classes). ``net-dca`` on ``toy`` was selected on the test split,
``net-cca`` lacks seed 1 on ``toy`` and every run on ``organs``. Group ``ghost`` has no runs.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from dca.evaluate.protocol import aggregate
from dca.experiments.config import load_config
from dca.experiments.grid import Grid
from dca.layout import RunDir, run_folder

CASES = [f"c{i}" for i in range(8)]
SIDE = 12
LEVEL = {"net": 0.80, "net-dca": 0.86, "net-cca": 0.83}  # mean Dice of each variant
PARAMS = {"net": 1_000_000, "net-dca": 1_100_000, "net-cca": 1_050_000}
CLASSES = {"toy": ["background", "polyp"], "organs": ["background", "liver", "spleen"]}
MISSING = {("toy", "net-cca", 1), ("organs", "net-cca", 0), ("organs", "net-cca", 1)}
REPORTED = """model,dca,params_m,toy_dsc,toy_iou,organs_dsc
Net,no,1.00,80.00,70.00,75.5
Net,yes,1.10,82.50,72.00,
Net (CCA),yes,1.05,81.00,71.00,76.0
"""


def write_dataset(root: Path, name: str) -> None:
    """A processed 2D dataset: RGB images with a square of label 1 (and 2) per case, all cases in test."""
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    rows = []
    for k, case in enumerate(CASES):
        mask = np.zeros((SIDE, SIDE), np.uint8)
        mask[2 : 6 + k % 3, 2:7] = 1
        if len(CLASSES[name]) > 2:
            mask[8:11, 6 : 9 + k % 2] = 2
        image = np.stack([mask * 80 + 40] * 3, axis=-1).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"{case}.png")
        Image.fromarray(mask).save(root / "masks" / f"{case}.png")
        rows.append([case, "test", f"images/{case}.png", f"masks/{case}.png", SIDE, SIDE, 1, 1.0, 1.0, 1.0])
    with open(root / "index.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "split", "image", "mask", "height", "width", "depth"] + [f"spacing_{a}" for a in "zyx"])
        writer.writerows(rows)
    info = {"name": name, "modality": "synthetic", "dims": 2, "channels": 3, "labels": CLASSES[name],
            "num_classes": len(CLASSES[name]), "split": {"test": CASES}, "source": "tests"}  # fmt: skip
    (root / "dataset.json").write_text(json.dumps(info))


def per_case(dataset: str, variant: str, seed: int) -> pd.DataFrame:
    """Deterministic per-case rows around the variant's Dice level (seed noise included)."""
    rng = np.random.default_rng([list(CLASSES).index(dataset), list(LEVEL).index(variant), seed])
    rows = []
    for case in CASES:
        for label, name in enumerate(CLASSES[dataset][1:], start=1):
            dice = float(np.clip(LEVEL[variant] + rng.normal(0, 0.03), 0, 1))
            rows.append({"case": case, "class": name, "label": label, "dice": dice, "iou": dice / (2 - dice),
                         "hd95": float(rng.uniform(1, 9)), "intersection": 10, "pred_size": 12,
                         "ref_size": 12})  # fmt: skip
    return pd.DataFrame(rows)


def write_run(run: RunDir, dataset: str, variant: str, seed: int, data: Path) -> None:
    """One evaluated run: per_case.csv, metrics.json, predictions of three cases, curves.csv, summary.json."""
    frame = per_case(dataset, variant, seed)
    run.predictions.mkdir(parents=True)
    frame.to_csv(run.eval_per_case, index=False)
    selection = "test" if (dataset, variant) == ("toy", "net-dca") else "val"
    metrics = {"selection": selection, "test_selected": selection == "test", "hd95_unit": "pixels at the model "
               "resolution", **aggregate(frame)}  # fmt: skip
    run.eval_metrics.write_text(json.dumps(metrics))
    for case in CASES[:3]:
        truth = np.asarray(Image.open(data / dataset / "masks" / f"{case}.png"))
        pred = np.roll(truth, 1 + seed, axis=1) if variant == "net" else truth
        if variant == "net-cca":  # saved at a smaller "model resolution": the figure resizes it
            pred = np.asarray(Image.fromarray(pred).resize((8, 8), Image.NEAREST))
        Image.fromarray(pred).save(run.predictions / f"{case}.png")
    curves = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.6, 0.4 + seed / 10],
                           "val_loss": [1.1, 0.7, 0.5], "val_dice": [0.5, 0.7, LEVEL[variant]],
                           "lr": [1e-3] * 3, "time_s": [1.0] * 3})  # fmt: skip
    curves.to_csv(run.curves, index=False)
    summary = {"status": "finished", "parameters": PARAMS[variant], "selection": selection}
    run.summary.write_text(json.dumps(summary))


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``config.yaml``, ``reported/``, ``data/`` and ``runs/`` (read-only for the tests)."""
    root = tmp_path_factory.mktemp("report")
    for dataset in CLASSES:
        write_dataset(root / "data" / dataset, dataset)
        for variant in LEVEL:
            for seed in (0, 1):
                if (dataset, variant, seed) not in MISSING:
                    write_run(run_folder(root / "runs", dataset, variant, seed), dataset, variant, seed, root / "data")
    (root / "reported").mkdir()
    (root / "reported" / "toy_reported.csv").write_text(REPORTED)
    config = {
        "seeds": [0, 1],
        "datasets": {"toy": {"registry": "synthetic-binary"}, "organs": {"registry": "synthetic-multiclass"}},
        "training": {"dca": {}},
        "paths": {"runs": str(root / "runs"), "processed": str(root / "data"),
                  "tables": str(root / "tables"), "figures": str(root / "figures"),
                  "reported": str(root / "reported")},
        "variants": {"net": {"model": "unet", "label": "Net"},
                     "net-dca": {"model": "unet", "dca": True, "label": "Net (DCA)"},
                     "net-cca": {"model": "unet", "dca": True, "label": "Net (CCA)"},
                     "other": {"model": "unet", "label": "Other"}},
        "experiments": {
            "toy_table": {"paper": "dca", "title": "Fake results", "reported": "toy_reported",
                          "datasets": ["toy", "organs"],
                          "variants": ["net", "net-dca", "net-cca"], "baselines": {"net-dca": "net", "net-cca": "net"},
                          "reported_rows": {"net": {"model": "Net", "dca": False},
                                            "net-dca": {"model": "Net", "dca": True}},
                          "per_class": True},
            "ghost": {"paper": "dca", "datasets": ["toy"], "variants": ["other"]},
        },
    }  # fmt: skip
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


@pytest.fixture(scope="session")
def grid(workspace: Path) -> Grid:
    """The experiment grid of the workspace's config (what ``dca report`` reads)."""
    return Grid(load_config(workspace / "config.yaml"))
