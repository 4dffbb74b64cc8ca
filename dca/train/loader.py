"""Training's torch dataset over a processed dataset (:class:`dca.processed.ProcessedDir`), with a resize cache.

On first use each split is resized once to ``size x size`` and cached as uint8 arrays in the dataset's
loader cache (``cache/loader-<size>/``: images (N, C, S, S), masks (N, S, S), one array per enhancement
method); later datasets, DataLoader workers and concurrent runs memory-map the same files. The
cache file names carry a hash of the index and of the size and mtime of every source file, so
re-prepared data or re-run enhancements are picked up automatically. 3D datasets are served as 2D
slices, resampled as the test volumes are (:func:`dca.utils.resample.zoom_slice`: cubic on floats, labels
nearest, as MERIT and TransUNet), so a training slice equals that slice of a test volume as the model sees it;
2D images keep the antialiased resize to uint8. :func:`dca.processed.load_case` gives whole volumes.

Augmentation defaults follow the official DCA code (gorkemcanates/Dual-Cross-Attention,
``transforms/transforms.py``): rotation by a uniform angle in [-60, 60] degrees, horizontal flip
and vertical flip, each with probability 0.2, applied after resizing. Unlike that code, the
horizontal flip is applied to the mask too (upstream flips the mask vertically, a bug), and images
are rotated bilinearly (masks nearest), with zero fill (background for masks). The same transform is
applied to the image, every enhanced image and the mask; it is drawn from (seed, epoch, index), so a
resumed run replays the same augmentation after ``set_epoch``. :class:`MeritAugmentation` is MERIT's
(TransUNet's ``RandomGenerator``) instead, for DIN's paper protocol.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from dca.enhance import check_method
from dca.processed import SPLITS, ProcessedDir, dataset_info, read_index
from dca.utils.io import save_npy
from dca.utils.resample import zoom_slice

_CACHE_VERSION = 2  # 2: 3D slices zoomed as the test volumes, stored as float32


@dataclass(frozen=True)
class Augmentation:
    """Random transform parameters (defaults: official DCA code): rotation range in degrees and probabilities."""

    degrees: float = 60.0
    rotate_p: float = 0.2
    hflip_p: float = 0.2
    vflip_p: float = 0.2


@dataclass(frozen=True)
class MeritAugmentation:
    """MERIT's (TransUNet's ``RandomGenerator``): with probability ``rot_flip_p`` a rotation by a random multiple
    of 90 degrees and a flip along a random axis; else, with probability ``rotate_p``, a rotation by a random
    integer angle in [-degrees, degrees - 1], image and label both nearest-neighbour; else nothing."""

    rot_flip_p: float = 0.5
    rotate_p: float = 0.5
    degrees: int = 20


#: ``data.augmentation`` -> its transform (default parameters)
AUGMENTATIONS: dict[str, type[Augmentation] | type[MeritAugmentation]] = {
    "dca": Augmentation,
    "merit": MeritAugmentation,
}


def job_cpus() -> int:
    """The CPUs this job may use: ``SLURM_CPUS_PER_TASK`` when SLURM set it, else the process's CPU affinity."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_workers() -> int:
    """DataLoader workers when a config leaves ``data.workers`` unset: the job's CPUs less one, which the
    training process itself uses (0, loading in that process, on a single CPU)."""
    return max(job_cpus() - 1, 0)


# ---------------------------------------------------------------- cache building


def _resize(x: torch.Tensor, size: int, *, label: bool) -> torch.Tensor:
    """Resize (N, C, H, W) float to (N, C, size, size): antialiased bilinear for images, nearest for labels."""
    if x.shape[-2:] == (size, size):
        return x
    if label:
        return F.interpolate(x, size=(size, size), mode="nearest-exact")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """Quantise a float tensor in [0, 255] to a uint8 array."""
    return x.round().clamp_(0, 255).to(torch.uint8).numpy()


def _read_png(path: Path, mode: str | None) -> np.ndarray:
    """Read a PNG as (C, H, W) uint8, converted to PIL ``mode`` ("L", "RGB") when given."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert(mode) if mode else im)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _signature(root: Path, files: Sequence[Path], extra: str) -> str:
    """Short hash of the index, ``extra`` and the size/mtime of ``files``: the cache key."""
    h = hashlib.sha1(f"v{_CACHE_VERSION}|{extra}".encode())
    h.update(ProcessedDir(root).index.read_bytes())
    for f in files:
        st = f.stat()
        h.update(f"|{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _enhanced_files(root: Path, method: str, rows: Sequence[dict[str, str]], dims: int) -> list[Path]:
    """Paths of the enhanced copies of ``rows`` for ``method``; a FileNotFoundError naming the fix if any is missing."""
    processed = ProcessedDir(root)
    folder = processed.enhanced_dir(method)
    files = [processed.enhanced_file(method, r["id"], dims) for r in rows]
    missing = [f for f in files if not f.is_file()]
    if missing and not folder.is_dir():
        check_method(method)  # a typo (fuzzyy) is an unknown method, not a cache to build
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(files)} enhanced image(s) for method {method!r} are missing under {folder} "
            f"(first: {missing[0].name}); run `dca enhance` with method {method!r} on {root} first"
        )
    return files


#: What a file of a processed dataset that cannot be read raises (Pillow: OSError, SyntaxError; numpy: ValueError).
_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError)


def _damaged(path: Path, err: Exception, fix: str) -> ValueError:
    """The error for an unreadable source file: the file, why, and ``fix``, the command that rewrites it."""
    return ValueError(f"{path}: damaged or unreadable ({err}); {fix}")


def _build_2d(sources: Sequence[Path], size: int, mode: str | None, *, label: bool, fix: str) -> np.ndarray:
    """Resize 2D PNGs (at least one) to (N, C, size, size) uint8 ((N, size, size) for labels)."""
    smalls = []
    for path in sources:
        try:
            pixels = _read_png(path, mode)
        except _READ_ERRORS as err:
            raise _damaged(path, err, fix) from err
        arr = torch.from_numpy(pixels.astype(np.float32))[None]
        if label and arr.shape[1] != 1:
            raise ValueError(f"{path}: a label map must be single-channel, got {arr.shape[1]} channels")
        smalls.append(_to_uint8(_resize(arr, size, label=label))[0])
    out = np.stack(smalls)
    return out[:, 0] if label else out


def _build_3d(sources: Sequence[Path], size: int, *, label: bool, fix: str) -> np.ndarray:
    """Zoom (D, H, W) volumes (at least one) slice-wise into (sum D, 1, S, S) float32 ((sum D, S, S) uint8 for
    labels), with the test volumes' resampling (cubic splines may overshoot [0, 1] slightly, as at test time)."""
    parts = []
    for path in sources:
        try:
            vol = np.load(path, mmap_mode="r")
        except _READ_ERRORS as err:
            raise _damaged(path, err, fix) from err
        for plane in vol:
            plane = np.asarray(plane, dtype=np.uint8 if label else np.float32)
            parts.append(zoom_slice(plane, (size, size), label=label))
    out = np.stack(parts)
    return out if label else out[:, None]


@dataclass
class _Part:
    """One split's cache files, item ids and each item's (case id, slice index; 0 for 2D)."""

    ids: list[str]
    image: Path
    mask: Path
    enhanced: dict[str, Path]
    cases: list[tuple[str, int]]


def _prepare_split(
    root: Path, cache: Path, rows: list[dict[str, str]], split: str, size: int, methods: Sequence[str], info: dict
) -> _Part:
    """Build (if absent) the cache files of one split and return them with the item ids."""
    dims = int(info["dims"])
    mode = {1: "L", 3: "RGB"}.get(int(info.get("channels", 0)))
    images = [root / r["image"] for r in rows]
    masks = [root / r["mask"] for r in rows]
    key = _signature(root, images + masks, f"{split}|{size}")
    image_path, mask_path = cache / f"{split}_{key}_image.npy", cache / f"{split}_{key}_mask.npy"
    if not (image_path.is_file() and mask_path.is_file()):
        fix = f"prepare the dataset again: `dca data prepare {info.get('name')} --raw RAW --out {root} --overwrite`"
        if dims == 3:
            save_npy(image_path, _build_3d(images, size, label=False, fix=fix))
            save_npy(mask_path, _build_3d(masks, size, label=True, fix=fix))
        else:
            save_npy(image_path, _build_2d(images, size, mode, label=False, fix=fix))
            save_npy(mask_path, _build_2d(masks, size, None, label=True, fix=fix))
    enhanced = {}
    for method in methods:
        files = _enhanced_files(root, method, rows, dims)
        path = cache / f"{split}_{_signature(root, files, f'{split}|{size}|{method}')}_enh-{method}.npy"
        if not path.is_file():
            fix = f"delete it and run `dca enhance {method} --data {root}` again"
            if dims == 3:
                build = _build_3d(files, size, label=False, fix=fix)
            else:
                build = _build_2d(files, size, None, label=False, fix=fix)
            save_npy(path, build)
        enhanced[method] = path
    cases = [(r["id"], k) for r in rows for k in range(int(r["depth"]) if dims == 3 else 1)]
    ids = [f"{case}_slice{k}" for case, k in cases] if dims == 3 else [case for case, _ in cases]
    return _Part(ids, image_path, mask_path, enhanced, cases)


# ---------------------------------------------------------------- dataset


def _unit_float(pixels: np.ndarray) -> torch.Tensor:
    """A cached image as float32 in [0, 1]: uint8 caches (2D) scaled by 1/255, float caches (3D) as they are."""
    tensor = torch.from_numpy(np.array(pixels))
    return tensor.float().div_(255.0) if tensor.dtype == torch.uint8 else tensor.float()


@functools.cache
def _base_coords(size: int) -> torch.Tensor:
    """Pixel-centre coordinates in [-1, 1] (grid_sample, align_corners=False) of a size x size image."""
    return (torch.arange(size, dtype=torch.float32) * 2 + 1) / size - 1


def _rotation_grid(size: int, angle: float) -> torch.Tensor:
    """Sampling grid (1, S, S, 2) rotating a square image by ``angle`` radians (as F.affine_grid, but faster)."""
    c, s = math.cos(angle), math.sin(angle)
    t = _base_coords(size)
    x, y = t[None, :], t[:, None]
    return torch.stack(torch.broadcast_tensors(c * x - s * y, s * x + c * y), dim=-1)[None]


class SegmentationDataset(Dataset):
    """2D items (whole images, or slices of 3D volumes) of one or more splits of a processed dataset.

    Items: ``image`` float32 (C, S, S) in [0, 1], ``enhanced`` {method: float32 (C', S, S)}, ``mask``
    int64 (S, S), ``id`` (3D: ``<case>_slice<k>``). Call ``set_epoch`` each epoch when augmenting.
    """

    def __init__(
        self,
        root: Path,
        split: str | Sequence[str],
        *,
        size: int = 224,
        augment: bool = False,
        enhanced: Sequence[str] = (),
        seed: int = 0,
        augmentation: Augmentation | MeritAugmentation | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.root = Path(root)
        self.info = dataset_info(self.root)
        self.size = size
        self.augment = augment
        self.methods = tuple(enhanced)
        self.seed = seed
        self.augmentation = augmentation or Augmentation()
        self.splits = (split,) if isinstance(split, str) else tuple(split)
        unknown = [s for s in self.splits if s not in SPLITS]
        if unknown:
            raise ValueError(f"unknown split(s) {unknown}; expected {SPLITS}")
        rows = read_index(self.root)
        cache = Path(cache_dir) if cache_dir is not None else ProcessedDir(self.root).loader_cache(size)
        by_split = {s: [r for r in rows if r["split"] == s] for s in self.splits}
        if not any(by_split.values()):
            raise ValueError(f"{ProcessedDir(self.root).index} lists no case in split(s) {self.splits}")
        self._parts = [
            _prepare_split(self.root, cache, split_rows, s, size, self.methods, self.info)
            for s, split_rows in by_split.items()
            if split_rows
        ]
        self.ids = [i for p in self._parts for i in p.ids]
        self.cases = [c for p in self._parts for c in p.cases]  # per item: (case id, slice index)
        self._offsets = np.cumsum([0] + [len(p.ids) for p in self._parts])
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()  # seen by persistent workers too
        self._arrays: list[dict[str, Any]] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch`` (call before iterating the DataLoader)."""
        self._epoch.fill_(epoch)

    def __len__(self) -> int:
        """Number of items (cases for 2D, slices for 3D)."""
        return len(self.ids)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the open memory maps (each worker process maps the files itself)."""
        return {**self.__dict__, "_arrays": None}

    def _open(self) -> list[dict[str, Any]]:
        """Memory-map the cache files (lazily, once per process) and check them against the ids."""
        if self._arrays is None:
            arrays = []
            for part in self._parts:
                a = {
                    "image": np.load(part.image, mmap_mode="r"),
                    "mask": np.load(part.mask, mmap_mode="r"),
                    "enhanced": {m: np.load(p, mmap_mode="r") for m, p in part.enhanced.items()},
                }
                lengths = {len(a["image"]), len(a["mask"]), *(len(e) for e in a["enhanced"].values())}
                if lengths != {len(part.ids)}:
                    index_file = ProcessedDir(self.root).index
                    raise ValueError(
                        f"cache of {part.image.name} holds {sorted(lengths)} items but {index_file} lists "
                        f"{len(part.ids)}; its depth column is wrong or the cache is stale (delete {part.image.parent})"
                    )
                arrays.append(a)
            self._arrays = arrays
        return self._arrays

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Item ``index``: resized (and, when augmenting, randomly transformed) image, enhanced images, mask, id."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        p = int(np.searchsorted(self._offsets, index, side="right")) - 1
        local = index - int(self._offsets[p])
        arrays = self._open()[p]
        image = _unit_float(arrays["image"][local])
        enhanced = {m: _unit_float(a[local]) for m, a in arrays["enhanced"].items()}
        mask = torch.from_numpy(np.array(arrays["mask"][local])).long()
        if self.augment:
            image, enhanced, mask = self._transform(index, image, enhanced, mask)
        return {"image": image, "enhanced": enhanced, "mask": mask, "id": self.ids[index]}

    def _transform(
        self, index: int, image: torch.Tensor, enhanced: dict[str, torch.Tensor], mask: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """Apply one random rotation/flip, drawn from (seed, epoch, index), to image, enhanced images and mask."""
        rng = np.random.default_rng((self.seed, int(self._epoch), index))
        stack = torch.cat([image, *enhanced.values()])
        if isinstance(self.augmentation, MeritAugmentation):
            stack, mask = _merit_transform(self.augmentation, rng, stack, mask)
        else:
            stack, mask = _dca_transform(self.augmentation, rng, stack, mask)
        parts = stack.split([image.shape[0], *(e.shape[0] for e in enhanced.values())])
        return parts[0].contiguous(), {m: t.contiguous() for m, t in zip(enhanced, parts[1:], strict=True)}, mask


def _dca_transform(
    aug: Augmentation, rng: np.random.Generator, stack: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The official DCA transform (module docstring): images bilinear, the mask nearest."""
    rotate, hflip, vflip = rng.random(3) < (aug.rotate_p, aug.hflip_p, aug.vflip_p)
    angle = math.radians(rng.uniform(-aug.degrees, aug.degrees))
    if rotate:
        grid = _rotation_grid(mask.shape[-1], angle)
        stack = F.grid_sample(stack[None], grid, mode="bilinear", align_corners=False)[0]
        mask = F.grid_sample(mask[None, None].float(), grid, mode="nearest", align_corners=False)[0, 0].long()
    dims = [d for d, flip in ((-1, hflip), (-2, vflip)) if flip]
    if dims:
        stack, mask = stack.flip(dims), mask.flip(dims)
    return stack, mask


def _merit_transform(
    aug: MeritAugmentation, rng: np.random.Generator, stack: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """MERIT's transform (:class:`MeritAugmentation`) of the (square) stacked images and the mask."""
    if rng.random() < aug.rot_flip_p:
        k, dim = int(rng.integers(4)), -2 + int(rng.integers(2))
        return stack.rot90(k, (-2, -1)).flip(dim), mask.rot90(k, (-2, -1)).flip(dim)
    if rng.random() < aug.rotate_p:
        grid = _rotation_grid(mask.shape[-1], math.radians(int(rng.integers(-aug.degrees, aug.degrees))))
        stack = F.grid_sample(stack[None], grid, mode="nearest", align_corners=False)[0]
        mask = F.grid_sample(mask[None, None].float(), grid, mode="nearest", align_corners=False)[0, 0].long()
    return stack, mask
