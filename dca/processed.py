"""The one definition of a processed dataset, what ``dca data prepare`` hands every later stage.

Preparation writes it, enhancement adds ``enhanced/<method>/``, the training loader caches resized arrays
under ``cache/``; evaluation, the report and the workflow read it. All of them take the folder's file names
and its readers from here (torch-free, so the workflow imports it without loading torch), as the run folder's
come from :mod:`dca.layout`. docs/processed-format.md describes the same format for users.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: One row per case (columns :data:`INDEX_COLUMNS`); written last, so a folder that holds it is complete.
INDEX = "index.csv"
INDEX_COLUMNS = ("id", "split", "image", "mask", "height", "width", "depth", "spacing_z", "spacing_y", "spacing_x")
#: The dataset's description: dims, channels, labels, the split and how it was drawn (docs/processed-format.md).
INFO = "dataset.json"
#: The values of the index's ``split`` column.
SPLITS = ("train", "val", "test")
IMAGES_DIR = "images"
MASKS_DIR = "masks"
VOLUMES_DIR = "volumes"
#: ``enhanced/<method>/``: the cached enhanced copies of every case (``dca enhance``).
ENHANCED_DIR = "enhanced"
#: Inside ``enhanced/<method>/``: the method and its complete parameters (other parameters recompute the folder).
ENHANCE_PARAMS = "params.json"
#: Beside the method's folder, ``enhanced/<method>.json``: the workflow's copy of its ``params.json``, made
#: when the enhancement finished (the rule's output).
ENHANCE_MARKER_SUFFIX = ".json"
#: ``cache/``: what the training loader derives from the dataset (resized arrays), safe to delete.
CACHE_DIR = "cache"
LOADER_CACHE = "loader-{size}"


@dataclass(frozen=True)
class ProcessedDir:
    """The files of one processed dataset folder ``<processed>/<dataset>/``."""

    path: Path

    def __init__(self, path: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "path", Path(path))

    @property
    def index(self) -> Path:
        return self.path / INDEX

    @property
    def info(self) -> Path:
        return self.path / INFO

    @property
    def complete(self) -> Path:
        """The file whose presence marks the folder complete (the workflow's output for preparation)."""
        return self.index

    @property
    def cache(self) -> Path:
        return self.path / CACHE_DIR

    def loader_cache(self, size: int) -> Path:
        """The training loader's cache of the arrays resized to ``size`` x ``size``."""
        return self.cache / LOADER_CACHE.format(size=size)

    @staticmethod
    def case_files(case_id: str, dims: int) -> tuple[str, str]:
        """The image and mask of a case, relative to the folder (as the index records them)."""
        if dims == 3:
            return f"{VOLUMES_DIR}/{case_id}_image.npy", f"{VOLUMES_DIR}/{case_id}_label.npy"
        return f"{IMAGES_DIR}/{case_id}.png", f"{MASKS_DIR}/{case_id}.png"

    def enhanced_dir(self, method: str) -> Path:
        """The folder of the enhanced copies made by ``method``."""
        return self.path / ENHANCED_DIR / method

    def enhanced_params(self, method: str) -> Path:
        """The record of the method and parameters the enhanced copies of ``method`` were made with."""
        return self.enhanced_dir(method) / ENHANCE_PARAMS

    def enhanced_marker(self, method: str) -> Path:
        """The file that marks the enhanced copies of ``method`` complete (``method`` may be a wildcard pattern)."""
        return self.path / ENHANCED_DIR / f"{method}{ENHANCE_MARKER_SUFFIX}"

    def enhanced_file(self, method: str, case_id: str, dims: int) -> Path:
        """The enhanced copy of a case: ``<id>.png`` (2D, uint8) or ``<id>_image.npy`` (3D, float16 in [0, 1])."""
        return self.enhanced_dir(method) / (f"{case_id}_image.npy" if dims == 3 else f"{case_id}.png")


def dataset_info(root: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed description of the processed dataset at ``root``; a clear error when it is missing or damaged."""
    path = ProcessedDir(root).info
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {root} is not a processed dataset; run `dca data prepare` first")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable dataset description ({err}); run `dca data prepare` again") from err
    if not isinstance(info, dict):
        raise ValueError(
            f"{path}: not a readable dataset description (not a JSON object); run `dca data prepare` again"
        )
    return info


def read_index(root: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The rows of the index as string dicts (ids stay strings, e.g. "0001")."""
    path = ProcessedDir(root).index
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: {root} is not a (complete) processed dataset; run `dca data prepare` first"
        )
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load_case(root: str | os.PathLike[str], case_id: str) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Full-resolution image, label map and (z, y, x) spacing of one case, for evaluation and figures.

    3D: float32 (D, H, W) in [0, 1] and uint8 (D, H, W); 2D: uint8 (H, W[, 3]) and uint8 (H, W).
    """
    import numpy as np  # here, not at the top: the workflow imports this module for its names alone
    from PIL import Image

    root = Path(root)
    row = next((r for r in read_index(root) if r["id"] == case_id), None)
    if row is None:
        raise KeyError(f"case {case_id!r} not in {ProcessedDir(root).index}")
    spacing = (float(row["spacing_z"]), float(row["spacing_y"]), float(row["spacing_x"]))
    if int(dataset_info(root)["dims"]) == 3:
        return np.load(root / row["image"]), np.load(root / row["mask"]), spacing
    return np.asarray(Image.open(root / row["image"])), np.asarray(Image.open(root / row["mask"])), spacing
