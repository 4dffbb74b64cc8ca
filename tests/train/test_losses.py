"""Losses: Dice and CE conventions, and the properties of DIN's multi-scale Sobel boundary loss."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from dca.train.config import LossConfig
from dca.train.losses import (
    SegmentationLoss,
    boundary_loss,
    cross_entropy_loss,
    one_hot,
    sobel_gradients,
    soft_dice_loss,
    to_labels,
)


def square(shift: int = 0, size: int = 32, channels: int = 1) -> torch.Tensor:
    """(1, H, W) labels: a 12 x 12 square of label 1 (and a bar of label 2 if channels > 2), shifted right."""
    target = torch.zeros(1, size, size, dtype=torch.long)
    target[0, 10:22, 8 + shift : 20 + shift] = 1
    if channels > 2:
        target[0, 26:29, 4 + shift : 14 + shift] = 2
    return target


def logits_for(target: torch.Tensor, channels: int, confidence: float = 20.0) -> torch.Tensor:
    """Confident logits whose hard prediction (and nearly their probabilities) equal ``target``."""
    encoded = one_hot(target, channels)
    return (2 * encoded - 1) * confidence


@pytest.mark.parametrize("channels", [1, 3])
def test_dice_and_ce_vanish_for_a_confident_correct_prediction(channels: int) -> None:
    target = square(channels=channels)
    logits = logits_for(target, channels)
    assert soft_dice_loss(logits, target) < 1e-6
    assert cross_entropy_loss(logits, target) < 1e-6
    assert torch.equal(to_labels(logits), target)


def test_dice_follows_the_official_batch_formula() -> None:
    target = square()
    logits = torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    p, t = torch.sigmoid(logits).flatten(), target.float().flatten()
    expected = 1 - (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1)
    torch.testing.assert_close(soft_dice_loss(logits, target), expected)


def test_cross_entropy_is_bce_for_one_channel_and_ce_otherwise() -> None:
    target = square(channels=3)
    logits = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(cross_entropy_loss(logits, target), F.cross_entropy(logits, target))
    binary = logits[:, :1]
    torch.testing.assert_close(
        cross_entropy_loss(binary, square()), F.binary_cross_entropy_with_logits(binary, square()[:, None].float())
    )


@pytest.mark.parametrize("channels", [1, 3])
def test_boundary_loss_is_zero_for_identical_prediction_and_target(channels: int) -> None:
    target = square(channels=channels)
    # probabilities exactly one-hot: saturated logits for softmax/sigmoid
    assert boundary_loss(logits_for(target, channels, confidence=100.0), target) == 0.0


@pytest.mark.parametrize("channels", [1, 3])
def test_boundary_loss_grows_with_boundary_displacement(channels: int) -> None:
    target = square(channels=channels)
    losses = [boundary_loss(logits_for(square(s, channels=channels), channels), target).item() for s in (0, 1, 2, 4, 8)]
    assert losses[0] < 1e-6
    assert all(a < b for a, b in itertools.pairwise(losses)), losses


def test_boundary_loss_is_differentiable() -> None:
    target = square(channels=3)
    logits = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2), requires_grad=True)
    boundary_loss(logits, target.expand(2, -1, -1)).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    small = torch.randn(1, 2, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    small_target = torch.zeros(1, 8, 8, dtype=torch.long)
    small_target[0, 2:6, 3:7] = 1
    assert torch.autograd.gradcheck(lambda x: boundary_loss(x, small_target, (1, 2)), (small,), fast_mode=True)


def test_boundary_loss_sums_the_three_scales() -> None:
    """Eq. 9 sums over scales 1, 2 and 4 (not their mean, a third of the weight)."""
    target = square()
    logits = logits_for(square(3), 1)
    per_scale = [boundary_loss(logits, target, (s,)) for s in (1, 2, 4)]
    torch.testing.assert_close(boundary_loss(logits, target), per_scale[0] + per_scale[1] + per_scale[2])
    probs, truth = torch.sigmoid(logits), one_hot(target, 1)
    gx_p, gy_p = sobel_gradients(F.avg_pool2d(probs, 4))
    gx_t, gy_t = sobel_gradients(F.avg_pool2d(truth, 4))
    torch.testing.assert_close(per_scale[2], F.l1_loss(gx_p, gx_t) + F.l1_loss(gy_p, gy_t))
    assert all(term > 0 for term in per_scale)


def test_sobel_of_a_vertical_step_is_horizontal() -> None:
    step = torch.zeros(1, 1, 6, 6)
    step[..., 3:] = 1.0
    gx, gy = sobel_gradients(step)
    assert torch.equal(gy, torch.zeros_like(gy))
    assert torch.equal(gx[0, 0, :, 2], torch.full((6,), 4.0)) and torch.equal(gx[0, 0, :, 3], torch.full((6,), 4.0))


def test_segmentation_loss_is_the_weighted_sum() -> None:
    target = square(channels=3)
    logits = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    loss = SegmentationLoss(LossConfig(dice=0.7, ce=0.3, boundary=1.0))(logits, target)
    expected = 0.7 * soft_dice_loss(logits, target) + 0.3 * cross_entropy_loss(logits, target)
    torch.testing.assert_close(loss, expected + boundary_loss(logits, target))
