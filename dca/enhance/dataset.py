"""Cached enhancement of a whole processed dataset into its folder of enhanced copies of a method.

The folder and file names are :class:`dca.processed.ProcessedDir`'s (``enhanced/<method>/``): a 2D case's PNG
becomes a uint8 PNG of the same shape, a 3D volume is enhanced slice by slice along the first axis into float16
in [0, 1]. The folder's ``params.json`` records the method and its complete parameters: a rerun with the same
parameters skips the outputs already there (every file is written atomically, so an existing file is complete);
different parameters clear the folder and recompute everything.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dca.enhance import enhance, params_dict
from dca.processed import ProcessedDir, dataset_info, read_index
from dca.utils.io import atomic_path, save_npy, write_json
from dca.utils.progress import track

PNG_COMPRESS_LEVEL = 1  # zlib level: half the encoding time of Pillow's default 6 for ~12 % larger files


def enhance_dataset(processed_dir: Path, method: str, **params: Any) -> Path:
    """Enhance every case of the processed dataset at ``processed_dir`` with ``method``; returns the output folder."""
    root = ProcessedDir(processed_dir)
    record = {"method": method, "params": params_dict(method, **params)}
    out_dir, record_file = root.enhanced_dir(method), root.enhanced_params(method)
    dims = int(dataset_info(root.path)["dims"])
    cases = [(row["id"], root.path / row["image"]) for row in read_index(root.path)]
    if _read_record(record_file) != record:
        _clear(out_dir, record_file)
        write_json(record_file, record)
    for case_id, source in track(cases, len(cases), f"enhance {method} {root.path.name}", "images"):
        target = root.enhanced_file(method, case_id, dims)
        if not target.exists():
            _enhance_case(source, target, method, record["params"])
    return out_dir


def _read_record(path: Path) -> dict[str, Any] | None:
    """The ``params.json`` of a previous run, or None if there is none."""
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _clear(out_dir: Path, record_file: Path) -> None:
    """Remove a previous run: ``params.json`` first, so an interrupted clear is still seen as stale."""
    record_file.unlink(missing_ok=True)
    if out_dir.exists():
        shutil.rmtree(out_dir)


def _enhance_case(source: Path, target: Path, method: str, params: dict[str, Any]) -> None:
    """Enhance one 2D image (PNG -> uint8 PNG) or one 3D volume (slice by slice -> float16 npy), atomically."""
    if source.suffix == ".npy":
        volume = np.load(source)
        save_npy(target, np.stack([enhance(plane, method, **params) for plane in volume]).astype(np.float16))
        return
    with Image.open(source) as img:
        image = np.asarray(img)
    out = np.round(enhance(image, method, **params) * 255.0).astype(np.uint8)
    with atomic_path(target) as tmp:
        Image.fromarray(out).save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
