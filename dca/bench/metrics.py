"""HD95 cost: seconds per call of :func:`dca.metrics.hd95` against ``medpy.metric.binary.hd95``, same run.

The masks are synthetic, organ-like 3D pairs: a lobed ellipsoid reference and a shifted, shrunk
prediction with one false-positive island, on volumes of Synapse and ACDC size and spacing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from dca import metrics


class Hd95Case(NamedTuple):
    """One benchmark volume: (D, H, W) shape, spacing in mm (z, y, x) and organ semi-axes in mm."""

    name: str
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    radii_mm: tuple[float, float, float]


DEFAULT_CASES: tuple[Hd95Case, ...] = (
    Hd95Case("synapse-512", (148, 512, 512), (3.0, 0.76, 0.76), (60.0, 70.0, 55.0)),
    Hd95Case("synapse-256", (96, 256, 256), (3.0, 1.5, 1.5), (60.0, 70.0, 55.0)),
    Hd95Case("acdc", (10, 256, 216), (10.0, 1.5, 1.5), (30.0, 35.0, 30.0)),
)


def _lobed_ellipsoid(shape: tuple[int, ...], centre: np.ndarray, radii: np.ndarray, lobes: float = 0.08) -> np.ndarray:
    """Boolean ellipsoid (semi-axes in voxels) whose radius is modulated by a smooth bumpy term."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    z, y, x = ((g.astype(np.float32) - c) / r for g, c, r in zip(grids, centre, radii, strict=True))
    bump = 1.0 + lobes * np.sin(3.0 * y + 1.0) * np.cos(2.0 * x) * np.cos(z)
    return z * z + y * y + x * x <= bump * bump


def organ_pair(case: Hd95Case, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Prediction and reference masks for ``case``: the prediction is shifted, 5 % smaller, plus an island."""
    rng = np.random.default_rng(seed)
    shape = np.array(case.shape)
    radii = np.array(case.radii_mm) / np.array(case.spacing)
    centre = shape / 2 + rng.uniform(-0.05, 0.05, 3) * shape
    ref = _lobed_ellipsoid(case.shape, centre, radii)
    shift = np.array([1.0, 3.0, -2.0])
    pred = _lobed_ellipsoid(case.shape, centre + shift, 0.95 * radii)
    island = np.minimum(centre + 1.4 * radii * np.array([0.3, 1.0, 0.5]), shape - 3)
    pred |= _lobed_ellipsoid(case.shape, island, np.maximum(radii / 12, 1.5), lobes=0.0)
    return pred, ref


def _seconds(fn: Callable[[], float], repeats: int) -> tuple[float, float]:
    """Best wall time over ``repeats`` calls of ``fn`` and its (last) value."""
    best, value = float("inf"), float("nan")
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def bench_hd95(cases: Sequence[Hd95Case] = DEFAULT_CASES, repeats: int = 1) -> list[dict[str, Any]]:
    """One row per case: seconds per HD95 call (best of ``repeats``) of ours and medpy's, speed-up, agreement."""
    from medpy.metric.binary import hd95 as medpy_hd95  # test-extra dependency, only needed here

    rows = []
    for case in cases:
        pred, ref = organ_pair(case)
        ours_s, ours = _seconds(lambda p=pred, r=ref, c=case: metrics.hd95(p, r, c.spacing), repeats)
        medpy_s, theirs = _seconds(lambda p=pred, r=ref, c=case: float(medpy_hd95(p, r, c.spacing)), repeats)
        rows.append(
            {
                "benchmark": "hd95",
                "case": case.name,
                "shape": "x".join(map(str, case.shape)),
                "spacing_mm": "x".join(map(str, case.spacing)),
                "pred_voxels": int(pred.sum()),
                "ref_voxels": int(ref.sum()),
                "hd95_mm": ours,
                "abs_diff_vs_medpy": abs(ours - theirs),
                "dca_s": ours_s,
                "medpy_s": medpy_s,
                "speedup": medpy_s / ours_s,
            }
        )
    return rows
