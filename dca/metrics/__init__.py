"""Overlap and surface metrics on boolean masks of any dimension (2D slices, 3D volumes).

Non-degenerate values equal ``medpy.metric.binary`` (``dc``, ``jc``, ``hd95``). Degenerate
(empty-mask) cases follow one explicit rule, "empty agrees with empty":

============================  ======  ======  ======
pred / ref                    dice    iou     hd95
============================  ======  ======  ======
both non-empty                medpy   medpy   medpy
both empty                    1.0     1.0     0.0
exactly one empty             0.0     0.0     NaN
============================  ======  ======  ======

Both empty is a correct prediction (nothing there, nothing predicted), so it scores as
perfect agreement. This is what medpy's own ``jc`` returns and what its ``dc`` intends (its
``ZeroDivisionError`` branch returns 1.0, but numpy division yields NaN instead), and it is the
value of the smoothed Dice (2|P∩R| + s) / (|P|+|R| + s) of the official DCA code. We do not use
nnU-Net's NaN: per-image means of the 2D datasets would then silently drop every correctly
empty image. With exactly one mask empty the Hausdorff distance is undefined (the distance to
an empty set is infinite), so ``hd95`` returns NaN, which means skip and counts report. The TransUNet convention for
the Synapse/ACDC tables (:func:`transunet_case`) replaces this rule for those tables' cases.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

#: Voxel size per axis (a scalar applies to all); None: unit spacing.
Spacing = float | Sequence[float] | None


def _masks(pred: ArrayLike, ref: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as boolean arrays (non-zero = object, as medpy does) of one shape."""
    p = np.atleast_1d(np.asarray(pred).astype(bool, copy=False))
    r = np.atleast_1d(np.asarray(ref).astype(bool, copy=False))
    if p.shape != r.shape:
        raise ValueError(f"pred and ref shapes differ: {p.shape} vs {r.shape}")
    return p, r


def dice(pred: ArrayLike, ref: ArrayLike) -> float:
    """Dice coefficient 2|P∩R| / (|P|+|R|); 1.0 when both masks are empty (see module docstring)."""
    p, r = _masks(pred, ref)
    total = np.count_nonzero(p) + np.count_nonzero(r)
    if total == 0:
        return 1.0
    return float(2.0 * np.count_nonzero(p & r) / total)


def iou(pred: ArrayLike, ref: ArrayLike) -> float:
    """Jaccard index |P∩R| / |P∪R|; 1.0 when both masks are empty (as medpy's ``jc``)."""
    p, r = _masks(pred, ref)
    union = np.count_nonzero(p | r)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(p & r) / union)


def _bounding_box(mask: np.ndarray) -> tuple[slice, ...]:
    """The smallest box of slices holding every True voxel of a non-empty mask."""
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other))
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


def _surface(mask: np.ndarray) -> np.ndarray:
    """One-voxel border: the mask minus its erosion with connectivity 1 (medpy's default)."""
    footprint = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=footprint, iterations=1)


def hd95(pred: ArrayLike, ref: ArrayLike, spacing: Spacing = None) -> float:
    """95th percentile of the symmetric surface distances, as ``medpy.metric.binary.hd95``.

    ``spacing`` is the physical voxel size per axis (a scalar applies to all); distances are in
    its unit. Returns 0.0 when both masks are empty and NaN when exactly one is (module docstring).
    """
    p, r = _masks(pred, ref)
    has_p, has_r = bool(p.any()), bool(r.any())
    if not has_p and not has_r:
        return 0.0
    if not (has_p and has_r):
        return float("nan")
    sampling = None
    if spacing is not None:
        sampling = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (p.ndim,)).copy()
    # Cropping to the bounding box of P∪R (no margin) is exact, so medpy's full-volume result
    # is reproduced at a fraction of the cost:
    # * erosion: binary_erosion treats voxels outside the array as background
    #   (border_value=0), and every voxel outside the box is background in both masks, so a
    #   voxel in the box sees the same neighbourhood in the crop as in the full volume;
    #   the surfaces are identical (translated).
    # * distances: the EDT of ~surface(R) at x is min over surface voxels z of R of
    #   ||(x - z) * spacing||. All surface voxels of R are in the box, so the crop holds the
    #   same candidate set z (the same translation applies to x and z) and the minimum is the
    #   same; it is only read at surface voxels of P, which are in the box too. Symmetrically
    #   for the EDT of ~surface(P).
    box = _bounding_box(p | r)
    p_surface, r_surface = _surface(p[box]), _surface(r[box])
    d_pr = ndimage.distance_transform_edt(~r_surface, sampling=sampling)[p_surface]
    d_rp = ndimage.distance_transform_edt(~p_surface, sampling=sampling)[r_surface]
    return float(np.percentile(np.hstack((d_pr, d_rp)), 95))


def transunet_case(pred: ArrayLike, ref: ArrayLike, spacing: Spacing = None, surface: bool = True) -> dict[str, float]:
    """Dice, IoU and HD95 of one class of one case by TransUNet's ``calculate_metric_percase`` (also MERIT's):
    both non-empty: the metrics; prediction only: 1/1/0; otherwise 0/0/0. ``surface=False`` skips HD95 (NaN)."""
    p, r = _masks(pred, ref)
    if p.any() and r.any():
        return {"dice": dice(p, r), "iou": iou(p, r), "hd95": hd95(p, r, spacing) if surface else float("nan")}
    if p.any():
        return {"dice": 1.0, "iou": 1.0, "hd95": 0.0}
    return {"dice": 0.0, "iou": 0.0, "hd95": 0.0}
