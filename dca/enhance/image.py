"""Input checks shared by every enhancement method: accepted shapes and dtypes, and conversion to [0, 1]."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike


def check_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as an array after checking it is (H, W) or (H, W, C), uint8 or floating point."""
    array = np.asarray(image)
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise ValueError(f"expected a non-empty (H, W) or (H, W, C) image, got shape {array.shape}")
    if array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"expected a uint8 or floating-point image, got dtype {array.dtype}")
    return array


def to_unit_float(image: np.ndarray, dtype: DTypeLike = np.float64) -> np.ndarray:
    """Map an image to ``dtype`` in [0, 1]: uint8 is divided by 255, floats are clipped to [0, 1] (NaN -> 0)."""
    array = check_image(image)
    if array.dtype == np.uint8:
        return array.astype(dtype) / 255.0
    return np.clip(np.nan_to_num(array.astype(dtype), nan=0.0), 0.0, 1.0)


def channels_first(image: np.ndarray) -> np.ndarray:
    """View an (H, W) or (H, W, C) image as (C, H, W), so methods can treat every image as a channel stack."""
    return image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0)


def channels_last(stack: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Undo :func:`channels_first`: return a (C, H, W) stack in the layout of ``like`` as float32."""
    out = stack[0] if like.ndim == 2 else np.moveaxis(stack, 0, -1)
    return np.ascontiguousarray(out, dtype=np.float32)
