"""ISIC 2018 Task 1 layout: ``ISIC2018_Task1-2_Training_Input/<id>.jpg`` +
``ISIC2018_Task1_Training_GroundTruth/<id>_segmentation.png``."""

from __future__ import annotations

from pathlib import Path

from dca.data.convert.common import Case, list_files, paired_cases
from dca.data.registry import DatasetSpec

IMAGES = "ISIC2018_Task1-2_Training_Input"
MASKS = "ISIC2018_Task1_Training_GroundTruth"
EXPECTED = f"ISIC 2018 Task 1: {IMAGES}/<id>.jpg and {MASKS}/<id>_segmentation.png"


def detect(folder: Path) -> bool:
    """Whether ``folder`` holds both ISIC 2018 Task 1 training folders."""
    return (folder / IMAGES).is_dir() and (folder / MASKS).is_dir()


def cases(root: Path, spec: DatasetSpec) -> list[Case]:
    """One case per JPEG image, its mask ``<id>_segmentation.png``."""
    images = list_files(root / IMAGES, (".jpg", ".jpeg"))
    return paired_cases(images, root / MASKS, spec, mask_stem=lambda stem: f"{stem}_segmentation")
