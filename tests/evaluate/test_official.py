"""The paper protocol's metric equals a transcription of the official DCA code's metric; HD95 units and conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dca.evaluate.protocol import case_metrics, diagonal, hd95_unit
from dca.metrics.official import batch_scores, official_scores


def transcribed_official(logits: list[torch.Tensor], masks: list[torch.Tensor], batch: int, classes: int) -> tuple:
    """The official DCA test loop, transcribed from the facts of the design doc: per test batch, sigmoid >= 0.5
    (binary) or softmax-argmax-one-hot (multi-class, background included), smoothed Dice/IoU over the whole batch,
    then ``total / count`` over batches."""
    total_dice = total_iou = 0.0
    count = 0
    for start in range(0, len(logits), batch):
        out, target = torch.stack(logits[start : start + batch]), torch.stack(masks[start : start + batch])
        if classes == 1:
            pred = (torch.sigmoid(out) >= 0.5).float().flatten()
            truth = target.float().flatten()
            inter = (pred * truth).sum()
            dice = (2 * inter + 1) / (pred.sum() + truth.sum() + 1)
            iou = (inter + 1) / (pred.sum() + truth.sum() - inter + 1)
        else:
            pred = torch.nn.functional.one_hot(torch.softmax(out, 1).argmax(1), classes).permute(0, 3, 1, 2).float()
            truth = torch.nn.functional.one_hot(target.long(), classes).permute(0, 3, 1, 2).float()
            dices, ious = [], []
            for c in range(classes):
                p, t = pred[:, c].flatten(), truth[:, c].flatten()
                inter = (p * t).sum()
                dices.append((2 * inter + 1) / (p.sum() + t.sum() + 1))
                ious.append((inter + 1) / (p.sum() + t.sum() - inter + 1))
            dice, iou = torch.stack(dices).mean(), torch.stack(ious).mean()
        total_dice, total_iou, count = total_dice + float(dice), total_iou + float(iou), count + 1
    return total_dice / count, total_iou / count


@pytest.mark.parametrize("classes,batch", [(1, 25), (1, 7), (9, 31), (9, 4)])
def test_official_metric_equals_the_transcription(classes: int, batch: int) -> None:
    gen = torch.Generator().manual_seed(classes * 100 + batch)
    n, size = 53, 16  # 53 images: a short last batch for every batch size
    logits = [torch.randn(classes, size, size, generator=gen) * 3 for _ in range(n)]
    masks = [torch.randint(0, max(classes, 2), (size, size), generator=gen) for _ in range(n)]
    masks[3] = torch.zeros(size, size, dtype=torch.long)  # an empty mask: smoothing keeps it defined
    labels = [((x[0] > 0).long() if classes == 1 else x.argmax(0)).numpy() for x in logits]
    ours = official_scores(labels, [m.numpy() for m in masks], max(classes, 2), batch)
    dice, iou = transcribed_official(logits, masks, batch, classes)
    assert ours["dice_official"] == pytest.approx(dice, abs=1e-6)
    assert ours["iou_official"] == pytest.approx(iou, abs=1e-6)
    assert ours["batches"] == math.ceil(n / batch) and ours["official_batch"] == batch
    # the per-batch scores are the units of the claims bootstrap: their mean is the score itself
    assert len(ours["dice_official_batches"]) == ours["batches"] == len(ours["iou_official_batches"])
    assert np.mean(ours["dice_official_batches"]) == pytest.approx(ours["dice_official"], abs=1e-12)


def test_official_metric_differs_from_per_image_dice_and_counts_background() -> None:
    pred = np.zeros((2, 4, 4), int)
    ref = np.zeros((2, 4, 4), int)
    ref[0, 0, 0] = 1  # one missed pixel in image 0; image 1 is empty in both
    dice, _ = batch_scores(pred, ref, 2)
    assert dice == pytest.approx(1 / 2)  # pooled over the batch: (0 + 1) / (1 + 1)
    multi, _ = batch_scores(pred, ref, 3)  # background and the empty class 2 both count
    assert multi == pytest.approx(np.mean([(2 * 31 + 1) / (31 + 32 + 1), 1 / 2, 1.0]))


def test_hd95_units_and_the_challenge_convention() -> None:
    assert hd95_unit({"dims": 3, "source": {"layout": "synapse_npz"}}, "model") == "voxels"
    assert hd95_unit({"dims": 3, "source": {"layout": "synapse_raw"}}, "model") == "mm"
    assert hd95_unit({"dims": 2}, "original").startswith("pixels")
    pred, ref = np.zeros((3, 4, 5), int), np.zeros((3, 4, 5), int)
    ref[1, 1, 1] = 1
    skipped = case_metrics(pred, ref, ["bg", "fg"], spacing=(2.0, 1.0, 1.0))[0]
    assert math.isnan(skipped["hd95"])
    scored = case_metrics(pred, ref, ["bg", "fg"], spacing=(2.0, 1.0, 1.0), hd95_empty="diagonal")[0]
    assert scored["hd95"] == pytest.approx(diagonal((3, 4, 5), (2.0, 1.0, 1.0))) == pytest.approx(math.sqrt(77))
    with pytest.raises(ValueError, match="hd95_empty"):
        case_metrics(pred, ref, ["bg", "fg"], hd95_empty="max")
