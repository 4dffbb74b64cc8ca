"""Shared pieces of the converters: the case type, layout search, 2D image/mask reading, mask encoding."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from dca.data.registry import DatasetSpec, MaskRule

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
_COLOUR_MODES = ("RGB", "RGBA", "CMYK", "YCbCr", "LA")


@dataclass(frozen=True)
class Sample:
    """One decoded case: 2D image (H, W[, 3]) uint8 or 3D volume (D, H, W) float32 in [0, 1], and labels."""

    image: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Case:
    """A case found in a raw layout; ``load`` reads and decodes it (run in a worker thread).

    ``group`` is the split unit when cases share a subject; ``subset`` the upstream's official subset;
    ``mask`` the 2D mask file (read once more to detect a binary dataset's mask encoding).
    """

    id: str
    load: Callable[[], Sample]
    source: str
    group: str | None = None
    subset: str | None = None
    mask: Path | None = None


def check_utf8(case: Case) -> None:
    """Refuse a case whose paths are not valid UTF-8 (a name's bytes that the file system encoding cannot decode):
    the index and dataset.json are UTF-8 text, so it would fail only after every case had been written."""
    try:
        f"{case.id}{case.source}".encode()
    except UnicodeEncodeError as err:
        raise ValueError(
            f"{case.source!r}: a file or folder name here is not valid UTF-8 ({err.object[err.start : err.end]!r} "
            "stands for bytes it cannot decode); rename it and prepare again"
        ) from None


def is_junk(path: Path) -> bool:
    """Hidden files, macOS resource forks and ``__MACOSX`` folders that archives carry along."""
    return path.name.startswith(".") or path.name == "__MACOSX"


def subdirs(folder: Path) -> list[Path]:
    """Sorted non-junk sub-folders of ``folder``."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not is_junk(p))


def list_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Sorted non-junk files in ``folder`` whose suffix (case-insensitive) is one of ``suffixes``."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not is_junk(p) and p.suffix.lower() in suffixes)


def search(raw: Path, detect: Callable[[Path], bool], depth: int = 2) -> Path | None:
    """The first folder, breadth first from ``raw`` down to ``depth`` levels, for which ``detect`` holds."""
    level = [raw]
    for _ in range(depth + 1):
        for folder in level:
            if detect(folder):
                return folder
        level = [sub for folder in level for sub in subdirs(folder)]
    return None


def describe(raw: Path, limit: int = 12) -> str:
    """A short listing of ``raw`` and its sub-folders, for "layout not recognised" errors."""
    lines = []
    for folder in [raw, *subdirs(raw)[:limit]]:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if not is_junk(p))
        shown = ", ".join(names[:limit]) + (f", ... ({len(names)} entries)" if len(names) > limit else "")
        lines.append(f"  {folder}: {shown or '(empty)'}")
    return "\n".join(lines)


@contextlib.contextmanager
def reading(path: Path, what: str = "file") -> Iterator[None]:
    """Turn a decoder failure while reading ``path`` into a ValueError naming the file and the fix."""
    try:
        yield
    except FileNotFoundError:
        raise
    except Exception as err:
        raise ValueError(
            f"{path}: cannot read this {what} ({type(err).__name__}: {err}); it is truncated or corrupt: "
            "download the dataset again or remove this case"
        ) from err


def read_image(path: Path, channels: int) -> np.ndarray:
    """Decode an image file to uint8 RGB (H, W, 3) or grey (H, W)."""
    with reading(path, "image"), Image.open(path) as img:
        img.load()
        return np.asarray(img.convert("RGB" if channels == 3 else "L"))


def binary_values(img: Image.Image) -> np.ndarray:
    """The (H, W) values a binary mask is thresholded on: the brightest channel, so colour masks keep their polyp."""
    if img.mode in ("1", "L", "I", "I;16", "F"):
        return np.asarray(img.convert("L") if img.mode == "1" else img)
    return np.asarray(img.convert("RGB")).max(axis=2)


def read_mask(path: Path, rule: MaskRule) -> np.ndarray:
    """Decode a 2D mask file to its raw values (H, W); colour masks must be grey unless thresholded."""
    with reading(path, "mask"), Image.open(path) as img:
        img.load()
        if rule.kind == "threshold":
            return binary_values(img)
        colour = img.mode in _COLOUR_MODES
        values = np.asarray(img.convert("L") if colour or img.mode == "1" else img)
        rgb = np.asarray(img.convert("RGB")) if colour else None
    if rgb is not None and not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])):
        raise ValueError(f"{path}: the mask has colour (R, G, B differ); expected a grey-level label map")
    return values


def encode_mask(values: np.ndarray, rule: MaskRule, labels: tuple[str, ...], source: str) -> np.ndarray:
    """Map raw mask values to label indices (uint8) by ``rule``; values outside the labels are an error."""
    if rule.kind == "threshold":
        return (values >= rule.threshold).astype(np.uint8)
    if rule.kind == "nonzero":
        return (values != 0).astype(np.uint8)
    table = dict(rule.values) if rule.kind == "values" else {i: i for i in range(len(labels))}
    found = np.unique(values)
    bad = [v.item() for v in found if not float(v).is_integer() or int(v) not in table]
    if bad:
        allowed = sorted(table) if rule.kind == "values" else f"0..{len(labels) - 1} ({', '.join(labels)})"
        raise ValueError(
            f"{source}: mask values {bad[:10]} are outside the dataset's labels (allowed raw values: {allowed}); "
            "the mask is corrupt or belongs to another dataset"
        )
    lut = np.zeros(max(table) + 1, np.uint8)
    for raw_value, label in table.items():
        lut[raw_value] = label
    return lut[np.rint(values).astype(np.int64) if values.dtype.kind == "f" else values.astype(np.int64)]


def load_pair(image: Path, mask: Path, spec: DatasetSpec) -> Sample:
    """Read an image file and its mask file into a 2D sample."""
    return Sample(
        read_image(image, spec.channels), encode_mask(read_mask(mask, spec.mask), spec.mask, spec.labels, str(mask))
    )


#: Masks without an image named in the warning that reports them.
ORPHANS_SHOWN = 3


def _warn_orphan_masks(
    masks: dict[str, Path], images: list[Path], mask_dir: Path, mask_stem: Callable[[str], str]
) -> None:
    """Warn about the files of ``mask_dir`` named as a mask (``mask_stem`` adds a suffix, maybe none, to an image's
    stem) whose image is not among ``images``: preparing leaves them out, which a user should know."""
    suffix, wanted, sources = mask_stem(""), {mask_stem(i.stem) for i in images}, set(images)
    unpaired = (p for stem, p in masks.items() if stem.endswith(suffix) and stem not in wanted)
    orphans = sorted(p for p in unpaired if p not in sources)
    if orphans:
        names = ", ".join(p.name for p in orphans[:ORPHANS_SHOWN])
        warnings.warn(
            f"{mask_dir}: {len(orphans)} mask file(s) have no image and are skipped (e.g. {names}); "
            "add their images or remove them",
            UserWarning,
            stacklevel=3,
        )


def paired_cases(
    images: list[Path], mask_dir: Path, spec: DatasetSpec, mask_stem: Callable[[str], str] = str
) -> list[Case]:
    """One case per image, its mask being ``mask_dir/<mask_stem(stem)>.<any image suffix>``; masks without an
    image are skipped with a warning (their number and a few names)."""
    masks = {p.stem: p for p in list_files(mask_dir, IMAGE_SUFFIXES)}
    _warn_orphan_masks(masks, images, mask_dir, mask_stem)
    cases = []
    for image in images:
        mask = masks.get(mask_stem(image.stem))
        if mask is None:
            raise FileNotFoundError(
                f"{image}: the mask for this image is missing (expected {mask_dir / mask_stem(image.stem)}"
                f" with one of {', '.join(IMAGE_SUFFIXES)}); add it or remove the image"
            )
        cases.append(Case(image.stem, partial(load_pair, image, mask, spec), f"{image} + {mask}", mask=mask))
    return cases
