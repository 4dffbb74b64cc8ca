"""Binary datasets' mask encodings: 0/1 and colour masks are converted, not emptied; odd ones are errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dca.data.convert import prepare


def _kvasir(root: Path, fake, masks: list[np.ndarray]) -> Path:
    """A Kvasir-layout folder with the given masks (PNG, lossless) and random images."""
    for i, mask in enumerate(masks):
        fake.save(root / "images" / f"case{i:03d}.jpg", fake.rgb(i), quality=95)
        fake.save(root / "masks" / f"case{i:03d}.png", mask)
    return root


def _masks(out: Path) -> list[np.ndarray]:
    """The processed masks, sorted by id."""
    return [np.asarray(Image.open(p)) for p in sorted((out / "masks").glob("*.png"))]


def test_zero_one_masks_are_converted_not_emptied(tmp_path: Path, fake) -> None:
    raw = _kvasir(tmp_path / "raw", fake, [fake.box_mask(i, value=1) for i in range(6)])
    prepare("kvasir", raw, tmp_path / "out")
    for i, mask in enumerate(_masks(tmp_path / "out")):
        np.testing.assert_array_equal(mask, fake.box_mask(i, value=1))
    info = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert info["source"]["mask_encoding"].startswith("0/1")
    assert info["empty_masks"] == {"test": 0, "train": 0, "val": 0}


def test_colour_masks_keep_their_foreground(tmp_path: Path, fake) -> None:
    red = [np.stack([fake.box_mask(i), np.zeros_like(fake.box_mask(i)), np.zeros_like(fake.box_mask(i))], -1)
           for i in range(6)]  # fmt: skip
    raw = _kvasir(tmp_path / "raw", fake, red)
    prepare("kvasir", raw, tmp_path / "out")
    for i, mask in enumerate(_masks(tmp_path / "out")):
        np.testing.assert_array_equal(mask, fake.box_mask(i, value=1))
    info = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert info["source"]["mask_encoding"].startswith("0/255")


def test_cvc_zero_one_tif_masks(tmp_path: Path, fake) -> None:
    raw = tmp_path / "raw"
    for i in range(1, 6):
        fake.save(raw / "Original" / f"{i}.tif", fake.rgb(i))
        fake.save(raw / "Ground Truth" / f"{i}.tif", fake.box_mask(i, value=1))
    prepare("cvc", raw, tmp_path / "out")
    assert all(mask.any() for mask in _masks(tmp_path / "out"))


def test_values_of_no_binary_encoding_name_the_file(tmp_path: Path, fake) -> None:
    masks = [fake.box_mask(i) for i in range(5)] + [fake.box_mask(5, value=7)]
    raw = _kvasir(tmp_path / "raw", fake, masks)
    with pytest.raises(ValueError, match=r"case005\.png: mask values \[0, 7\] fit no binary encoding"):
        prepare("kvasir", raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_mixed_zero_one_and_zero_255_is_an_error(tmp_path: Path, fake) -> None:
    masks = [fake.box_mask(i) for i in range(5)] + [fake.box_mask(5, value=1)]
    raw = _kvasir(tmp_path / "raw", fake, masks)
    with pytest.raises(ValueError, match=r"case005\.png: a 0/1 mask, but other masks .* are 0/255"):
        prepare("kvasir", raw, tmp_path / "out")


def test_many_empty_masks_warn_with_count_and_three_files(tmp_path: Path, fake) -> None:
    empty = np.zeros_like(fake.box_mask(0))
    masks = [fake.box_mask(i) if i % 2 else empty for i in range(10)]
    raw = _kvasir(tmp_path / "raw", fake, masks)
    with pytest.warns(UserWarning, match=r"(\d+) of (\d+) train masks are empty \(e\.g\. masks/case\d+\.png, "
                      r"masks/case\d+\.png, masks/case\d+\.png\)"):  # fmt: skip
        prepare("kvasir", raw, tmp_path / "out")
    info = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert sum(info["empty_masks"].values()) == 5


def test_real_style_jpeg_masks_stay_0_255(tmp_path: Path, fake) -> None:
    fake.kvasir(tmp_path / "raw", n=6)
    prepare("kvasir", tmp_path / "raw", tmp_path / "out")
    for i, mask in enumerate(_masks(tmp_path / "out")):
        assert (mask == fake.box_mask(i, value=1)).mean() > 0.98


def test_dca_paper_protocol_labels_every_value_from_1_as_foreground(tmp_path: Path, fake) -> None:
    # JPEG-like noise (value 40) beside each box: foreground for the DCA code (>= 1), background for ours (>= 128)
    masks = [fake.box_mask(i) for i in range(10)]
    for mask in masks:
        mask[0, :3] = 40
    raw = _kvasir(tmp_path / "raw", fake, masks)
    prepare("kvasir", raw, tmp_path / "honest")
    prepare("kvasir", raw, tmp_path / "paper", protocol="dca-paper")
    for i, (honest, paper) in enumerate(zip(_masks(tmp_path / "honest"), _masks(tmp_path / "paper"), strict=True)):
        np.testing.assert_array_equal(honest, fake.box_mask(i, value=1))
        assert paper[0, :3].tolist() == [1, 1, 1] and paper[1:].tolist() == honest[1:].tolist()
    info = json.loads((tmp_path / "paper" / "dataset.json").read_text())
    assert info["source"]["mask_encoding"] == "any non-zero (foreground: brightest channel >= 1)"
