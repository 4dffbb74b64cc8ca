"""Integration: the real Kvasir-SEG (../shared/data/Kvasir-SEG, when present) -> `dca data prepare kvasir`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dca.cli import main

KVASIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "Kvasir-SEG"


@pytest.mark.slow
@pytest.mark.skipif(not (KVASIR / "images").is_dir(), reason=f"real Kvasir-SEG not found at {KVASIR}")
def test_real_kvasir_prepares_into_800_train_val_and_200_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "kvasir"
    assert main(["data", "prepare", "kvasir", "--raw", str(KVASIR), "--out", str(out)]) == 0
    info = json.loads((out / "dataset.json").read_text())
    assert info["split"]["sizes"] == {"train": 720, "val": 80, "test": 200}
    assert info["source"]["mask_encoding"].startswith("0/255") and sum(info["empty_masks"].values()) == 0
    capsys.readouterr()
    assert main(["data", "splits", str(out), "--protocol", "paper"]) == 0
    assert json.loads(capsys.readouterr().out) == {"train": 800, "val": 0, "test": 200}
    with open(out / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1000 and sum(r["split"] == "test" for r in rows) == 200
    for row in rows[::97]:
        original = Image.open(KVASIR / "images" / f"{row['id']}.jpg")
        mask = np.asarray(Image.open(out / row["mask"]))
        assert original.size == (int(row["width"]), int(row["height"])) == mask.shape[::-1]
        assert set(np.unique(mask)) <= {0, 1} and mask.any()
