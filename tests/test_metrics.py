"""dca.metrics against medpy on random and edge-case masks, and the documented empty-mask rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from medpy.metric import binary as medpy
from scipy import ndimage

from dca import metrics
from dca.bench.metrics import Hd95Case, bench_hd95

TOL = 1e-6


def blob_pair(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two smooth random blob masks, each confined to a random sub-box (so cropping matters)."""
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(2):
        noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=1.5)
        lo = [int(rng.integers(0, n // 2)) for n in shape]
        hi = [int(rng.integers(lo_ + 2, n + 1)) for lo_, n in zip(lo, shape, strict=True)]
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        mask = np.zeros(shape, dtype=bool)
        mask[box] = noise[box] > 0.05
        mask.flat[rng.integers(mask.size)] = True  # never empty
        masks.append(mask)
    return masks[0], masks[1]


CASES = [((48, 40), None), ((64, 64), (0.5, 1.25)), ((20, 32, 28), None), ((16, 30, 24), (3.0, 0.7, 0.8))]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("shape", "spacing"), CASES)
def test_random_masks_match_medpy(shape: tuple[int, ...], spacing: tuple[float, ...] | None, seed: int) -> None:
    pred, ref = blob_pair(shape, seed)
    assert metrics.dice(pred, ref) == pytest.approx(medpy.dc(pred, ref), abs=TOL)
    assert metrics.iou(pred, ref) == pytest.approx(medpy.jc(pred, ref), abs=TOL)
    assert metrics.hd95(pred, ref, spacing) == pytest.approx(medpy.hd95(pred, ref, spacing), abs=TOL)
    assert metrics.hd95(ref, pred, spacing) == pytest.approx(medpy.hd95(ref, pred, spacing), abs=TOL)


@pytest.mark.parametrize("seed", range(3))
def test_speckle_masks_match_medpy(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    pred, ref = rng.random((12, 18, 15)) < 0.3, rng.random((12, 18, 15)) < 0.2
    assert metrics.dice(pred, ref) == pytest.approx(medpy.dc(pred, ref), abs=TOL)
    assert metrics.hd95(pred, ref, (2.0, 1.0, 0.5)) == pytest.approx(medpy.hd95(pred, ref, (2.0, 1.0, 0.5)), abs=TOL)


def _edge_cases() -> dict[str, tuple[np.ndarray, np.ndarray, float | tuple[float, ...] | None]]:
    """Named (pred, ref, spacing) triples for hand-picked geometries."""
    cases: dict[str, tuple[np.ndarray, np.ndarray, float | tuple[float, ...] | None]] = {}
    a, b = np.zeros((9, 11), bool), np.zeros((9, 11), bool)
    a[4, 5] = b[4, 5] = True
    cases["same single pixel"] = (a, b, None)
    a, b = np.zeros((9, 11), bool), np.zeros((9, 11), bool)
    a[0, 0], b[8, 10] = True, True
    cases["single pixels at opposite corners"] = (a, b, (2.0, 0.5))
    a, b = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    a[:, :4], b[:3, :] = True, True
    cases["touching the border"] = (a, b, None)
    cases["whole array vs half"] = (np.ones((8, 8), bool), np.tril(np.ones((8, 8), bool)), None)
    a, b = np.zeros((40, 40), bool), np.zeros((40, 40), bool)
    a[2:6, 2:6], b[30:38, 25:39] = True, True
    cases["non-overlapping"] = (a, b, 0.8)
    z, y, x = np.ogrid[:14, :40, :36]
    ball = ((z - 7) * 3.0) ** 2 + ((y - 20) * 0.7) ** 2 + ((x - 18) * 0.7) ** 2 <= 12.0**2
    shifted = np.roll(ball, (1, 4, -3), axis=(0, 1, 2))
    cases["3D anisotropic ellipsoids"] = (ball, shifted, (3.0, 0.7, 0.7))
    border = np.zeros((6, 20, 20), bool)
    border[:, :5, :] = True
    cases["3D slab touching three faces"] = (border, ball[4:10, 10:30, 8:28], (5.0, 1.0, 1.0))
    cases["1D"] = (np.array([0, 1, 1, 0, 0, 0, 1], bool), np.array([0, 0, 1, 1, 0, 0, 0], bool), None)
    return cases


@pytest.mark.parametrize("name", list(_edge_cases()))
def test_edge_cases_match_medpy(name: str) -> None:
    pred, ref, spacing = _edge_cases()[name]
    assert metrics.dice(pred, ref) == pytest.approx(medpy.dc(pred, ref), abs=TOL)
    assert metrics.iou(pred, ref) == pytest.approx(medpy.jc(pred, ref), abs=TOL)
    assert metrics.hd95(pred, ref, spacing) == pytest.approx(medpy.hd95(pred, ref, spacing), abs=TOL)


def test_hand_computed_values() -> None:
    a, b = np.zeros((5, 5), bool), np.zeros((5, 5), bool)
    a[1:3, 1:3], b[1:3, 1:4] = True, True  # 4 and 6 pixels, 4 shared
    assert metrics.dice(a, b) == pytest.approx(0.8)
    assert metrics.iou(a, b) == pytest.approx(4 / 6)
    p, q = np.zeros((1, 20), bool), np.zeros((1, 20), bool)
    p[0, 2], q[0, 9] = True, True
    assert metrics.hd95(p, q) == pytest.approx(7.0)
    assert metrics.hd95(p, q, spacing=(1.0, 0.5)) == pytest.approx(3.5)


def test_empty_mask_rules() -> None:
    empty, full = np.zeros((6, 7, 5), bool), np.zeros((6, 7, 5), bool)
    full[2:4, 2:5, 1:3] = True
    assert metrics.dice(empty, empty) == 1.0
    assert metrics.iou(empty, empty) == 1.0
    assert metrics.hd95(empty, empty) == 0.0
    for pred, ref in ((empty, full), (full, empty)):
        assert metrics.dice(pred, ref) == 0.0
        assert metrics.iou(pred, ref) == 0.0
        assert math.isnan(metrics.hd95(pred, ref, spacing=(2.0, 1.0, 1.0)))


def test_returns_python_floats_and_accepts_label_arrays() -> None:
    pred, ref = blob_pair((20, 20), seed=7)
    values = [metrics.dice(pred, ref), metrics.iou(pred, ref), metrics.hd95(pred, ref)]
    assert all(type(v) is float for v in values)
    assert metrics.dice(pred.astype(np.uint8) * 3, ref.astype(np.int64)) == values[0]
    assert metrics.hd95(pred.astype(np.float32), ref.astype(np.uint8), spacing=1.0) == values[2]


def test_shape_mismatch_and_bad_spacing_raise() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.dice(np.zeros((3, 4), bool), np.zeros((4, 3), bool))
    with pytest.raises(ValueError):
        metrics.hd95(np.ones((3, 4), bool), np.ones((3, 4), bool), spacing=(1.0, 2.0, 3.0))


def test_bench_hd95_agrees_with_medpy_on_a_small_volume() -> None:
    rows = bench_hd95([Hd95Case("tiny", (8, 48, 40), (4.0, 1.5, 1.5), (12.0, 20.0, 15.0))])
    assert len(rows) == 1
    row = rows[0]
    assert row["abs_diff_vs_medpy"] <= TOL
    assert row["dca_s"] > 0 and row["medpy_s"] > 0 and row["speedup"] == pytest.approx(row["medpy_s"] / row["dca_s"])
