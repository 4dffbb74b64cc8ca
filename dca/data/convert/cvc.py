"""CVC-ClinicDB layout: ``Original/N.tif`` + ``Ground Truth/N.tif`` (or the PNG variant)."""

from __future__ import annotations

from pathlib import Path

from dca.data.convert.common import IMAGE_SUFFIXES, Case, list_files, paired_cases
from dca.data.registry import DatasetSpec

EXPECTED = "CVC-ClinicDB: Original/N.tif (or .png) and 'Ground Truth'/N.tif (or .png)"


def detect(folder: Path) -> bool:
    """Whether ``folder`` holds the CVC-ClinicDB layout."""
    return (folder / "Original").is_dir() and (folder / "Ground Truth").is_dir()


def cases(root: Path, spec: DatasetSpec) -> list[Case]:
    """One case per image in ``Original/``, masks matched by name in ``Ground Truth/``."""
    return paired_cases(list_files(root / "Original", IMAGE_SUFFIXES), root / "Ground Truth", spec)
