"""One resampling of 2D slices for training and test, as MERIT and TransUNet: scipy's spline zoom on floats.

Images are zoomed with cubic splines (order 3) in floating point, labels nearest (order 0), so a training slice
and the same slice of a test volume fed to the model are the same array.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import zoom


def zoom_slice(plane: np.ndarray, shape: tuple[int, int], *, label: bool) -> np.ndarray:
    """``plane`` (H, W) zoomed to ``shape``: order 0 for labels (dtype kept), order 3 for images (float32 unless
    already float64); returned as it is (images as float) when it has that shape already."""
    if not label and plane.dtype not in (np.float32, np.float64):
        plane = plane.astype(np.float32)
    if plane.shape == tuple(shape):
        return plane
    factors = (shape[0] / plane.shape[0], shape[1] / plane.shape[1])
    return zoom(plane, factors, order=0 if label else 3)
