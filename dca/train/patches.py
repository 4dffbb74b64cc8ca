"""Training's torch dataset for volume models: random (D, H, W) patches of a 3D processed dataset.

Volumes are used at their processed (full) resolution, so the voxel spacing the evaluation scores HD95 with
is the one the model learnt at; a volume smaller than the patch is zero-padded (background) at its far end.
Sampling follows nnU-Net: a share ``foreground`` (1/3 by default, nnU-Net's ``oversample_foreground_percent``)
of the patches is centred on a voxel of a foreground class present in the volume (class first, then voxel,
so small structures are seen as often as large ones), the rest lie uniformly anywhere in the volume.
Augmentation (training only) is the cheap part of nnU-Net's: a mirror of each axis with probability 0.5 and,
with probability 0.2, an in-plane rotation (about the slice axis, which anisotropic data such as ACDC needs)
by up to 15 degrees with a scaling in [0.85, 1.25], on the cut patch (zero fill). Everything is drawn from
(seed, epoch, index), so a resumed epoch replays the same patches; validation patches use epoch 0 every epoch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from dca.processed import SPLITS, ProcessedDir, dataset_info, read_index
from dca.train.config import PatchConfig


@dataclass(frozen=True)
class VolumeAugmentation:
    """Random transform parameters: per-axis mirror probability, rotation/scaling probability and ranges."""

    flip_p: float = 0.5
    affine_p: float = 0.2
    degrees: float = 15.0
    scale: tuple[float, float] = (0.85, 1.25)


def patch_start(
    rng: np.random.Generator, shape: Sequence[int], patch: Sequence[int], centre: Sequence[int] | None
) -> tuple[int, ...]:
    """The patch's first voxel per axis: around ``centre`` (kept inside the volume), or uniform when None."""
    starts = []
    for axis, (n, p) in enumerate(zip(shape, patch, strict=True)):
        high = max(n - p, 0)
        start = int(rng.integers(0, high + 1)) if centre is None else centre[axis] - p // 2
        starts.append(min(max(start, 0), high))
    return tuple(starts)


def _cut(volume: np.ndarray, start: Sequence[int], patch: Sequence[int]) -> np.ndarray:
    """The (..., D, H, W) window of ``patch`` voxels at ``start``, zero-padded where the volume is smaller."""
    window = np.asarray(volume[tuple(slice(s, s + p) for s, p in zip(start, patch, strict=True))])
    missing = [(0, p - n) for n, p in zip(window.shape, patch, strict=True)]
    return np.pad(window, missing) if any(m for _, m in missing) else window


def _affine_grid(shape: Sequence[int], angle: float, scale: float) -> torch.Tensor:
    """Sampling grid (1, D, H, W, 3) rotating each slice by ``angle`` radians in pixel space and zooming by
    ``scale`` (>1 enlarges), about the patch centre."""
    _, h, w = shape
    c, s = math.cos(angle) / scale, math.sin(angle) / scale
    theta = torch.tensor(
        [[c, -s * h / w, 0.0, 0.0], [s * w / h, c, 0.0, 0.0], [0.0, 0.0, 1.0 / scale, 0.0]], dtype=torch.float32
    )
    return F.affine_grid(theta[None], [1, 1, *shape], align_corners=False)


class VolumePatchDataset(Dataset):
    """Random patches of the volumes of one or more splits: ``per_volume`` items per volume.

    Items: ``image`` float32 (1, D, H, W) in [0, 1], ``enhanced`` {method: float32 (1, D, H, W)}, ``mask``
    int64 (D, H, W), ``id`` (``<case>_patch<k>``), as :class:`dca.train.loader.SegmentationDataset` gives 2D
    items, so the training loop is the same. Call ``set_epoch`` each epoch.
    """

    def __init__(
        self,
        root: Path,
        split: str | Sequence[str],
        *,
        patch: PatchConfig,
        augment: bool = False,
        enhanced: Sequence[str] = (),
        seed: int = 0,
        augmentation: VolumeAugmentation | None = None,
    ) -> None:
        self.root = Path(root)
        self.info = dataset_info(self.root)
        if int(self.info["dims"]) != 3:
            raise ValueError(
                f"{self.root} is a 2D dataset ({ProcessedDir(self.root).info.name}: dims {self.info['dims']}); "
                "a volume model trains on a 3D one (ACDC, Synapse, `dca data synth ... --depth`): pick a 2D model "
                "or another data.root"
            )
        self.patch, self.augment, self.seed = patch, augment, seed
        self.methods = tuple(enhanced)
        self.augmentation = augmentation or VolumeAugmentation()
        splits = (split,) if isinstance(split, str) else tuple(split)
        unknown = [s for s in splits if s not in SPLITS]
        if unknown:
            raise ValueError(f"unknown split(s) {unknown}; expected {SPLITS}")
        self.rows = [r for r in read_index(self.root) if r["split"] in splits]
        if not self.rows:
            raise ValueError(f"{ProcessedDir(self.root).index} lists no case in split(s) {splits}")
        self.ids = [f"{r['id']}_patch{k}" for r in self.rows for k in range(patch.per_volume)]
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()  # seen by persistent workers too
        self._classes: dict[int, list[np.ndarray]] = {}  # per volume: the flat voxel indices of each present class

    def set_epoch(self, epoch: int) -> None:
        """Select the sampling and augmentation stream of ``epoch`` (training; validation always uses 0)."""
        self._epoch.fill_(epoch)

    def __len__(self) -> int:
        """Number of patches per epoch: ``per_volume`` per volume."""
        return len(self.ids)

    def _arrays(self, case: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """The case's image, mask and enhanced volumes, memory-mapped."""
        row, processed = self.rows[case], ProcessedDir(self.root)
        image, mask = np.load(self.root / row["image"], mmap_mode="r"), np.load(self.root / row["mask"], mmap_mode="r")
        enhanced = {m: np.load(processed.enhanced_file(m, row["id"], 3), mmap_mode="r") for m in self.methods}
        for name, array in (("mask", mask), *enhanced.items()):
            if array.shape != image.shape:
                raise ValueError(
                    f"{self.root}: case {row['id']}: its {name} volume is {array.shape}, its image {image.shape}; "
                    "prepare (or enhance) the dataset again"
                )
        return image, mask, enhanced

    def _foreground(self, case: int, mask: np.ndarray) -> list[np.ndarray]:
        """Flat voxel indices of each foreground class present in the case, cached per process as int32 (4 bytes
        a foreground voxel: some 200 MB for Synapse's 18 training CT volumes)."""
        if case not in self._classes:
            labels = np.asarray(mask).ravel()
            self._classes[case] = [np.flatnonzero(labels == k).astype(np.int32) for k in np.unique(labels) if k != 0]
        return self._classes[case]

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Patch ``index`` (of volume ``index // per_volume``), drawn from (seed, epoch, index)."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        case = index // self.patch.per_volume
        image, mask, enhanced = self._arrays(case)
        rng = np.random.default_rng((self.seed, int(self._epoch) if self.augment else 0, index))
        size = self.patch.size
        centre = None
        if rng.random() < self.patch.foreground:
            classes = self._foreground(case, mask)
            if classes:
                voxels = classes[int(rng.integers(len(classes)))]
                centre = [int(i) for i in np.unravel_index(int(voxels[int(rng.integers(len(voxels)))]), image.shape)]
        start = patch_start(rng, image.shape, size, centre)
        stack = torch.from_numpy(
            np.stack([_cut(v, start, size) for v in (image, *enhanced.values())]).astype(np.float32)
        )
        labels = torch.from_numpy(_cut(mask, start, size).astype(np.int64))
        if self.augment:
            stack, labels = self._transform(rng, stack, labels)
        return {
            "image": stack[:1].contiguous(),
            "enhanced": {m: stack[i + 1 : i + 2].contiguous() for i, m in enumerate(self.methods)},
            "mask": labels.contiguous(),
            "id": self.ids[index],
        }

    def _transform(
        self, rng: np.random.Generator, stack: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mirror the axes and rotate/scale in-plane (image bilinear, mask nearest), as the module docstring says."""
        aug = self.augmentation
        flips = rng.random(3) < aug.flip_p
        affine = rng.random() < aug.affine_p
        angle = math.radians(rng.uniform(-aug.degrees, aug.degrees))
        scale = rng.uniform(*aug.scale)
        if affine:
            grid = _affine_grid(labels.shape, angle, scale)
            stack = F.grid_sample(stack[None], grid, mode="bilinear", align_corners=False)[0]
            labels = F.grid_sample(labels[None, None].float(), grid, mode="nearest", align_corners=False)[0, 0].long()
        axes = [axis - 3 for axis in range(3) if flips[axis]]
        if axes:
            stack, labels = stack.flip(axes), labels.flip(axes)
        return stack, labels
