"""Synapse as the TransUNet preprocessed release: ``train_npz/caseXXXX_sliceYYY.npz`` (keys image, label)
and ``test_vol_h5/caseXXXX.npy.h5`` (datasets image, label).

The release is already clipped to [-125, 275], scaled to [0, 1] and labelled 0..8; training slices
are stacked back into volumes (slice order) so every case is kept as a volume. No spacing is given
(1.0).
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import partial
from pathlib import Path

import numpy as np

from dca.data.convert.common import Case, Sample, encode_mask, reading
from dca.data.convert.volume import normalise
from dca.data.registry import DatasetSpec, Intensity, MaskRule

EXPECTED = "Synapse TransUNet release: train_npz/caseXXXX_sliceYYY.npz and/or test_vol_h5/caseXXXX.npy.h5"
_SLICE = re.compile(r"^(case\d+)_slice(\d+)\.npz$")
_VOLUME = re.compile(r"^(case\d+)\.npy\.h5$")


def detect(folder: Path) -> bool:
    """Whether ``folder`` holds ``train_npz/`` or ``test_vol_h5/``."""
    return (folder / "train_npz").is_dir() or (folder / "test_vol_h5").is_dir()


def _sample(image: np.ndarray, label: np.ndarray, spec: DatasetSpec, source: Path) -> Sample:
    """Validate an already-normalised volume and its 0..K-1 labels."""
    return Sample(
        normalise(image, Intensity("none"), str(source)),
        encode_mask(label, MaskRule("identity"), spec.labels, str(source)),
    )


def _load_slices(slices: list[Path], spec: DatasetSpec) -> Sample:
    """Stack the npz slices of one case (already in slice order) into a volume."""
    images, labels = [], []
    for path in slices:
        with reading(path, "npz slice"), np.load(path) as data:
            images.append(np.asarray(data["image"]))
            labels.append(np.asarray(data["label"]))
    with reading(slices[0].parent, "slice stack"):
        image, label = np.stack(images), np.stack(labels)
    return _sample(image, label, spec, slices[0])


def _load_h5(path: Path, spec: DatasetSpec) -> Sample:
    """Read one test volume."""
    import h5py

    with reading(path, "h5 volume"), h5py.File(path, "r") as f:
        image, label = np.asarray(f["image"]), np.asarray(f["label"])
    return _sample(image, label, spec, path)


def _slice_groups(folder: Path) -> dict[str, list[Path]]:
    """Slice files per case in slice order; a gap in the slice numbers is an error."""
    groups: dict[str, dict[int, Path]] = defaultdict(dict)
    for path in sorted(folder.iterdir()):
        match = _SLICE.match(path.name)
        if match:
            groups[match[1]][int(match[2])] = path
    for case_id, by_index in groups.items():
        missing = sorted(set(range(max(by_index) + 1)) - set(by_index))
        if missing:
            raise FileNotFoundError(
                f"{folder}: {case_id} lacks slices {missing[:10]} (e.g. {case_id}_slice{missing[0]:03d}.npz); "
                "the release is incomplete: download it again"
            )
    return {c: [by_index[i] for i in sorted(by_index)] for c, by_index in groups.items()}


def cases(root: Path, spec: DatasetSpec) -> list[Case]:
    """Training cases from stacked npz slices and test cases from h5 volumes."""
    found = []
    if (root / "train_npz").is_dir():
        for case_id, slices in sorted(_slice_groups(root / "train_npz").items()):
            found.append(
                Case(case_id, partial(_load_slices, slices, spec), f"{root / 'train_npz'}/{case_id}_slice*.npz")
            )
    if (root / "test_vol_h5").is_dir():
        for path in sorted((root / "test_vol_h5").iterdir()):
            match = _VOLUME.match(path.name)
            if match:
                found.append(Case(match[1], partial(_load_h5, path, spec), str(path)))
    return found
