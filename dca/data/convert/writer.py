"""The single writer of the processed format (docs/processed-format.md), shared by every converter.

Cases are decoded and written by a thread pool (twice the cores: decoders and fsync release the GIL)
into a temporary sibling folder, each file atomically; the description and then the index come last,
and the folder is renamed into place only when everything succeeded. Any error removes the
temporary folder, so no partial output remains. The output is locked while it is written (a lock file beside
it, as a run folder's): a second prepare on the same ``--out`` is refused instead of deleting the first one's
temporary folder as stale.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from dca.data.convert.common import Case, Sample, check_utf8
from dca.data.registry import DatasetSpec
from dca.data.splits import Split
from dca.processed import INDEX_COLUMNS, ProcessedDir
from dca.utils.io import atomic_path, save_npy, staging_dir, trash_name, write_json, write_text
from dca.utils.lock import run_lock
from dca.utils.log import stage_log
from dca.utils.progress import track

LOG = stage_log("data")

#: zlib level of the PNGs: 1 is ~3x faster to write than the default 6 and only ~10 % larger.
PNG_COMPRESSION = 1
#: share of empty masks in a subset above which preparing warns (a sign of a mis-read mask encoding)
EMPTY_WARN_SHARE = 0.2


def lock_file(out: Path) -> Path:
    """The lock file a prepare holds while it writes ``out``: beside it, as ``out`` itself is replaced."""
    return out.parent / f".{out.name}.lock"


def check_target(out: Path, overwrite: bool) -> None:
    """Refuse to replace a non-empty ``out`` unless ``overwrite``; checked before any work starts."""
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(
            f"{out} already exists and is not empty; pass --overwrite to replace it, or choose another --out"
        )


def _check(sample: Sample, spec: DatasetSpec, case: Case) -> None:
    """Shapes and value ranges the processed format requires, with the files named on failure."""
    image, mask = sample.image, sample.mask
    if spec.dims == 2:
        expected_ndim = 3 if spec.channels == 3 else 2
        if image.ndim != expected_ndim or mask.ndim != 2 or image.dtype != np.uint8:
            raise ValueError(f"{case.source}: expected a {spec.channels}-channel uint8 image and a 2D mask")
        if image.shape[:2] != mask.shape:
            raise ValueError(
                f"{case.source}: image is {image.shape[0]}x{image.shape[1]} (HxW) but the mask is "
                f"{mask.shape[0]}x{mask.shape[1]}; they must have the same size (wrong or damaged mask file)"
            )
    else:
        if image.ndim != 3 or image.shape != mask.shape:
            raise ValueError(
                f"{case.source}: image volume is {image.shape} but the label volume is {mask.shape} (D, H, W); "
                "they must be equal 3D shapes"
            )
    if image.size == 0:
        raise ValueError(f"{case.source}: the image is empty")


def _save_png(path: Path, array: np.ndarray) -> None:
    """Atomically write a uint8 array as PNG."""
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG", compress_level=PNG_COMPRESSION)


def _write_case(case: Case, spec: DatasetSpec, subset: str, staging: Path) -> tuple[dict[str, object], bool]:
    """Decode, check and write one case; return its index row and whether its mask is empty."""
    sample = case.load()
    _check(sample, spec, case)
    image_rel, mask_rel = ProcessedDir.case_files(case.id, spec.dims)
    if spec.dims == 2:
        _save_png(staging / image_rel, sample.image)
        _save_png(staging / mask_rel, sample.mask)
        depth, (height, width) = 1, sample.mask.shape
    else:
        save_npy(staging / image_rel, sample.image.astype(np.float32))
        save_npy(staging / mask_rel, sample.mask.astype(np.uint8))
        depth, height, width = sample.mask.shape
    spacing_z, spacing_y, spacing_x = sample.spacing
    row = (case.id, subset, image_rel, mask_rel, height, width, depth, spacing_z, spacing_y, spacing_x)
    return dict(zip(INDEX_COLUMNS, row, strict=True)), not sample.mask.any()


def empty_masks(rows: list[dict[str, object]], empty: list[bool]) -> dict[str, list[str]]:
    """Case ids whose mask is empty, per subset (sorted)."""
    found: dict[str, list[str]] = {s: [] for s in sorted({str(r["split"]) for r in rows})}
    for row, is_empty in zip(rows, empty, strict=True):
        if is_empty:
            found[str(row["split"])].append(str(row["id"]))
    return {s: sorted(ids) for s, ids in found.items()}


def _warn_empty(name: str, rows: list[dict[str, object]], empties: dict[str, list[str]]) -> None:
    """Warn when a subset has an unusual share of empty masks: the count and three file names."""
    for subset, ids in empties.items():
        total = sum(r["split"] == subset for r in rows)
        if total and len(ids) / total > EMPTY_WARN_SHARE:
            files = ", ".join(str(next(r["mask"] for r in rows if r["id"] == i)) for i in ids[:3])
            warnings.warn(
                f"dataset {name!r}: {len(ids)} of {total} {subset} masks are empty (e.g. {files}); "
                "check the mask files and the registry's mask encoding",
                UserWarning,
                stacklevel=4,
            )


def _index_text(rows: list[dict[str, object]]) -> str:
    """The index's text, rows sorted by id."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=INDEX_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: str(r["id"])))
    return buffer.getvalue()


def _publish(staging: Path, out: Path) -> None:
    """Move the finished ``staging`` folder to ``out``, replacing an existing ``out``."""
    if out.exists():
        trash = trash_name(out)
        out.rename(trash)
        staging.rename(out)
        shutil.rmtree(trash)
    else:
        staging.rename(out)


def write_processed(
    spec: DatasetSpec,
    cases: list[Case],
    split: Split,
    out: Path,
    source: dict[str, object],
    overwrite: bool = False,
    workers: int | None = None,
    units: dict[str, dict[str, str]] | None = None,
) -> Path:
    """Write ``cases`` in the processed format to ``out`` (all or nothing); returns ``out``.

    ``units`` (``groups``, ``official_subsets``: case id -> value) lets ``dca data splits`` recompute the
    split of another protocol from the prepared folder alone.
    """
    out = Path(out)
    with run_lock(lock_file(out), LOG, f"{out} is being prepared"):
        return _write_locked(spec, cases, split, out, source, overwrite, workers, units)


def _write_locked(
    spec: DatasetSpec,
    cases: list[Case],
    split: Split,
    out: Path,
    source: dict[str, object],
    overwrite: bool,
    workers: int | None,
    units: dict[str, dict[str, str]] | None,
) -> Path:
    """:func:`write_processed` once ``out`` is locked (its stale temporary folders are then truly stale)."""
    check_target(out, overwrite)
    for case in cases:
        check_utf8(case)
    subset_of = split.subset_of()
    pool = ThreadPoolExecutor(max_workers=workers or min(8, 2 * (os.cpu_count() or 1)))
    staging = staging_dir(out.parent, out.name)
    try:
        try:
            jobs = pool.map(lambda c: _write_case(c, spec, subset_of[c.id], staging), cases)
            written = list(track(jobs, len(cases), f"prepare {spec.name}", "images" if spec.dims == 2 else "volumes"))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        rows = [row for row, _ in written]
        empties = empty_masks(rows, [e for _, e in written])
        description = {
            "name": spec.name,
            "title": spec.title,
            "modality": spec.modality,
            "dims": spec.dims,
            "channels": spec.channels,
            "labels": list(spec.labels),
            "num_classes": spec.num_classes,
            "split": split.to_dict(),
            "empty_masks": {s: len(ids) for s, ids in empties.items()},
            **(units or {}),
            "source": source,
        }
        write_json(ProcessedDir(staging).info, description)
        write_text(ProcessedDir(staging).index, _index_text(rows))
        _publish(staging, out)
        _warn_empty(spec.name, rows, empties)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
