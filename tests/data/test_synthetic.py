"""Tests of dca.data.synthetic: raw layouts, label values and byte-level determinism."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from dca.data.synthetic import SYNAPSE_ORDER, SYNAPSE_TEST, SYNAPSE_TRAIN, synthesize

ORGANS = {1, 2, 3, 4, 6, 7, 8, 11}


def _tree(root: Path) -> dict[str, bytes]:
    """Relative path -> content of every file under ``root``."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _volume(path: Path) -> np.ndarray:
    """A synthetic NIfTI as (D, H, W)."""
    return np.asarray(nib.load(path).dataobj).transpose(2, 1, 0)


@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [("binary", {"n": 3, "size": (40, 48)}), ("multiclass", {"n": 2, "size": (32, 32), "depth": 4}),
     ("acdc", {"n": 1, "size": (32, 32), "depth": 3})],
)  # fmt: skip
def test_deterministic_by_seed(tmp_path: Path, kind: str, kwargs: dict) -> None:
    a = _tree(synthesize(kind, tmp_path / "a", seed=1, **kwargs))
    b = _tree(synthesize(kind, tmp_path / "b", seed=1, **kwargs))
    c = _tree(synthesize(kind, tmp_path / "c", seed=2, **kwargs))
    assert a and a == b
    assert len(a) == len(c) and a != c  # (the ACDC ES frame number is random too)
    assert not any(".tmp-" in name for name in a)


def test_more_cases_keep_earlier_ones(tmp_path: Path) -> None:
    small = _tree(synthesize("binary", tmp_path / "s", n=2, size=(32, 32)))
    large = _tree(synthesize("binary", tmp_path / "l", n=4, size=(32, 32)))
    assert all(large[name] == data for name, data in small.items() if name.endswith(".jpg"))


def test_binary_layout(tmp_path: Path) -> None:
    root = synthesize("binary", tmp_path, n=4, size=(48, 64))
    boxes = json.loads((root / "kavsir_bboxes.json").read_text())
    assert len(boxes) == 4
    for case, entry in boxes.items():
        image = np.asarray(Image.open(root / "images" / f"{case}.jpg"))
        mask = np.asarray(Image.open(root / "masks" / f"{case}.jpg").convert("L"))
        assert image.shape == (48, 64, 3) and image.dtype == np.uint8
        assert entry["height"] == 48 and entry["width"] == 64 and entry["bbox"]
        fg = mask > 127
        assert 0.01 < fg.mean() < 0.6
        assert np.isin(mask, [*range(40), *range(216, 256)]).mean() > 0.97  # JPEG: near 0/255
        for box in entry["bbox"]:
            assert box["label"] == "polyp"
            assert 0 <= box["xmin"] < box["xmax"] <= 64 and 0 <= box["ymin"] < box["ymax"] <= 48
        assert len(entry["bbox"]) == ndimage.label(fg)[1]


def test_binary_not_separable_by_global_threshold(tmp_path: Path) -> None:
    """Polyps differ in local hue/texture; the best single grey-level threshold stays far from perfect."""
    root = synthesize("binary", tmp_path, n=8, size=(64, 64))
    grey, fg = [], []
    for case in json.loads((root / "kavsir_bboxes.json").read_text()):
        grey.append(np.asarray(Image.open(root / "images" / f"{case}.jpg").convert("L")).ravel())
        fg.append(np.asarray(Image.open(root / "masks" / f"{case}.jpg").convert("L")).ravel() > 127)
    g, m = np.concatenate(grey), np.concatenate(fg)
    best = max(2 * (p & m).sum() / (p.sum() + m.sum()) for t in range(0, 256, 4) for p in (g > t, g < t))
    assert best < 0.7


def test_synapse_order() -> None:
    assert sorted(SYNAPSE_ORDER) == sorted(SYNAPSE_TEST + SYNAPSE_TRAIN) and len(set(SYNAPSE_ORDER)) == 30
    for n in range(2, 31):
        prefix = set(SYNAPSE_ORDER[:n])
        assert prefix & set(SYNAPSE_TRAIN) and prefix & set(SYNAPSE_TEST)


def test_multiclass_layout(tmp_path: Path) -> None:
    root = synthesize("multiclass", tmp_path, n=3, size=(40, 48), depth=6)
    ids = sorted(p.name[3:7] for p in (root / "img").glob("img*.nii.gz"))
    assert ids == sorted(SYNAPSE_ORDER[:3])
    for case in ids:
        image_file = nib.load(root / "img" / f"img{case}.nii.gz")
        assert image_file.shape == (48, 40, 6)  # (x, y, z) like the real files
        image, label = _volume(root / "img" / f"img{case}.nii.gz"), _volume(root / "label" / f"label{case}.nii.gz")
        assert image.dtype == np.int16 and label.dtype == np.uint8 and image.shape == label.shape == (6, 40, 48)
        assert image.min() >= -1024 and image.max() < 3072 and (image < -500).any() and (image > 100).any()
        assert set(np.unique(label)) <= {0, 9} | ORGANS
        assert len(ORGANS & set(np.unique(label))) >= 4
        liver = image[label == 6]
        assert 30 < liver.mean() < 90  # soft tissue HU


def test_multiclass_rejects_bad_n(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiclass"):
        synthesize("multiclass", tmp_path, n=1)
    with pytest.raises(ValueError, match="unknown"):
        synthesize("nope", tmp_path)


def test_acdc_layout(tmp_path: Path) -> None:
    root = synthesize("acdc", tmp_path, n=2, size=(48, 48), depth=4)
    for p in ("patient001", "patient002"):
        folder = root / "training" / p
        info = dict(line.split(": ") for line in (folder / "Info.cfg").read_text().splitlines())
        assert info["ED"] == "1" and info["Group"]
        for frame in (1, int(info["ES"])):
            image = _volume(folder / f"{p}_frame{frame:02d}.nii.gz")
            label = _volume(folder / f"{p}_frame{frame:02d}_gt.nii.gz")
            assert image.shape == label.shape == (4, 48, 48)
            assert set(np.unique(label)) == {0, 1, 2, 3}
            # the myocardium surrounds the LV: the LV's outer neighbours are myocardium
            lv = label == 3
            rim = ndimage.binary_dilation(lv, structure=np.ones((1, 3, 3), bool)) & ~lv
            assert (label[rim] == 2).mean() > 0.95
            # blood pools are bright, myocardium dark
            assert image[lv].mean() > 1.5 * image[label == 2].mean()
        assert len(list(folder.glob("*.nii.gz"))) == 4
