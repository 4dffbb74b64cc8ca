"""2D converters on small fake upstream layouts: Kvasir-SEG, CVC-ClinicDB (tif, png), ISIC 2018, GlaS, MoNuSeg."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dca.data.convert import prepare


def test_kvasir_one_level_down(tmp_path: Path, fake, check_processed) -> None:
    fake.kvasir(tmp_path / "raw" / "Kvasir-SEG", n=10)
    done = prepare("kvasir", tmp_path / "raw", tmp_path / "out")
    info, rows = check_processed(tmp_path / "out", "kvasir")
    assert done.layout == "kvasir" and done.root == tmp_path / "raw" / "Kvasir-SEG"
    assert info["split"]["sizes"] == {"train": 7, "val": 1, "test": 2} and info["split"]["protocol"] == "dca"
    assert info["source"]["layout"] == "kvasir"
    row = rows[0]
    mask = np.asarray(Image.open(tmp_path / "out" / row["mask"]))
    expected = fake.box_mask(int(row["id"][-3:])) > 127
    assert np.mean(mask.astype(bool) == expected) > 0.98  # JPEG masks: thresholded at 128
    original = np.asarray(Image.open(tmp_path / "raw" / "Kvasir-SEG" / "images" / f"{row['id']}.jpg").convert("RGB"))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / row["image"])), original)


@pytest.mark.parametrize("ext", ["tif", "png"])
def test_cvc_tif_and_png_with_both_protocols(tmp_path: Path, fake, ext: str, check_processed) -> None:
    fake.cvc(tmp_path / "raw", n=20, ext=ext)
    info, rows = check_processed(prepare("cvc", tmp_path / "raw", tmp_path / "dca").out, "cvc")
    assert info["split"]["sizes"] == {"train": 14, "val": 2, "test": 4}
    row = next(r for r in rows if r["id"] == "3")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "dca" / row["mask"])), fake.box_mask(3) // 255)
    info, _ = check_processed(prepare("cvc", tmp_path / "raw", tmp_path / "din", protocol="din").out, "cvc")
    assert info["split"]["sizes"] == {"train": 16, "val": 2, "test": 2}
    assert info["split"]["protocol"] == "din" and info["split"]["val_fraction"] == 0.0


def test_isic_exact_masks(tmp_path: Path, fake, check_processed) -> None:
    fake.isic(tmp_path / "raw", n=10)
    info, rows = check_processed(prepare("isic2018", tmp_path / "raw", tmp_path / "out").out, "isic2018")
    assert info["split"]["sizes"] == {"train": 8, "val": 1, "test": 1}
    for row in rows:
        assert np.array_equal(
            np.asarray(Image.open(tmp_path / "out" / row["mask"])), fake.box_mask(int(row["id"][-7:])) // 255
        )


def test_glas_official_split_and_binary_masks(tmp_path: Path, fake, check_processed) -> None:
    fake.glas(tmp_path / "raw", n_train=4, n_test_a=2, n_test_b=2)
    info, _ = check_processed(prepare("glas", tmp_path / "raw", tmp_path / "out").out, "glas")
    assert sorted(info["split"]["test"]) == ["testA_1", "testA_2", "testB_1", "testB_2"]
    assert sorted(info["split"]["train"] + info["split"]["val"]) == [f"train_{i}" for i in range(1, 5)]
    mask = np.asarray(Image.open(tmp_path / "out" / "masks" / "testB_2.png"))
    assert np.array_equal(mask, (fake.glas_instances(2) > 0).astype(np.uint8))


def test_monuseg_polygons_and_official_split(tmp_path: Path, fake, check_processed) -> None:
    fake.monuseg(tmp_path / "raw", n_train=3, n_test=2)
    info, _ = check_processed(prepare("monuseg", tmp_path / "raw", tmp_path / "out").out, "monuseg")
    assert info["split"]["test"] == ["TCGA-TE-0000", "TCGA-TE-0001"]
    assert len(info["split"]["train"]) + len(info["split"]["val"]) == 3
    train_mask = np.asarray(Image.open(tmp_path / "out" / "masks" / "TCGA-TR-0000.png"))
    test_mask = np.asarray(Image.open(tmp_path / "out" / "masks" / "TCGA-TE-0001.png"))
    assert train_mask[8, 8] == 1 and train_mask[4:13, 4:13].all() and train_mask[3, 3] == 0  # the square (x, y) 4..12
    assert train_mask[4, 24] == 1 and train_mask[20, 24] == 0  # the triangle
    assert test_mask.sum() == 81 and test_mask[:, 16:].sum() == 0


def test_preparing_twice_is_identical_and_overwrite_is_explicit(tmp_path: Path, fake) -> None:
    fake.kvasir(tmp_path / "raw", n=6)
    prepare("kvasir", tmp_path / "raw", tmp_path / "a")
    prepare("kvasir", tmp_path / "raw", tmp_path / "b")
    for name in ("index.csv", "dataset.json", "masks/case003.png", "images/case003.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with pytest.raises(ValueError, match=r"already exists.*--overwrite"):
        prepare("kvasir", tmp_path / "raw", tmp_path / "a")
    (tmp_path / "a" / "stale.txt").write_text("old")
    prepare("kvasir", tmp_path / "raw", tmp_path / "a", seed=7, overwrite=True)
    assert not (tmp_path / "a" / "stale.txt").exists()
    assert json.loads((tmp_path / "a" / "dataset.json").read_text())["split"]["seed"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "raw"]


def test_masks_without_an_image_are_counted_and_named(tmp_path: Path, fake) -> None:
    fake.kvasir(tmp_path / "raw", n=6)
    for k in range(4):
        fake.save(tmp_path / "raw" / "masks" / f"lost{k}.jpg", np.zeros((8, 8, 3), np.uint8))
    found = r"masks: 4 mask file\(s\) have no image and are skipped \(e\.g\. lost0\.jpg, lost1\.jpg, lost2\.jpg\)"
    with pytest.warns(UserWarning, match=found):
        prepare("kvasir", tmp_path / "raw", tmp_path / "out")
    assert len(json.loads((tmp_path / "out" / "dataset.json").read_text())["split"]["train"]) > 0


def test_glas_images_beside_their_masks_are_not_masks_without_an_image(tmp_path: Path, fake) -> None:
    """GlaS keeps images and masks in one folder: only an ``_anno`` file without its image is reported."""
    fake.glas(tmp_path / "raw")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare("glas", tmp_path / "raw", tmp_path / "out")
    folder = tmp_path / "raw" / "Warwick QU Dataset (Released 2016_07_08)"
    (folder / "train_1.bmp").unlink()
    with pytest.warns(UserWarning, match=r"1 mask file\(s\) have no image.*\(e\.g\. train_1_anno\.bmp\)"):
        prepare("glas", tmp_path / "raw", tmp_path / "out2")
