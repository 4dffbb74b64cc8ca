"""3D helpers shared by the volume converters: NIfTI reading and intensity normalisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dca.data.convert.common import Sample, encode_mask, reading
from dca.data.registry import DatasetSpec, Intensity


def read_nifti(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """A NIfTI volume as (D, H, W) = data axes (z, y, x), and its voxel spacing (z, y, x) from the header."""
    import nibabel as nib

    with reading(path, "NIfTI volume"):
        img = nib.load(path)
        data = np.asarray(img.dataobj)
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    if data.ndim != 3:
        raise ValueError(f"{path}: expected a 3D volume, got shape {data.shape}; pass the per-frame files")
    return data.transpose(2, 1, 0), (zooms[2], zooms[1], zooms[0])


def normalise(volume: np.ndarray, intensity: Intensity, source: str) -> np.ndarray:
    """Scale a raw volume to float32 [0, 1]: clip window, per-volume min-max, or check it already is."""
    data = volume.astype(np.float32)
    if not np.isfinite(data).all():
        raise ValueError(f"{source}: the volume holds NaN or infinite values; the file is corrupt")
    if intensity.kind == "clip":
        return (np.clip(data, intensity.low, intensity.high) - intensity.low) / np.float32(
            intensity.high - intensity.low
        )
    if intensity.kind == "minmax":
        low, high = float(data.min()), float(data.max())
        return (data - low) / np.float32(high - low) if high > low else np.zeros_like(data)
    if data.min() < -1e-3 or data.max() > 1 + 1e-3:
        raise ValueError(
            f"{source}: intensities span [{data.min():g}, {data.max():g}] but this release should be scaled to [0, 1]"
        )
    return np.clip(data, 0, 1)


def load_nifti_pair(image: Path, label: Path, spec: DatasetSpec) -> Sample:
    """Read an image/label NIfTI pair: normalised volume, encoded labels, header spacing."""
    volume, spacing = read_nifti(image)
    labels, _ = read_nifti(label)
    return Sample(
        normalise(volume, spec.intensity, str(image)), encode_mask(labels, spec.mask, spec.labels, str(label)), spacing
    )
