"""dca.evaluate.protocol: per-case metrics, both conventions, aggregation and slice-wise inference."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from medpy import metric
from scipy.ndimage import zoom

from dca.evaluate import aggregate, case_metrics, predict_volume

LABELS = ["background", "a", "b"]


def small_case() -> tuple[np.ndarray, np.ndarray]:
    """5x5 prediction/reference: class a 2x2 inside 2x3, class b one pixel each, 4 apart."""
    pred, ref = np.zeros((5, 5), np.uint8), np.zeros((5, 5), np.uint8)
    pred[1:3, 1:3], ref[1:3, 1:4] = 1, 1
    pred[4, 0], ref[4, 4] = 2, 2
    return pred, ref


def test_case_metrics_hand_computed() -> None:
    pred, ref = small_case()
    rows = {row["class"]: row for row in case_metrics(pred, ref, LABELS)}
    assert set(rows) == {"a", "b"}
    a, b = rows["a"], rows["b"]
    assert (a["label"], a["intersection"], a["pred_size"], a["ref_size"]) == (1, 4, 4, 6)
    assert a["dice"] == pytest.approx(0.8) and a["iou"] == pytest.approx(4 / 6)
    assert a["hd95"] == pytest.approx(1.0)  # 8 zero distances and two of 1: the 95th percentile is 1
    assert (b["dice"], b["iou"], b["hd95"]) == (0.0, 0.0, pytest.approx(4.0))
    spaced = {row["class"]: row for row in case_metrics(pred, ref, LABELS, spacing=(1.0, 0.5))}
    assert spaced["b"]["hd95"] == pytest.approx(2.0)


def test_case_metrics_background_row() -> None:
    pred, ref = small_case()
    rows = case_metrics(pred, ref, LABELS, include_background=True)
    background = rows[0]
    assert (background["class"], background["label"]) == ("background", 0)
    assert background["intersection"] == 25 - 8  # 8 pixels are foreground in either map
    assert background["dice"] == pytest.approx(2 * 17 / (20 + 18))
    assert math.isnan(background["hd95"])


def test_standard_convention_empty_classes() -> None:
    pred, ref = np.zeros((2, 6, 6), np.uint8), np.zeros((2, 6, 6), np.uint8)
    ref[0, 1:3, 1:3] = 1  # a: missed; b: absent from both
    rows = {row["class"]: row for row in case_metrics(pred, ref, LABELS)}
    assert (rows["a"]["dice"], rows["a"]["iou"]) == (0.0, 0.0) and math.isnan(rows["a"]["hd95"])
    assert (rows["b"]["dice"], rows["b"]["iou"], rows["b"]["hd95"]) == (1.0, 1.0, 0.0)


def test_transunet_convention_branches() -> None:
    pred, ref = np.zeros((6, 6), np.uint8), np.zeros((6, 6), np.uint8)
    pred[0:2, 0:2] = 1  # a: predicted, absent from the reference -> (1, 0)
    ref[3:5, 3:5] = 2  # b: missed -> (0, 0)
    labels = [*LABELS, "c"]  # c: absent from both -> (0, 0), unlike the standard rule
    rows = {row["class"]: row for row in case_metrics(pred, ref, labels, convention="transunet")}
    assert (rows["a"]["dice"], rows["a"]["iou"], rows["a"]["hd95"]) == (1.0, 1.0, 0.0)
    assert (rows["b"]["dice"], rows["b"]["iou"], rows["b"]["hd95"]) == (0.0, 0.0, 0.0)
    assert (rows["c"]["dice"], rows["c"]["iou"], rows["c"]["hd95"]) == (0.0, 0.0, 0.0)


def transunet_metric_percase(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """TransUNet's ``utils.calculate_metric_percase``, reproduced for comparison."""
    pred, gt = pred.copy(), gt.copy()
    pred[pred > 0] = 1
    gt[gt > 0] = 1
    if pred.sum() > 0 and gt.sum() > 0:
        return metric.binary.dc(pred, gt), metric.binary.hd95(pred, gt)
    if pred.sum() > 0 and gt.sum() == 0:
        return 1, 0
    return 0, 0


def random_label_volumes(seed: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Blocky (6, 24, 24) label volumes where some classes are missing from the prediction or reference."""
    rng = np.random.default_rng(seed)
    ref = np.kron(rng.integers(0, classes, (3, 6, 6)), np.ones((2, 4, 4), dtype=np.int64))
    pred = np.where(rng.random(ref.shape) < 0.15, rng.integers(0, classes, ref.shape), ref)
    pred[pred == 1 + seed % (classes - 1)] = 0
    ref[ref == 1 + (seed + 1) % (classes - 1)] = 0
    return pred, ref


def test_transunet_convention_reproduces_transunet_test_loop() -> None:
    labels = ["background", "a", "b", "c"]
    per_case, metric_list = [], 0.0
    for seed in range(4):
        pred, ref = random_label_volumes(seed, len(labels))
        rows = case_metrics(pred, ref, labels, convention="transunet")
        per_case += [{"case": f"case{seed}", **row} for row in rows]
        metric_list += np.array([transunet_metric_percase(pred == i, ref == i) for i in range(1, len(labels))])
    metric_list = metric_list / 4
    summary = aggregate(pd.DataFrame(per_case))
    for i, name in enumerate(labels[1:]):
        assert summary["per_class"][name]["dice"] == pytest.approx(metric_list[i][0], abs=1e-12)
        assert summary["per_class"][name]["hd95"] == pytest.approx(metric_list[i][1], abs=1e-12)
    assert summary["dice"] == pytest.approx(np.mean(metric_list, axis=0)[0], abs=1e-12)
    assert summary["hd95"] == pytest.approx(np.mean(metric_list, axis=0)[1], abs=1e-12)


def test_case_metrics_3d_spacing_matches_medpy() -> None:
    rng = np.random.default_rng(5)
    ref = np.kron(rng.integers(0, 3, (3, 6, 6)), np.ones((2, 4, 4), dtype=np.int64))
    pred = np.where(rng.random(ref.shape) < 0.1, rng.integers(0, 3, ref.shape), ref)
    pred[0] = 0
    spacing = (3.0, 0.8, 0.8)
    for row in case_metrics(pred, ref, LABELS, spacing=spacing):
        p, r = pred == row["label"], ref == row["label"]
        assert row["dice"] == pytest.approx(metric.binary.dc(p, r), abs=1e-6)
        assert row["hd95"] == pytest.approx(metric.binary.hd95(p, r, spacing), abs=1e-6)


def test_case_metrics_rejects_bad_input() -> None:
    pred, ref = small_case()
    with pytest.raises(ValueError, match="convention"):
        case_metrics(pred, ref, LABELS, convention="nnunet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shapes differ"):
        case_metrics(pred, ref[:4], LABELS)


def tiny_table() -> pd.DataFrame:
    """Two cases, classes a and b plus background, with one undefined HD95."""
    columns = ["case", "class", "label", "dice", "iou", "hd95", "intersection", "pred_size", "ref_size"]
    rows = [
        ("c1", "background", 0, 1.0, 1.0, math.nan, 800, 800, 800),
        ("c1", "a", 1, 1.0, 1.0, 0.0, 100, 100, 100),
        ("c1", "b", 2, 0.5, 1 / 3, 2.0, 1, 2, 2),
        ("c2", "background", 0, 1680 / 1685, 880 / 890, math.nan, 880, 890, 880),
        ("c2", "a", 1, 0.0, 0.0, math.nan, 0, 0, 10),
        ("c2", "b", 2, 0.8, 2 / 3, 4.0, 4, 5, 5),
    ]
    return pd.DataFrame(rows, columns=columns)


def test_aggregate_tiny_table() -> None:
    summary = aggregate(tiny_table())
    assert (summary["n_cases"], summary["n_classes"]) == (2, 2)
    a, b = summary["per_class"]["a"], summary["per_class"]["b"]
    assert (a["dice"], a["dice_std"]) == (pytest.approx(0.5), pytest.approx(0.5))
    assert (a["hd95"], a["hd95_undefined"]) == (pytest.approx(0.0), 1)
    assert a["dice_pooled"] == pytest.approx(200 / 210) and a["iou_pooled"] == pytest.approx(100 / 110)
    assert (b["dice"], b["dice_std"]) == (pytest.approx(0.65), pytest.approx(0.15))
    assert (b["hd95"], b["hd95_std"]) == (pytest.approx(3.0), pytest.approx(1.0))
    assert b["dice_pooled"] == pytest.approx(10 / 14) and b["iou_pooled"] == pytest.approx(5 / 9)
    assert summary["dice"] == pytest.approx(0.575)
    assert summary["dice_std"] == pytest.approx(0.175)  # case means 0.75 and 0.4
    assert summary["hd95"] == pytest.approx(1.5)
    assert summary["hd95_std"] == pytest.approx(1.5)  # case means 1 and 4 (NaN skipped)
    assert summary["hd95_undefined"] == 1
    assert summary["dice_pooled"] == pytest.approx((200 / 210 + 10 / 14) / 2)
    assert summary["dice_with_background"] == pytest.approx((3360 / 3370 + 200 / 210 + 10 / 14) / 3)


def test_aggregate_without_background_rows_has_no_dice_with_background() -> None:
    table = tiny_table()
    summary = aggregate(table[table["label"] != 0])
    assert "dice_with_background" not in summary
    assert summary["dice"] == aggregate(table)["dice"]
    with pytest.raises(ValueError, match="lacks columns"):
        aggregate(table.drop(columns="intersection"))


def test_pooled_and_mean_dice_differ() -> None:
    """A perfect large mask and a missed small one: per-image mean 0.5, pooled close to 1."""
    big, small = np.zeros((40, 40), np.uint8), np.zeros((40, 40), np.uint8)
    big[5:35, 5:35] = 1
    small[10:13, 10:13] = 1
    labels = ["background", "lesion"]
    per_case = [{"case": "big", **row} for row in case_metrics(big, big, labels)]
    per_case += [{"case": "small", **row} for row in case_metrics(np.zeros_like(small), small, labels)]
    summary = aggregate(pd.DataFrame(per_case))
    assert summary["dice"] == pytest.approx(0.5)
    assert summary["dice_pooled"] == pytest.approx(2 * 900 / (900 + 909))
    assert summary["iou_pooled"] == pytest.approx(900 / 909)


def blocky_mask() -> np.ndarray:
    """(3, 40, 30) binary volume made of 10x10 blocks."""
    rng = np.random.default_rng(0)
    return np.kron(rng.integers(0, 2, (3, 4, 3)), np.ones((1, 10, 10), dtype=np.int64))


def threshold_predictor(calls: list[tuple[int, ...]]) -> Callable[[np.ndarray], np.ndarray]:
    """A model stand-in that thresholds its input at 0.5, recording each batch shape."""

    def predict(batch: np.ndarray) -> np.ndarray:
        calls.append(batch.shape)
        assert batch.dtype == np.float32
        return (batch > 0.5).astype(np.int64)

    return predict


def test_predict_volume_identity_at_native_size() -> None:
    calls: list[tuple[int, ...]] = []
    square = np.kron(np.random.default_rng(1).integers(0, 2, (3, 4, 4)), np.ones((1, 8, 8), dtype=np.int64))
    out = predict_volume(threshold_predictor(calls), square.astype(np.float32), size=32, batch=2)
    np.testing.assert_array_equal(out, square)
    assert calls == [(2, 32, 32), (1, 32, 32)]


def test_predict_volume_resized_round_trip_returns_reference() -> None:
    """Upsampled with cubic splines and back with nearest, a thresholded blocky mask comes back unchanged."""
    labels, calls = blocky_mask(), []
    out = predict_volume(threshold_predictor(calls), labels.astype(np.float32), size=64, batch=5)
    assert out.shape == labels.shape
    np.testing.assert_array_equal(out, labels)
    assert calls == [(3, 64, 64)]


def test_predict_volume_matches_transunet_loop() -> None:
    """Against TransUNet's ``test_single_volume`` loop (one slice at a time) with a thresholding model."""
    rng = np.random.default_rng(3)
    volume = rng.random((4, 50, 36)).astype(np.float32)

    def model(batch: np.ndarray) -> np.ndarray:
        return (batch > 0.5).astype(np.int64) + (batch > 0.8)

    expected = np.zeros(volume.shape, dtype=np.int64)
    for ind in range(volume.shape[0]):
        x, y = volume[ind].shape
        image = zoom(volume[ind], (24 / x, 24 / y), order=3)
        out = model(image[None].astype(np.float32))[0]
        expected[ind] = zoom(out, (x / 24, y / 24), order=0)
    np.testing.assert_array_equal(predict_volume(model, volume, size=24, batch=3), expected)
