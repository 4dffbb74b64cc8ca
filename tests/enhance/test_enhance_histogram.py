"""HE and CLAHE: scikit-image per channel, monotonic HE, sane output on flat and low-contrast images."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import exposure

from dca.enhance import enhance


def _low_contrast(shape: tuple[int, ...]) -> np.ndarray:
    """Smooth ramps plus noise in gray levels 90..150."""
    rng = np.random.default_rng(2)
    ramp = np.add.outer(np.linspace(0, 1, shape[0]), np.linspace(0, 0.5, shape[1]))
    if len(shape) == 3:
        ramp = np.stack([ramp + 0.2 * c for c in range(shape[2])], -1)
    img = ramp + rng.normal(0, 0.05, ramp.shape)
    return (90 + 60 * (img - img.min()) / (img.max() - img.min())).astype(np.uint8)


def test_he_is_a_monotonic_mapping_on_gray() -> None:
    image = _low_contrast((64, 48))
    out = enhance(image, "he")
    order = np.argsort(image, axis=None, kind="stable")
    assert (np.diff(out.ravel()[order]) >= 0).all()
    # equal inputs map to equal outputs
    for level in np.unique(image)[:5]:
        assert np.ptp(out[image == level]) == 0


def test_he_equalises_each_channel_with_scikit_image() -> None:
    image = _low_contrast((40, 40, 3))
    out = enhance(image, "he")
    for c in range(3):
        np.testing.assert_allclose(out[..., c], exposure.equalize_hist(image[..., c] / 255.0), atol=1e-6)


def test_clahe_follows_scikit_image_with_its_parameters() -> None:
    image = _low_contrast((64, 64))
    out = enhance(image, "clahe", clip_limit=0.03, kernel_size=16)
    expected = exposure.equalize_adapthist(image / 255.0, kernel_size=16, clip_limit=0.03)
    np.testing.assert_allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("method", ["he", "clahe"])
def test_low_contrast_image_gains_contrast(method: str) -> None:
    image = _low_contrast((64, 64, 3))
    assert enhance(image, method).std() > 2 * (image / 255.0).std()


@pytest.mark.parametrize("method", ["he", "clahe"])
def test_flat_image_stays_flat_and_finite(method: str) -> None:
    out = enhance(np.full((32, 32, 3), 77, np.uint8), method)
    assert np.isfinite(out).all()
    assert np.ptp(out) == 0
