"""Tests of the training loader (dca.train.loader) and of the processed-dataset readers (dca.processed) on small
processed datasets written directly in the processed format."""

from __future__ import annotations

import csv
import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dca.evaluate.protocol import predict_volume
from dca.processed import ProcessedDir, dataset_info, load_case
from dca.train.loader import Augmentation, MeritAugmentation, SegmentationDataset

SPLITS = {"a": "train", "b": "train", "c": "train", "d": "val", "e": "test"}
ALWAYS = Augmentation(degrees=30.0, rotate_p=1.0, hflip_p=0.5, vflip_p=0.5)


def _blob_mask(h: int, w: int, k: int, labels: int) -> np.ndarray:
    """A label map with a few rectangles of labels 1..labels-1, different per ``k``."""
    mask = np.zeros((h, w), np.uint8)
    for j in range(1, labels):
        y, x = (5 + 7 * j + 3 * k) % (h // 2), (4 + 11 * j + 5 * k) % (w // 2)
        mask[y : y + h // 3, x : x + w // 4] = j
    return mask


def write_processed(root: Path, *, dims: int, labels: int = 2, channels: int = 3, mirror: bool = False) -> Path:
    """Write a tiny processed dataset (5 cases) by hand; ``mirror``: image intensity = mask (for transform checks)."""
    names = ["background", *(f"class{j}" for j in range(1, labels))]
    rows = []
    for k, (case, split) in enumerate(SPLITS.items()):
        h, w, d = 40 + 4 * k, 56 - 2 * k, (3 + k % 2 if dims == 3 else 1)
        mask = np.stack([_blob_mask(h, w, k + z, labels) for z in range(d)])
        rng = np.random.default_rng(k)
        if mirror:
            image = (mask > 0).astype(np.float32)
        else:
            image = rng.random((d, h, w), dtype=np.float32)
        if dims == 3:
            (root / "volumes").mkdir(parents=True, exist_ok=True)
            img_rel, mask_rel = f"volumes/{case}_image.npy", f"volumes/{case}_label.npy"
            np.save(root / img_rel, image)
            np.save(root / mask_rel, mask)
        else:
            (root / "images").mkdir(parents=True, exist_ok=True)
            (root / "masks").mkdir(parents=True, exist_ok=True)
            img_rel, mask_rel = f"images/{case}.png", f"masks/{case}.png"
            pixels = (image[0] * 255).astype(np.uint8)
            Image.fromarray(np.repeat(pixels[..., None], 3, 2) if channels == 3 else pixels).save(root / img_rel)
            Image.fromarray(mask[0]).save(root / mask_rel)
        rows.append([case, split, img_rel, mask_rel, h, w, d, 2.5, 0.8, 0.7])
    with open(root / "index.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "split", "image", "mask", "height", "width", "depth", *(f"spacing_{a}" for a in "zyx")])
        writer.writerows(rows)
    ids = {s: [c for c, cs in SPLITS.items() if cs == s] for s in ("train", "val", "test")}
    info = {
        "name": "fixture",
        "modality": "test",
        "dims": dims,
        "channels": channels if dims == 2 else 1,
        "labels": names,
        "num_classes": labels,
        "split": {"protocol": "fixture", "seed": 0, "val_fraction": 0.2, **ids},
        "source": "tests",
    }
    (root / "dataset.json").write_text(json.dumps(info))
    return root


def write_enhanced(root: Path, method: str, *, dims: int, invert: bool = True) -> None:
    """Write an enhanced copy (the inverted image, or the image itself) of every case, as `dca enhance` would."""
    folder = root / "enhanced" / method
    folder.mkdir(parents=True, exist_ok=True)
    for case in SPLITS:
        if dims == 3:
            image = np.load(root / "volumes" / f"{case}_image.npy")
            np.save(folder / f"{case}_image.npy", (1 - image if invert else image).astype(np.float16))
        else:
            image = np.asarray(Image.open(root / "images" / f"{case}.png"))
            Image.fromarray(255 - image if invert else image).save(folder / f"{case}.png")


@pytest.fixture
def data2d(tmp_path: Path) -> Path:
    """A processed 2D dataset, RGB, 3 labels."""
    return write_processed(tmp_path / "d2", dims=2, labels=3)


@pytest.fixture
def data3d(tmp_path: Path) -> Path:
    """A processed 3D dataset, 4 labels."""
    return write_processed(tmp_path / "d3", dims=3, labels=4)


def test_items_2d(data2d: Path) -> None:
    ds = SegmentationDataset(data2d, "train", size=32)
    assert len(ds) == 3 and ds.ids == ["a", "b", "c"]
    item = ds[1]
    assert item["id"] == "b" and item["enhanced"] == {}
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert 0.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert item["mask"].shape == (32, 32) and item["mask"].dtype == torch.int64
    assert set(item["mask"].unique().tolist()) <= {0, 1, 2}
    assert len(SegmentationDataset(data2d, ["train", "test"], size=32)) == 4
    with pytest.raises(IndexError):
        ds[3]


def test_items_3d_are_slices(data3d: Path) -> None:
    ds = SegmentationDataset(data3d, ["val", "test"], size=24)
    assert ds.ids == [f"d_slice{k}" for k in range(4)] + [f"e_slice{k}" for k in range(3)]
    item = ds[5]
    assert item["id"] == "e_slice1" and item["image"].shape == (1, 24, 24) and item["mask"].shape == (24, 24)
    expected = np.load(data3d / "volumes" / "e_label.npy")[1]
    ys, xs = (np.arange(24) * expected.shape[0] / 24).astype(int), (np.arange(24) * expected.shape[1] / 24).astype(int)
    assert (item["mask"].numpy() == expected[np.ix_(ys, xs)]).mean() > 0.9


def test_resize_keeps_intensity(data3d: Path) -> None:
    volume = np.load(data3d / "volumes" / "a_image.npy")
    ds = SegmentationDataset(data3d, "train", size=volume.shape[1])  # no-op resize in H, only W changes
    assert abs(ds[0]["image"].mean().item() - volume[0].mean()) < 0.02


def test_cache_is_built_once_and_reused(data2d: Path) -> None:
    SegmentationDataset(data2d, "train", size=32)
    files = sorted((data2d / "cache" / "loader-32").glob("*.npy"))
    assert len(files) == 2 and not list((data2d / "cache").rglob(".tmp-*"))
    stamps = [f.stat().st_mtime_ns for f in files]
    ds = SegmentationDataset(data2d, "train", size=32)
    assert [f.stat().st_mtime_ns for f in sorted((data2d / "cache" / "loader-32").glob("*.npy"))] == stamps
    assert isinstance(ds._open()[0]["image"], np.memmap)
    # a changed source file gets a new cache entry
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(data2d / "images" / "a.png")
    assert SegmentationDataset(data2d, "train", size=32)[0]["image"].max() == 0
    assert len(list((data2d / "cache" / "loader-32").glob("*.npy"))) == 4


def test_enhanced_loaded_and_missing_error(data2d: Path, data3d: Path) -> None:
    with pytest.raises(FileNotFoundError, match="dca enhance"):
        SegmentationDataset(data2d, "train", size=32, enhanced=["clahe"])
    for root, dims in ((data2d, 2), (data3d, 3)):
        write_enhanced(root, "invert", dims=dims)
        item = SegmentationDataset(root, "test", size=16, enhanced=["invert"])[0]
        assert item["enhanced"]["invert"].shape == item["image"].shape
        assert torch.allclose(item["enhanced"]["invert"], 1 - item["image"], atol=2 / 255)
    (data2d / "enhanced" / "invert" / "e.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"e\.png"):
        SegmentationDataset(data2d, "test", size=16, enhanced=["invert"])


@pytest.mark.parametrize("dims", [2, 3])
def test_a_damaged_file_is_named_with_the_command_that_rewrites_it(tmp_path: Path, dims: int) -> None:
    root = write_processed(tmp_path / "d", dims=dims)
    damaged = root / ProcessedDir.case_files("b", dims)[1]
    damaged.write_bytes(damaged.read_bytes()[:60])  # cut short, as by a full disk or a bad copy
    fix = f"dca data prepare fixture --raw RAW --out {root} --overwrite"
    with pytest.raises(ValueError, match=re.escape(f"{damaged}: damaged or unreadable") + ".*" + re.escape(fix)):
        SegmentationDataset(root, "train", size=16)
    root = write_processed(tmp_path / "e", dims=dims)
    write_enhanced(root, "invert", dims=dims)
    damaged = ProcessedDir(root).enhanced_file("invert", "e", dims)
    damaged.write_bytes(b"")
    fix = f"delete it and run `dca enhance invert --data {root}` again"
    with pytest.raises(ValueError, match=re.escape(f"{damaged}: damaged or unreadable") + ".*" + re.escape(fix)):
        SegmentationDataset(root, "test", size=16, enhanced=["invert"])


def test_a_typo_in_the_enhancement_method_is_unknown_not_missing(data2d: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown enhancement method 'fuzzyy'; the methods are: clahe, fuzzy, he"):
        SegmentationDataset(data2d, "train", size=32, enhanced=["fuzzyy"])


@pytest.mark.parametrize("dims", [2, 3])
def test_same_transform_on_image_enhanced_and_mask(tmp_path: Path, dims: int) -> None:
    root = write_processed(tmp_path, dims=dims, labels=2, channels=1, mirror=True)
    write_enhanced(root, "copy", dims=dims, invert=False)
    ds = SegmentationDataset(root, "train", size=32, augment=True, augmentation=ALWAYS, enhanced=["copy"])
    plain = SegmentationDataset(root, "train", size=32)
    changed = 0
    for i in range(len(ds)):
        item = ds[i]
        mask = item["mask"].numpy()
        assert (mask == (item["image"][0].numpy() > 0.5)).mean() > 0.97
        assert (mask == (item["enhanced"]["copy"][0].numpy() > 0.5)).mean() > 0.97
        changed += not np.array_equal(mask, plain[i]["mask"].numpy())
    assert changed >= len(ds) - 1


def test_augmentation_deterministic_per_seed_epoch_index(data2d: Path) -> None:
    def masks(ds: SegmentationDataset) -> list[np.ndarray]:
        return [ds[i]["mask"].numpy() for i in range(len(ds))]

    a = SegmentationDataset(data2d, "train", size=32, augment=True, augmentation=ALWAYS, seed=3)
    b = SegmentationDataset(data2d, "train", size=32, augment=True, augmentation=ALWAYS, seed=3)
    a.set_epoch(2)
    b.set_epoch(2)
    assert all(np.array_equal(x, y) for x, y in zip(masks(a), masks(b), strict=True))
    epoch2 = masks(a)
    a.set_epoch(3)
    assert not all(np.array_equal(x, y) for x, y in zip(masks(a), epoch2, strict=True))
    # the epoch survives pickling (DataLoader workers) and item order does not matter
    clone = pickle.loads(pickle.dumps(b))
    assert np.array_equal(clone[2]["mask"].numpy(), epoch2[2])


def test_dataloader_workers_see_epoch(data2d: Path) -> None:
    ds = SegmentationDataset(data2d, "train", size=16, augment=True, augmentation=ALWAYS)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=1, persistent_workers=True)
    ds.set_epoch(1)
    first = next(iter(loader))["mask"]
    ds.set_epoch(5)
    later = next(iter(loader))["mask"]
    assert torch.equal(first, torch.stack([ds_item["mask"] for ds_item in _epoch_items(ds, 1)]))
    assert torch.equal(later, torch.stack([ds_item["mask"] for ds_item in _epoch_items(ds, 5)]))


def _epoch_items(ds: SegmentationDataset, epoch: int) -> list[dict]:
    """All items of ``ds`` under ``epoch``, read in this process."""
    ds.set_epoch(epoch)
    return [ds[i] for i in range(len(ds))]


def test_load_case_and_info(data2d: Path, data3d: Path) -> None:
    image, label, spacing = load_case(data3d, "b")
    assert image.shape == label.shape == (4, 44, 54) and image.dtype == np.float32 and label.dtype == np.uint8
    assert spacing == (2.5, 0.8, 0.7)
    image, label, _ = load_case(data2d, "a")
    assert image.shape == (40, 56, 3) and label.shape == (40, 56)
    assert dataset_info(data3d)["num_classes"] == 4
    with pytest.raises(KeyError):
        load_case(data2d, "zzz")
    with pytest.raises(ValueError, match="split"):
        SegmentationDataset(data2d, "training")


@pytest.mark.parametrize(
    ("kind", "kwargs", "classes"),
    [("binary", {"n": 10, "size": (48, 64)}, {0, 1}),
     ("multiclass", {"n": 3, "size": (32, 32), "depth": 4}, set(range(9))),
     ("acdc", {"n": 3, "size": (32, 32), "depth": 3}, {0, 1, 2, 3})],
)  # fmt: skip
def test_synthesize_prepare_load(tmp_path: Path, kind: str, kwargs: dict, classes: set[int]) -> None:
    """End to end: synthetic raw data -> `dca data prepare` (its Python API) -> loader."""
    convert = pytest.importorskip("dca.data.convert", reason="dca data prepare not available")
    from dca.data.synthetic import synthesize

    raw = synthesize(kind, tmp_path / "raw", **kwargs)
    out = convert.prepare(f"synthetic-{kind}", raw, tmp_path / "out").out
    ds = SegmentationDataset(out, ["train", "val", "test"], size=32, augment=True)
    depth = kwargs.get("depth", 1) * (2 if kind == "acdc" else 1)  # ACDC: ED and ES frames
    assert len(ds) == kwargs["n"] * depth
    assert ds[0]["image"].shape == (3 if kind == "binary" else 1, 32, 32)
    assert set(torch.cat([ds[i]["mask"].flatten() for i in range(len(ds))]).unique().tolist()) == classes


def _dihedral(mask: np.ndarray) -> list[np.ndarray]:
    """The eight rotations by multiples of 90 degrees of ``mask`` and of its mirror image."""
    return [np.rot90(m, k) for m in (mask, mask[:, ::-1]) for k in range(4)]


@pytest.mark.parametrize("dims", [2, 3])
def test_merit_augmentation_moves_image_and_label_alike_and_keeps_integer_labels(tmp_path: Path, dims: int) -> None:
    root = write_processed(tmp_path, dims=dims, labels=2, channels=1, mirror=True)
    plain = SegmentationDataset(root, "train", size=32)
    rot_flip = SegmentationDataset(root, "train", size=32, augment=True, augmentation=MeritAugmentation(1.0))
    rotate = SegmentationDataset(root, "train", size=32, augment=True, augmentation=MeritAugmentation(0.0, 1.0))
    rotated = 0
    for i in range(len(plain)):
        before, image = plain[i]["mask"].numpy(), plain[i]["image"][0].numpy()
        for ds in (rot_flip, rotate):
            item = ds[i]
            assert item["mask"].dtype == torch.int64 and set(item["mask"].unique().tolist()) <= {0, 1}
            assert (item["mask"].numpy() == (item["image"][0].numpy() > 0.5)).mean() > 0.97
        mask, moved_image = rot_flip[i]["mask"].numpy(), rot_flip[i]["image"][0].numpy()
        pairs = zip(_dihedral(before), _dihedral(image), strict=True)  # one and the same transform of both
        assert any(np.array_equal(mask, m) and np.array_equal(moved_image, im) for m, im in pairs)
        moved = rotate[i]["mask"].numpy()
        rotated += not any(np.array_equal(moved, m) for m in _dihedral(before))
    assert rotated >= len(plain) - 1  # a rotation in [-20, 19] degrees, rarely by 0


def test_training_slices_are_resampled_as_the_test_volumes(data3d: Path) -> None:
    seen: list[np.ndarray] = []

    def predict(slices: np.ndarray) -> np.ndarray:
        seen.extend(slices)
        return np.zeros(slices.shape, np.uint8)

    volume = np.load(data3d / "volumes" / "e_image.npy")
    predict_volume(predict, volume, 24)
    ds = SegmentationDataset(data3d, "test", size=24)
    assert len(ds) == len(seen) == volume.shape[0]
    for k, expected in enumerate(seen):
        assert ds[k]["image"].dtype == torch.float32
        np.testing.assert_array_equal(ds[k]["image"][0].numpy(), expected)
