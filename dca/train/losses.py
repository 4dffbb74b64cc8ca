"""Segmentation losses on logits (soft Dice, cross-entropy, DIN's multi-scale Sobel boundary loss) and
the output convention they share with prediction.

Binary models have one output channel (sigmoid); multi-class models one channel per label
(softmax). Targets are integer label maps (B, H, W).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dca.train.config import LossConfig

DICE_SMOOTH = 1.0  # the official DCA DiceLoss smoothing

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def _full_precision(logits: Tensor) -> Tensor:
    """Logits in at least float32 (autocast may hand over fp16/bf16); float64 stays float64."""
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


def probabilities(logits: Tensor) -> Tensor:
    """Sigmoid of a one-channel output, softmax over channels otherwise (in at least float32)."""
    logits = _full_precision(logits)
    return torch.sigmoid(logits) if logits.shape[1] == 1 else torch.softmax(logits, dim=1)


def to_labels(logits: Tensor) -> Tensor:
    """Integer label map (B, H, W) of logits: ``logit > 0`` for one channel, the argmax otherwise."""
    return (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)


def one_hot(target: Tensor, channels: int) -> Tensor:
    """Float (B, C, H, W) (or (B, C, D, H, W)) encoding of a label map: the foreground mask for C = 1, one-hot
    otherwise."""
    if channels == 1:
        return (target > 0).unsqueeze(1).float()
    return F.one_hot(target.long(), channels).movedim(-1, 1).float()


def soft_dice_loss(logits: Tensor, target: Tensor) -> Tensor:
    """1 - soft Dice over the whole batch, averaged over channels (background included), as the DCA code."""
    probs = probabilities(logits)
    truth = one_hot(target, logits.shape[1])
    dims = (0, *range(2, probs.ndim))  # batch and every spatial axis
    intersection = (probs * truth).sum(dims)
    union = probs.sum(dims) + truth.sum(dims)
    return (1.0 - (2.0 * intersection + DICE_SMOOTH) / (union + DICE_SMOOTH)).mean()


def cross_entropy_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Binary cross-entropy for a one-channel output, multi-class cross-entropy otherwise."""
    if logits.shape[1] == 1:
        logits = _full_precision(logits)
        return F.binary_cross_entropy_with_logits(logits, one_hot(target, 1).to(logits.dtype))
    return F.cross_entropy(_full_precision(logits), target.long())


def sobel_gradients(maps: Tensor) -> tuple[Tensor, Tensor]:
    """Horizontal and vertical Sobel responses of every channel of (B, C, H, W) maps (edges replicated)."""
    channels = maps.shape[1]
    kx = _SOBEL_X.to(maps).expand(channels, 1, 3, 3)
    ky = _SOBEL_X.t().to(maps).expand(channels, 1, 3, 3)
    padded = F.pad(maps, (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, kx, groups=channels), F.conv2d(padded, ky, groups=channels)


def boundary_loss(logits: Tensor, target: Tensor, scales: Sequence[int] = (1, 2, 4)) -> Tensor:
    """DIN's multi-scale boundary loss (Eq. 9): L1 between Sobel gradients of the probabilities and the
    one-hot target at each down-sampling factor in ``scales`` (average pooling), summed over the scales as
    the equation writes it (each scale's L1 is the mean over its elements, so scales weigh alike)."""
    probs = probabilities(logits)
    truth = one_hot(target, logits.shape[1])
    terms = []
    for scale in scales:
        p, t = (probs, truth) if scale == 1 else (F.avg_pool2d(probs, scale), F.avg_pool2d(truth, scale))
        (pgx, pgy), (tgx, tgy) = sobel_gradients(p), sobel_gradients(t)
        terms.append(F.l1_loss(pgx, tgx) + F.l1_loss(pgy, tgy))
    return torch.stack(terms).sum()


class SegmentationLoss(nn.Module):
    """Weighted sum ``dice * Dice + ce * CE + boundary * Boundary`` (zero-weight terms are not computed)."""

    def __init__(self, config: LossConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        cfg = self.config
        total = logits.new_zeros((), dtype=torch.float32)
        if cfg.dice:
            total = total + cfg.dice * soft_dice_loss(logits, target)
        if cfg.ce:
            total = total + cfg.ce * cross_entropy_loss(logits, target)
        if cfg.boundary:
            total = total + cfg.boundary * boundary_loss(logits, target, cfg.boundary_scales)
        return total
