"""GlaS layout: ``train_N.bmp`` / ``train_N_anno.bmp``, ``testA_*``, ``testB_*`` (+ ``Grade.csv``) in one folder.

The official split follows the file prefix: ``train_`` -> train (85), ``testA_`` / ``testB_`` -> test (80).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dca.data.convert.common import Case, list_files, paired_cases
from dca.data.registry import DatasetSpec

EXPECTED = "GlaS: train_N.bmp + train_N_anno.bmp, testA_N.bmp + testA_N_anno.bmp, testB_* in one folder"
SUBSET_OF_PREFIX = {"train": "train", "testA": "test", "testB": "test"}


def detect(folder: Path) -> bool:
    """Whether ``folder`` holds GlaS training annotations."""
    return any(folder.glob("train_*_anno.bmp"))


def cases(root: Path, spec: DatasetSpec) -> list[Case]:
    """One case per non-annotation bmp with a known prefix; mask ``<id>_anno.bmp``, official subset by prefix."""
    images = [
        p for p in list_files(root, (".bmp",))
        if not p.stem.endswith("_anno") and p.stem.split("_")[0] in SUBSET_OF_PREFIX
    ]  # fmt: skip
    found = paired_cases(images, root, spec, mask_stem=lambda stem: f"{stem}_anno")
    return [dataclasses.replace(c, subset=SUBSET_OF_PREFIX[c.id.split("_")[0]]) for c in found]
