"""The official DCA code's Dice and IoU (the paper protocol's metric), as pure functions on label maps.

Facts (docs/protocols.md): predictions thresholded at 0.5 (binary) or argmaxed (multi-class); per test
batch of the official batch size, each class's Dice = (2 |P∩T| + 1) / (|P| + |T| + 1) and IoU =
(|P∩T| + 1) / (|P∪T| + 1) pooled over the whole batch; multi-class: the mean over every class,
background included; binary: the foreground only. The score is the mean over batches (the last,
smaller batch counts as one). Written here because no library computes this non-standard mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

#: The smoothing term of the official code's Dice and IoU.
SMOOTH = 1.0


def batch_scores(pred: np.ndarray, ref: np.ndarray, num_labels: int) -> tuple[float, float]:
    """Official (Dice, IoU) of one batch of integer label maps (B, H, W), pooled over the batch."""
    pred, ref = np.asarray(pred), np.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"prediction and reference shapes differ: {pred.shape} vs {ref.shape}")
    labels = [1] if num_labels == 2 else range(num_labels)
    dices, ious = [], []
    for label in labels:
        p, t = pred == label, ref == label
        inter = float(np.count_nonzero(p & t))
        total = float(np.count_nonzero(p) + np.count_nonzero(t))
        dices.append((2.0 * inter + SMOOTH) / (total + SMOOTH))
        ious.append((inter + SMOOTH) / (total - inter + SMOOTH))
    return float(np.mean(dices)), float(np.mean(ious))


def batched(items: Sequence[np.ndarray], batch: int) -> Iterable[np.ndarray]:
    """Consecutive stacks of ``batch`` label maps (the last one shorter), as the official test loader."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    for start in range(0, len(items), batch):
        yield np.stack(items[start : start + batch])


def official_scores(preds: Sequence[np.ndarray], refs: Sequence[np.ndarray], num_labels: int, batch: int) -> dict:
    """The official Dice/IoU over test label maps in loader order, batched by ``batch``: the means over batches.

    The per-batch scores (``<metric>_batches``, loader order) are kept: they are the test units whose mean is the
    score, so the claims bootstrap resamples them and its point estimate is the table's number.
    """
    if len(preds) != len(refs) or not preds:
        raise ValueError(f"need as many predictions as references (> 0), got {len(preds)} and {len(refs)}")
    scores = [batch_scores(p, r, num_labels) for p, r in zip(batched(preds, batch), batched(refs, batch), strict=True)]
    dice, iou = np.mean(scores, axis=0)
    return {
        "dice_official": float(dice), "iou_official": float(iou), "official_batch": batch, "batches": len(scores),
        "dice_official_batches": [d for d, _ in scores], "iou_official_batches": [i for _, i in scores],
    }  # fmt: skip
