"""Synapse (BTCV) raw layout: ``img/imgXXXX.nii.gz`` + ``label/labelXXXX.nii.gz``.

CT intensities are clipped to the registry window and scaled to [0, 1]; the raw BTCV labels are
mapped to the registry labels (other organs -> background); volumes keep the header spacing.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

from dca.data.convert.common import Case
from dca.data.convert.volume import load_nifti_pair
from dca.data.registry import DatasetSpec

EXPECTED = "Synapse raw: img/imgXXXX.nii.gz and label/labelXXXX.nii.gz"
_IMAGE = re.compile(r"^img(\d+)\.nii(\.gz)?$")


def detect(folder: Path) -> bool:
    """Whether ``folder`` holds ``img/`` volumes and a ``label/`` folder."""
    return (folder / "label").is_dir() and (folder / "img").is_dir() and any((folder / "img").glob("img*.nii*"))


def cases(root: Path, spec: DatasetSpec) -> list[Case]:
    """One case ``caseXXXX`` per ``imgXXXX`` volume; a volume without its label is an error."""
    found = []
    for image in sorted((root / "img").iterdir()):
        match = _IMAGE.match(image.name)
        if not match:
            continue
        label = root / "label" / image.name.replace("img", "label", 1)
        if not label.is_file():
            raise FileNotFoundError(f"{image}: its label volume {label} is missing; add it or remove the image")
        found.append(Case(f"case{match[1]}", partial(load_nifti_pair, image, label, spec), f"{image} + {label}"))
    return found
