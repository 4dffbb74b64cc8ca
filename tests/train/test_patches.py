"""Tests of the volume-model training path: the patch sampler (dca.train.patches), its config and losses."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dca.train import setup
from dca.train.config import PatchConfig, resolve_config, to_dict
from dca.train.losses import soft_dice_loss
from dca.train.patches import VolumeAugmentation, VolumePatchDataset

SHAPE = (6, 20, 24)  # (D, H, W) of every fixture volume


def write_volumes(root: Path, shape: tuple[int, int, int] = SHAPE) -> Path:
    """A processed 3D dataset of three train volumes and one val volume: a 2x2x2 cube of label 2 at a random place
    and a plane of label 1, the image equal to label / 2 (so image and mask can be checked for alignment)."""
    (root / "volumes").mkdir(parents=True)
    rows = []
    for k, split in enumerate(("train", "train", "train", "val")):
        rng = np.random.default_rng(k)
        mask = np.zeros(shape, np.uint8)
        z, y, x = (int(rng.integers(0, n - 1)) for n in shape)
        mask[z : z + 2, y : y + 2, x : x + 2] = 2
        mask[:, 0, :] = 1
        np.save(root / f"volumes/c{k}_image.npy", mask.astype(np.float32) / 2)
        np.save(root / f"volumes/c{k}_label.npy", mask)
        rows.append(
            [f"c{k}", split, f"volumes/c{k}_image.npy", f"volumes/c{k}_label.npy", *shape[1:], shape[0], 5, 1, 1]
        )
    with open(root / "index.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "split", "image", "mask", "height", "width", "depth", *(f"spacing_{a}" for a in "zyx")])
        writer.writerows(rows)
    info = {"name": "cubes", "dims": 3, "channels": 1, "labels": ["background", "plane", "cube"], "num_classes": 3}
    (root / "dataset.json").write_text(json.dumps(info))
    return root


@pytest.fixture(scope="module")
def cubes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_volumes(tmp_path_factory.mktemp("cubes"))


def _dataset(root: Path, foreground: float, augment: bool = False, **kwargs) -> VolumePatchDataset:
    patch = PatchConfig(size=(4, 8, 8), foreground=foreground, per_volume=20)
    return VolumePatchDataset(root, "train", patch=patch, augment=augment, seed=3, **kwargs)


def test_foreground_oversampling_centres_patches_on_a_present_class(cubes: Path) -> None:
    def cube_share(dataset: VolumePatchDataset) -> float:
        return float(np.mean([bool((dataset[i]["mask"] == 2).any()) for i in range(len(dataset))]))

    always, never = _dataset(cubes, 1.0), _dataset(cubes, 0.0)
    assert len(always) == 60 and always[0]["image"].shape == (1, 4, 8, 8) and always[0]["mask"].shape == (4, 8, 8)
    # class first, then voxel: the tiny cube is the centre of about half the patches, a random patch rarely has it
    assert cube_share(always) > 0.4
    assert cube_share(never) < 0.3
    assert cube_share(_dataset(cubes, 1 / 3)) < cube_share(always)


def test_patches_depend_on_seed_epoch_and_index_only(cubes: Path) -> None:
    a, b = _dataset(cubes, 1 / 3, augment=True), _dataset(cubes, 1 / 3, augment=True)
    a.set_epoch(2)
    b.set_epoch(2)
    assert all(torch.equal(a[i]["image"], b[i]["image"]) for i in (0, 7, 59))
    b.set_epoch(3)
    assert not all(torch.equal(a[i]["image"], b[i]["image"]) for i in range(10))
    plain = _dataset(cubes, 1 / 3)
    first = [plain[i]["mask"] for i in range(5)]
    plain.set_epoch(4)  # validation patches: the same every epoch
    assert all(torch.equal(m, plain[i]["mask"]) for i, m in enumerate(first))


@pytest.mark.parametrize("affine_p", [0.0, 1.0])
def test_augmentation_moves_image_and_mask_together(cubes: Path, affine_p: float) -> None:
    dataset = _dataset(cubes, 1.0, augment=True, augmentation=VolumeAugmentation(flip_p=0.5, affine_p=affine_p))
    moved = 0
    for i in range(12):
        item, raw = dataset[i], _dataset(cubes, 1.0)[i]
        labels = set(item["mask"].unique().tolist())
        assert labels <= {0, 1, 2}
        if affine_p == 0.0:  # mirrors only: exactly the image = label / 2 relation
            assert torch.equal(item["image"][0] * 2, item["mask"].float())
        else:  # bilinear image vs nearest mask: agree away from label borders
            assert (torch.round(item["image"][0] * 2) == item["mask"].float()).float().mean() > 0.8
        moved += not torch.equal(item["mask"], raw["mask"])
    assert moved > 0


def test_a_volume_smaller_than_the_patch_is_padded_with_background(tmp_path: Path) -> None:
    root = write_volumes(tmp_path / "small", shape=(2, 6, 5))
    item = VolumePatchDataset(root, "train", patch=PatchConfig(size=(4, 8, 8), foreground=1.0))[0]
    assert item["mask"].shape == (4, 8, 8)
    assert not item["mask"][2:].any() and not item["mask"][:, 6:].any() and not item["mask"][..., 5:].any()


def test_a_2d_dataset_is_refused_for_a_volume_model(tmp_path: Path) -> None:
    root = write_volumes(tmp_path / "flat")
    info = json.loads((root / "dataset.json").read_text())
    (root / "dataset.json").write_text(json.dumps({**info, "dims": 2}))
    with pytest.raises(ValueError, match=r"2D dataset.*pick a 2D model"):
        VolumePatchDataset(root, "train", patch=PatchConfig(size=(4, 8, 8)))


def test_run_config_chooses_the_patch_dataset_from_the_model(cubes: Path, tmp_path: Path) -> None:
    base = {"data": {"root": str(cubes)}, "out": str(tmp_path / "run")}
    with pytest.raises(ValueError, match=r"data\.patch\.size"):
        resolve_config({**base, "model": {"name": "unet3d"}})
    with pytest.raises(ValueError, match="volume models only"):
        resolve_config({"model": {"name": "unet"}, "data": {"root": "x", "patch": {"size": [4, 8, 8]}}, "out": "o"})
    assert (
        "patch" not in to_dict(resolve_config({"model": {"name": "unet"}, "data": {"root": "x"}, "out": "o"}))["data"]
    )
    config = resolve_config(
        {**base, "model": {"name": "unet3d"}, "data": {"root": str(cubes), "patch": {"size": [4, 16, 16]}}}
    )
    assert config.data.patch == PatchConfig(size=(4, 16, 16))
    assert isinstance(setup.make_dataset(config, "train", augment=True), VolumePatchDataset)
    assert setup.model_size(config) == (4, 16, 16)


def test_soft_dice_of_volumes_reduces_over_every_spatial_axis() -> None:
    logits, target = torch.randn(2, 3, 5, 6), torch.randint(0, 3, (2, 5, 6))
    assert torch.equal(soft_dice_loss(logits[:, :, None], target[:, None]), soft_dice_loss(logits, target))
