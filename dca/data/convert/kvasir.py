"""Kvasir-SEG layout: ``images/<id>.jpg`` + ``masks/<id>.jpg`` (+ ``kavsir_bboxes.json``, unused)."""

from __future__ import annotations

from pathlib import Path

from dca.data.convert.common import IMAGE_SUFFIXES, Case, list_files, paired_cases
from dca.data.registry import DatasetSpec

EXPECTED = "Kvasir-SEG: images/<id>.jpg and masks/<id>.jpg (same names)"


def detect(folder: Path) -> bool:
    """Whether ``folder`` holds the Kvasir-SEG layout."""
    return (folder / "images").is_dir() and (folder / "masks").is_dir()


def cases(root: Path, spec: DatasetSpec) -> list[Case]:
    """One case per image in ``images/``, masks matched by name."""
    return paired_cases(list_files(root / "images", IMAGE_SUFFIXES), root / "masks", spec)
