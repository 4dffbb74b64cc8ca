"""Histogram equalisation (HE) and CLAHE, the comparison enhancements of DIN Table 4, from scikit-image.

Colour images are equalised per channel (each channel gets its own histogram), the same rule for both methods;
scikit-image alone would equalise one joint histogram (HE) or the HSV value channel (CLAHE).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage import exposure

from dca.enhance.image import channels_first, channels_last, to_unit_float


@dataclass(frozen=True)
class HEParams:
    """Global histogram equalisation: ``skimage.exposure.equalize_hist`` with ``nbins`` bins per channel."""

    nbins: int = 256

    def __post_init__(self) -> None:
        """Reject a non-positive bin count."""
        if not isinstance(self.nbins, int) or self.nbins < 2:
            raise ValueError(f"he: nbins must be an integer >= 2, got {self.nbins!r}")


@dataclass(frozen=True)
class CLAHEParams:
    """CLAHE: ``skimage.exposure.equalize_adapthist`` per channel.

    ``clip_limit`` is scikit-image's normalised clip limit (its default 0.01); ``kernel_size`` is the contextual
    region in pixels, ``None`` meaning scikit-image's default of 1/8 of the image height by 1/8 of its width.
    """

    clip_limit: float = 0.01
    kernel_size: int | None = None
    nbins: int = 256

    def __post_init__(self) -> None:
        """Reject values scikit-image would refuse or misread."""
        if not 0 < self.clip_limit <= 1:
            raise ValueError(f"clahe: clip_limit must be in (0, 1], got {self.clip_limit!r}")
        if self.kernel_size is not None and (not isinstance(self.kernel_size, int) or self.kernel_size < 2):
            raise ValueError(f"clahe: kernel_size must be None or an integer >= 2, got {self.kernel_size!r}")
        if not isinstance(self.nbins, int) or self.nbins < 2:
            raise ValueError(f"clahe: nbins must be an integer >= 2, got {self.nbins!r}")


def equalize(image: np.ndarray, params: HEParams | None = None) -> np.ndarray:
    """Histogram-equalise each channel; returns float32 in [0, 1] with the input's shape."""
    p = params or HEParams()
    stack = channels_first(to_unit_float(image))
    out = np.stack([exposure.equalize_hist(plane, nbins=p.nbins) for plane in stack])
    return channels_last(out, np.asarray(image))


def clahe(image: np.ndarray, params: CLAHEParams | None = None) -> np.ndarray:
    """CLAHE on each channel; returns float32 in [0, 1] with the input's shape."""
    p = params or CLAHEParams()
    stack = channels_first(to_unit_float(image))
    out = np.stack(
        [
            exposure.equalize_adapthist(plane, kernel_size=p.kernel_size, clip_limit=p.clip_limit, nbins=p.nbins)
            for plane in stack
        ]
    )
    return channels_last(np.clip(out, 0.0, 1.0), np.asarray(image))
