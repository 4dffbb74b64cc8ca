"""Evaluation protocols as pure functions: per-case metrics, aggregation, slice-wise 3D inference.

Two per-case conventions (``convention``):

* ``"standard"``: the rules of :mod:`dca.metrics` (both empty: Dice = IoU = 1, HD95 = 0;
  exactly one empty: Dice = IoU = 0, HD95 = NaN, skipped by the means and counted).
* ``"transunet"``: TransUNet's ``calculate_metric_percase`` verbatim, used for the Synapse and
  ACDC tables: both non-empty: medpy Dice and HD95; prediction non-empty but reference empty:
  (Dice 1, HD95 0); prediction empty: (0, 0), *also when the reference is empty too*. IoU,
  which TransUNet does not report, follows the same branches (1 / 0). TransUNet calls medpy's
  ``hd95`` without spacing, so its HD95 is in voxels: pass ``spacing=None`` to reproduce its
  numbers, the physical spacing to get millimetres.

HD95 with exactly one mask empty (``hd95_empty``): ``skip`` (NaN: left out of the means and counted in
``hd95_undefined``) or ``diagonal``, the challenge convention: the case scores the largest distance its
image allows, the diagonal of the array in the spacing's unit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from dca import metrics
from dca.metrics import Spacing
from dca.utils.resample import zoom_slice

Convention = Literal["standard", "transunet"]
CONVENTIONS: tuple[str, ...] = ("standard", "transunet")
METRICS: tuple[str, ...] = ("dice", "iou", "hd95")
HD95_EMPTY: tuple[str, ...] = ("skip", "diagonal")
#: Layouts whose source gives no voxel spacing: their HD95 is in voxels (the TransUNet npz release).
NO_SPACING_LAYOUTS = frozenset({"synapse_npz"})


def hd95_unit(info: dict[str, Any], resolution: str) -> str:
    """The unit of a processed dataset's HD95 (``info``: its description): pixels (2D), mm or voxels (3D)."""
    if int(info["dims"]) == 2:
        return f"pixels at the {resolution} resolution"
    source = info.get("source")
    layout = source.get("layout") if isinstance(source, dict) else None
    return "voxels" if layout in NO_SPACING_LAYOUTS else "mm"


def diagonal(shape: Sequence[int], spacing: Spacing) -> float:
    """The length of an array's diagonal in the unit of ``spacing`` (voxels when None)."""
    scale = np.broadcast_to(np.asarray(1.0 if spacing is None else spacing, dtype=np.float64), (len(shape),))
    return float(np.sqrt(np.sum((np.asarray(shape) * scale) ** 2)))


def _standard_case(pred: np.ndarray, ref: np.ndarray, spacing: Spacing) -> dict[str, float]:
    """Dice, IoU and HD95 with the empty-mask rules of :mod:`dca.metrics`."""
    return {"dice": metrics.dice(pred, ref), "iou": metrics.iou(pred, ref), "hd95": metrics.hd95(pred, ref, spacing)}


def case_metrics(
    pred_labels: np.ndarray,
    ref_labels: np.ndarray,
    labels: Sequence[str],
    spacing: Spacing = None,
    convention: Convention = "standard",
    include_background: bool = False,
    hd95_empty: str = "skip",
) -> list[dict[str, Any]]:
    """One row per class of one case (2D image or 3D volume of integer labels): Dice, IoU, HD95, counts.

    ``labels[v]`` names label value ``v``; ``labels[0]`` is the background, skipped unless
    ``include_background`` (then its row has Dice, IoU and counts, HD95 NaN: it feeds only
    ``dice_with_background``). The counts (``intersection``, ``pred_size``, ``ref_size``) let
    :func:`aggregate` pool over cases. ``hd95_empty`` (module docstring) says what an undefined HD95 scores.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; expected one of {CONVENTIONS}")
    if hd95_empty not in HD95_EMPTY:
        raise ValueError(f"unknown hd95_empty {hd95_empty!r}; expected one of {HD95_EMPTY}")
    pred_labels, ref_labels = np.asarray(pred_labels), np.asarray(ref_labels)
    if pred_labels.shape != ref_labels.shape:
        raise ValueError(f"prediction and reference shapes differ: {pred_labels.shape} vs {ref_labels.shape}")
    rows = []
    for value, name in enumerate(labels):
        if value == 0 and not include_background:
            continue
        pred, ref = pred_labels == value, ref_labels == value
        if value == 0:
            scores = {"dice": metrics.dice(pred, ref), "iou": metrics.iou(pred, ref), "hd95": float("nan")}
        elif convention == "transunet":
            scores = metrics.transunet_case(pred, ref, spacing)
        else:
            scores = _standard_case(pred, ref, spacing)
        if value != 0 and hd95_empty == "diagonal" and np.isnan(scores["hd95"]):
            scores["hd95"] = diagonal(pred.shape, spacing)
        rows.append(
            {
                "class": name,
                "label": value,
                **scores,
                "intersection": int(np.count_nonzero(pred & ref)),
                "pred_size": int(np.count_nonzero(pred)),
                "ref_size": int(np.count_nonzero(ref)),
            }
        )
    return rows


def _pooled(frame: pd.DataFrame) -> tuple[float, float]:
    """Dice and IoU of the sums of intersections and sizes over the rows (1.0 when all empty)."""
    inter = float(frame["intersection"].sum())
    sizes = float(frame["pred_size"].sum() + frame["ref_size"].sum())
    if sizes == 0:
        return 1.0, 1.0
    return 2.0 * inter / sizes, inter / (sizes - inter)


def aggregate(per_case: pd.DataFrame) -> dict[str, Any]:
    """Summary of rows of :func:`case_metrics` with a ``case`` column: per-class and over-class means.

    Per class: mean and std (ddof=0) over cases of Dice, IoU, HD95 (NaN HD95 skipped and counted
    in ``hd95_undefined``), and the pooled Dice/IoU (sums of intersections and sizes over all
    cases). Over classes (background excluded): ``dice``/``iou``/``hd95`` are the means of the
    per-class means (TransUNet's ``mean_dice``, ``mean_hd95``), the ``*_std`` the std over cases
    of each case's class mean, ``dice_pooled``/``iou_pooled`` the means of the per-class pooled
    values (for binary 2D datasets: the official DCA code's Dice over the test set, which pools
    per test batch with +1 smoothing and so equals this when one batch holds the whole set).
    ``dice_with_background`` (only with background rows) is the mean of the pooled Dice over
    all classes *including background*, the convention of the official DCA multi-class code.
    """
    missing = {"case", "class", "label", *METRICS, "intersection", "pred_size", "ref_size"} - set(per_case.columns)
    if missing:
        raise ValueError(f"per-case table lacks columns {sorted(missing)}")
    foreground = per_case[per_case["label"] != 0]
    if foreground.empty:
        raise ValueError("per-case table has no foreground rows")
    per_class: dict[str, dict[str, float]] = {}
    for name, rows in foreground.groupby("class", sort=False):
        stats: dict[str, float] = {}
        for metric in METRICS:
            stats[metric] = float(rows[metric].mean())
            stats[f"{metric}_std"] = float(rows[metric].std(ddof=0))
        stats["hd95_undefined"] = int(rows["hd95"].isna().sum())
        stats["dice_pooled"], stats["iou_pooled"] = _pooled(rows)
        per_class[str(name)] = stats
    case_means = foreground.groupby("case", sort=False)[list(METRICS)].mean()
    summary: dict[str, Any] = {"n_cases": int(foreground["case"].nunique()), "n_classes": len(per_class)}
    for metric in METRICS:
        summary[metric] = float(np.nanmean([stats[metric] for stats in per_class.values()]))
        summary[f"{metric}_std"] = float(case_means[metric].std(ddof=0))
    summary["hd95_undefined"] = int(foreground["hd95"].isna().sum())
    for metric in ("dice_pooled", "iou_pooled"):
        summary[metric] = float(np.mean([stats[metric] for stats in per_class.values()]))
    background = per_case[per_case["label"] == 0]
    if not background.empty:
        pooled = [_pooled(background)[0]] + [stats["dice_pooled"] for stats in per_class.values()]
        summary["dice_with_background"] = float(np.mean(pooled))
    summary["per_class"] = per_class
    return summary


def predict_volume(
    predict_slices: Callable[[np.ndarray], np.ndarray], volume: np.ndarray, size: int, batch: int = 1
) -> np.ndarray:
    """Label volume predicted slice by slice as TransUNet's ``test_single_volume`` does.

    Each (H, W) slice of the (D, H, W) ``volume`` is zoomed to ``size`` x ``size`` with cubic
    splines (:func:`dca.utils.resample.zoom_slice`, the training loader's resampling too; skipped when already
    that size), ``predict_slices``
    maps a float32 (n, size, size) batch to integer labels (n, size, size), and each label slice
    is zoomed back to (H, W) with order 0 (nearest). Batching does not change the result for a
    model in eval mode; TransUNet uses batches of one.
    """
    if volume.ndim != 3:
        raise ValueError(f"expected a (D, H, W) volume, got shape {volume.shape}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    depth, height, width = volume.shape
    resize = (height, width) != (size, size)
    prediction: np.ndarray | None = None
    for start in range(0, depth, batch):
        slices = volume[start : start + batch]
        if resize:
            slices = np.stack([zoom_slice(s, (size, size), label=False) for s in slices])
        out = np.asarray(predict_slices(slices.astype(np.float32)))
        if out.shape != (len(slices), size, size):
            raise ValueError(f"predict_slices returned shape {out.shape}, expected {(len(slices), size, size)}")
        if prediction is None:
            prediction = np.empty(volume.shape, dtype=out.dtype)
        for offset, labels in enumerate(out):
            if resize:
                labels = zoom_slice(labels, (height, width), label=True)
            prediction[start + offset] = labels
    if prediction is None:
        raise ValueError("volume has no slices")
    return prediction
