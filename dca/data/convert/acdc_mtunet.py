"""ACDC as MT-UNet's preprocessed release, the one MERIT (and so DIN) trains on.

``lists_ACDC/{train,valid,test}.txt`` name the files; ``train/`` and ``valid/`` hold 2D slices
``case_NNN_slice<FRAME>_<k>.npz``, ``test/`` whole volumes ``case_NNN_volume_<FRAME>.npz`` (keys ``img`` and
``label``, labels 0..3). A case is one frame of a patient (``case_NNN_ED``), its patient the split unit, its
list the official subset (``valid`` -> val): the lists are the split. Slices are stacked back into volumes in
slice order; intensities get the registry's per-volume min-max (the identity on a release already scaled to
[0, 1]). No spacing is given (1.0), so HD95 is in voxels, as MERIT reports it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import partial
from pathlib import Path

import numpy as np

from dca.data.convert.common import Case, Sample, encode_mask, reading
from dca.data.convert.volume import normalise
from dca.data.registry import DatasetSpec, MaskRule

EXPECTED = (
    "ACDC MT-UNet release: lists_ACDC/{train,valid,test}.txt with train/ and valid/ "
    "case_NNN_sliceED_K.npz slices and test/case_NNN_volume_ED.npz volumes (keys img, label)"
)
LISTS = "lists_ACDC"
#: list file -> the official subset its cases belong to
SUBSETS = {"train": "train", "valid": "val", "test": "test"}
_SLICE = re.compile(r"^(case_\d+)_slice([A-Za-z]+)_(\d+)\.npz$")
_VOLUME = re.compile(r"^(case_\d+)_volume_([A-Za-z]+)\.npz$")


def detect(folder: Path) -> bool:
    """Whether ``folder`` holds the ``lists_ACDC`` folder with its three lists."""
    return all((folder / LISTS / f"{name}.txt").is_file() for name in SUBSETS)


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The ``img`` and ``label`` arrays of one npz file."""
    with reading(path, "ACDC npz"), np.load(path) as data:
        if "img" not in data or "label" not in data:
            raise ValueError(
                f"{path}: expected the keys img and label, found {sorted(data)}; the file is not MT-UNet's"
            )
        return np.asarray(data["img"]), np.asarray(data["label"])


def _load(files: list[Path], spec: DatasetSpec) -> Sample:
    """One frame's volume: its npz volume, or its npz slices stacked in slice order."""
    arrays = [_read(path) for path in files]
    with reading(files[0].parent, "slice stack"):
        image = arrays[0][0] if len(files) == 1 and arrays[0][0].ndim == 3 else np.stack([a[0] for a in arrays])
        label = arrays[0][1] if len(files) == 1 and arrays[0][1].ndim == 3 else np.stack([a[1] for a in arrays])
    if image.ndim != 3 or image.shape != label.shape:
        raise ValueError(
            f"{files[0]}: expected (D, H, W) image and label of one shape, got {image.shape}, {label.shape}"
        )
    return Sample(
        normalise(image, spec.intensity, str(files[0])),
        encode_mask(label, MaskRule("identity"), spec.labels, str(files[0])),
    )


def _listed(root: Path, name: str) -> list[Path]:
    """The files a list names (in its folder), every one present."""
    names = [line.strip() for line in (root / LISTS / f"{name}.txt").read_text(encoding="utf-8").splitlines()]
    files = [root / name / (n if n.endswith(".npz") else f"{n}.npz") for n in names if n]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{root / LISTS / f'{name}.txt'} lists {len(missing)} files that are missing, e.g. {missing[0]}; "
            "the release is incomplete: download it again"
        )
    return files


def cases(root: Path, spec: DatasetSpec) -> list[Case]:
    """One case per listed frame (train/valid slices grouped, test volumes), grouped by patient."""
    found = []
    for name, subset in SUBSETS.items():
        frames: dict[tuple[str, str], dict[int, Path]] = defaultdict(dict)
        for path in _listed(root, name):
            slice_match, volume_match = _SLICE.match(path.name), _VOLUME.match(path.name)
            if slice_match:
                frames[(slice_match[1], slice_match[2])][int(slice_match[3])] = path
            elif volume_match:
                frames[(volume_match[1], volume_match[2])][-1] = path
            else:
                raise ValueError(
                    f"{path}: not an MT-UNet ACDC file name (case_NNN_sliceED_K.npz or case_NNN_volume_ED.npz)"
                )
        for (patient, frame), by_index in sorted(frames.items()):
            if -1 in by_index and len(by_index) > 1:
                raise ValueError(f"{root / name}: {patient} {frame} is listed both as a volume and as slices")
            files = [by_index[k] for k in sorted(by_index)]
            source = f"{root / name}/{patient}_*{frame}*.npz"
            found.append(Case(f"{patient}_{frame}", partial(_load, files, spec), source, group=patient, subset=subset))
    return found
