"""Fuzzy enhancement against a direct, pixel-by-pixel transcription of Patrascu's method written here.

The transcription below shares no code with ``dca.enhance.fuzzy``: it uses the model's operations literally
(Eq. 1.1-1.3: addition, subtraction, scalar multiplication by powers), computes each window's fuzzy mean as the
model sum (+)_p (w_p / sum w) (x) f_p, and accumulates Eq. (12) with (+), one pixel at a time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dca.enhance.fuzzy import (
    SIGMA_UNIFORM,
    FuzzyParams,
    fuzzy_enhance,
    fuzzy_enhance_reference,
    lip_add,
    lip_scale,
    lip_sub,
    memberships,
)


def _add(a: float, b: float) -> float:
    """Model addition, Eq. (1.1)."""
    return (a + b) / (1 + a * b)


def _sub(a: float, b: float) -> float:
    """Model subtraction, Eq. (1.2)."""
    return (a - b) / (1 - a * b)


def _scale(lam: float, v: float) -> float:
    """Model scalar multiplication, Eq. (1.3), literally."""
    return ((1 + v) ** lam - (1 - v) ** lam) / ((1 + v) ** lam + (1 - v) ** lam)


def _phi(v: float) -> float:
    """The isomorphism E -> R."""
    return 0.5 * math.log((1 + v) / (1 - v))


def _membership(t: float, i: int, windows: int, shape: str) -> float:
    """Membership of position t in [0, 1] to window i of ``windows`` along one axis."""
    m = windows - 1
    if shape == "bernstein":
        return math.comb(m, i) * t**i * (1 - t) ** (m - i)
    return max(0.0, 1 - abs(m * t - i))


def loop_reference(image: np.ndarray, p: FuzzyParams) -> np.ndarray:
    """Patrascu's fuzzy enhancement, window by window and pixel by pixel, in plain Python floats."""
    x = image / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)
    x = x[..., None] if x.ndim == 2 else x
    height, width, channels = x.shape
    c = 1 - 1 / p.levels
    v = [[[c * (2 * float(x[r, q, ch]) - 1) for ch in range(channels)] for q in range(width)] for r in range(height)]
    out = [[[0.0] * channels for _ in range(width)] for _ in range(height)]
    for i in range(p.windows):
        for j in range(p.windows):
            w = [
                [
                    _membership(r / (height - 1), i, p.windows, p.membership)
                    * _membership(q / (width - 1), j, p.windows, p.membership)
                    for q in range(width)
                ]
                for r in range(height)
            ]
            total = sum(map(sum, w))
            mu, var = [], []
            for ch in range(channels):
                acc = 0.0
                for r in range(height):
                    for q in range(width):
                        acc = _add(acc, _scale(w[r][q] / total, v[r][q][ch]))
                mu.append(acc)
                var.append(
                    sum(w[r][q] * _phi(_sub(v[r][q][ch], acc)) ** 2 for r in range(height) for q in range(width))
                    / total
                )
            if p.color == "joint":
                var = [sum(var) / channels] * channels
            lam = [p.sigma_u / math.sqrt(s + p.eps**2) for s in var]
            for r in range(height):
                for q in range(width):
                    for ch in range(channels):
                        psi = _scale(lam[ch], _sub(v[r][q][ch], mu[ch]))
                        out[r][q][ch] = _add(out[r][q][ch], _scale(w[r][q], psi))
    result = np.clip((np.array(out) / c + 1) / 2, 0, 1)
    return result[..., 0] if image.ndim == 2 else result


def low_contrast(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Soft blobs and mild noise squeezed into gray levels 100..140 (uint8)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]] / max(shape[:2])
    base = sum(np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 0.02) for cy, cx in rng.uniform(0.1, 0.9, (3, 2)))
    planes = [base + 0.1 * ch + rng.normal(0, 0.05, base.shape) for ch in range(shape[2] if len(shape) == 3 else 1)]
    img = np.stack(planes, -1) if len(shape) == 3 else planes[0]
    img = (img - img.min()) / (img.max() - img.min())
    return (100 + 40 * img).astype(np.uint8)


@pytest.mark.parametrize(
    ("shape", "params"),
    [
        ((9, 11), FuzzyParams(windows=3)),
        ((9, 11), FuzzyParams(windows=4, membership="triangular", eps=0.05)),
        ((8, 7, 3), FuzzyParams(windows=3)),
        ((8, 7, 3), FuzzyParams(windows=2, membership="triangular", color="per_channel", sigma_u=0.5)),
    ],
)
def test_matches_pixel_loop_transcription(shape: tuple[int, ...], params: FuzzyParams) -> None:
    image = low_contrast(shape, seed=3)
    expected = loop_reference(image, params)
    np.testing.assert_allclose(fuzzy_enhance(image, params), expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(fuzzy_enhance_reference(image, params), expected, rtol=0, atol=1e-5)


def test_float_input_matches_pixel_loop_transcription() -> None:
    image = low_contrast((10, 9), seed=4) / 255.0 + 0.001
    params = FuzzyParams(windows=3)
    np.testing.assert_allclose(fuzzy_enhance(image, params), loop_reference(image, params), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "params", [FuzzyParams(), FuzzyParams(windows=6, membership="triangular", color="per_channel")]
)
def test_fast_path_matches_the_direct_reference(params: FuzzyParams) -> None:
    image = low_contrast((48, 40, 3), seed=5)
    np.testing.assert_allclose(fuzzy_enhance(image, params), fuzzy_enhance_reference(image, params), atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (2, 2), (2, 3, 3), (3, 2)])
@pytest.mark.parametrize("membership", ["bernstein", "triangular"])
def test_tiny_images_with_empty_windows_stay_finite(shape: tuple[int, ...], membership: str) -> None:
    image = np.random.default_rng(6).integers(90, 160, shape).astype(np.uint8)
    params = FuzzyParams(windows=5, membership=membership)
    out = fuzzy_enhance(image, params)
    assert out.shape == shape and np.isfinite(out).all()
    np.testing.assert_allclose(out, fuzzy_enhance_reference(image, params), atol=1e-5)


@pytest.mark.parametrize("shape", [(64, 64), (64, 64, 3)])
def test_low_contrast_image_gains_contrast(shape: tuple[int, ...]) -> None:
    image = low_contrast(shape)
    out = fuzzy_enhance(image)
    assert out.std() > 3 * (image / 255.0).std()


@pytest.mark.parametrize("value", [0, 37, 128, 255])
@pytest.mark.parametrize("shape", [(16, 20), (16, 20, 3)])
def test_uniform_image_stays_uniform(value: int, shape: tuple[int, ...]) -> None:
    for image in (np.full(shape, value, np.uint8), np.full(shape, value / 255.0)):
        out = fuzzy_enhance(image)
        assert np.isfinite(out).all()
        assert np.ptp(out) < 1e-6


def test_one_window_normalises_the_whole_image_to_the_uniform_moments() -> None:
    # K = 1 is a single window with membership 1: Eq. (11) maps the image's phi-mean to 0 and phi-std to sigma_u.
    image = low_contrast((40, 50)) / 255.0
    out = fuzzy_enhance(image, FuzzyParams(windows=1, eps=1e-6)).astype(np.float64)
    phi = np.arctanh((1 - 1 / 256) * (2 * out - 1))
    assert abs(phi.mean()) < 1e-4
    assert phi.std() == pytest.approx(SIGMA_UNIFORM, rel=1e-4)


def test_gray_image_stored_as_rgb_gives_the_gray_result() -> None:
    gray = low_contrast((30, 30))
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    out = fuzzy_enhance(rgb)
    for ch in range(3):
        np.testing.assert_allclose(out[..., ch], fuzzy_enhance(gray), atol=1e-6)


@pytest.mark.parametrize("shape", ["bernstein", "triangular"])
@pytest.mark.parametrize("windows", [1, 2, 5])
def test_memberships_are_a_partition_of_unity(shape: str, windows: int) -> None:
    m = memberships(37, windows, shape)
    assert m.shape == (37, windows)
    assert (m >= 0).all()
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)


def test_model_operations_are_linear_through_phi() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-0.99, 0.99, (2, 100))
    lam = rng.uniform(0, 5, 100)
    np.testing.assert_allclose(np.arctanh(lip_add(a, b)), np.arctanh(a) + np.arctanh(b), atol=1e-9)
    np.testing.assert_allclose(np.arctanh(lip_sub(a, b)), np.arctanh(a) - np.arctanh(b), atol=1e-9)
    np.testing.assert_allclose(np.arctanh(lip_scale(lam, a)), lam * np.arctanh(a), atol=1e-9)
    np.testing.assert_allclose(lip_scale(lam, a), [_scale(s, t) for s, t in zip(lam, a, strict=True)], atol=1e-12)
