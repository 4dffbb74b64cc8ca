"""ISIC 2018 Task 1 layout: ``ISIC2018_Task1-2_Training_Input/<id>.jpg`` +
``ISIC2018_Task1_Training_GroundTruth/<id>_segmentation.png``, and optionally the Task 1 test set
(``ISIC2018_Task1-2_Test_Input`` + ``ISIC2018_Task1_Test_GroundTruth``, same naming) beside them.

Cases carry their official subset (train or test), so a protocol can draw from the training images
only (2,594) or from both sets (3,594, as the DIN paper counts).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dca.data.convert.common import Case, list_files, paired_cases
from dca.data.registry import DatasetSpec

IMAGES = "ISIC2018_Task1-2_Training_Input"
MASKS = "ISIC2018_Task1_Training_GroundTruth"
TEST_IMAGES = "ISIC2018_Task1-2_Test_Input"
TEST_MASKS = "ISIC2018_Task1_Test_GroundTruth"
EXPECTED = (
    f"ISIC 2018 Task 1: {IMAGES}/<id>.jpg and {MASKS}/<id>_segmentation.png "
    f"(optionally {TEST_IMAGES}/ and {TEST_MASKS}/ beside them)"
)


def detect(folder: Path) -> bool:
    """Whether ``folder`` holds both ISIC 2018 Task 1 training folders."""
    return (folder / IMAGES).is_dir() and (folder / MASKS).is_dir()


def _pairs(root: Path, images: str, masks: str, spec: DatasetSpec, subset: str) -> list[Case]:
    """One case per JPEG in ``images``, its mask ``masks/<id>_segmentation.png``, tagged with ``subset``."""
    found = paired_cases(
        list_files(root / images, (".jpg", ".jpeg")), root / masks, spec, lambda s: f"{s}_segmentation"
    )
    return [dataclasses.replace(c, subset=subset) for c in found]


def cases(root: Path, spec: DatasetSpec) -> list[Case]:
    """The training cases, and the test cases when both test folders are there; one test folder without the other
    is an error naming the missing one (a half-unpacked test set would silently shrink the din-paper protocol)."""
    found = _pairs(root, IMAGES, MASKS, spec, "train")
    present = {name: (root / name).is_dir() for name in (TEST_IMAGES, TEST_MASKS)}
    if all(present.values()):
        found += _pairs(root, TEST_IMAGES, TEST_MASKS, spec, "test")
    elif any(present.values()):
        missing = next(name for name, there in present.items() if not there)
        raise FileNotFoundError(
            f"{root / missing}: missing, but the other ISIC 2018 Task 1 test folder is there; unpack {missing}.zip "
            f"into {root} (`dca data download isic2018 --out {root}` fetches it) or remove the other test folder"
        )
    return found
