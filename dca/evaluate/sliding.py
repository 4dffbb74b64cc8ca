"""Sliding-window inference of a volume model over a whole (C, D, H, W) volume, with Gaussian weighting.

Our own code rather than MONAI's ``sliding_window_inference``: it is some forty lines, and MONAI (not installed
here) would be a large dependency for them alone. The weighting is the one both MONAI's ``mode="gaussian"``
and nnU-Net use: a Gaussian of sigma 1/8 of the patch per axis, scaled to a maximum of 1, zeros lifted to its
smallest positive value. Windows overlap by ``overlap`` (0.5, as both) of the patch per axis; a volume smaller
than the patch is zero-padded and the output cut back.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

OVERLAP = 0.5
SIGMA = 1 / 8  # of the patch size, per axis


@functools.cache
def gaussian_weight(patch: tuple[int, ...]) -> torch.Tensor:
    """The (D, H, W) importance map of one window: 1 at the centre, falling off to the borders."""
    axes = []
    for n in patch:
        x = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
        axes.append(torch.exp(-0.5 * (x / max(n * SIGMA, 1e-6)) ** 2))
    weight = functools.reduce(_outer, axes)
    weight = weight / weight.max()
    floor = weight[weight > 0].min()
    return torch.where(weight > 0, weight, floor).float()


def _outer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Outer product of an n-d and a 1-d tensor."""
    return a[..., None] * b


def window_starts(size: int, patch: int, overlap: float = OVERLAP) -> list[int]:
    """First voxels of the windows along one axis: evenly spread, the first at 0 and the last at the end."""
    if size <= patch:
        return [0]
    step = patch * (1 - overlap)
    count = math.ceil((size - patch) / step) + 1
    return sorted({round(i * (size - patch) / (count - 1)) for i in range(count)})


def sliding_window(
    predict: Callable[[list[torch.Tensor]], torch.Tensor],
    inputs: Sequence[torch.Tensor],
    patch: Sequence[int],
    overlap: float = OVERLAP,
    batch: int = 1,
) -> torch.Tensor:
    """Gaussian-weighted logits (K, D, H, W) of ``predict`` over the (C, D, H, W) ``inputs`` (all the same
    spatial shape, on the model's device): ``predict`` maps a list of (n, C, *patch) windows to (n, K, *patch)."""
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    patch = tuple(int(p) for p in patch)
    shape = tuple(inputs[0].shape[1:])
    pad = [max(p - n, 0) for n, p in zip(shape, patch, strict=True)]
    if any(pad):  # F.pad lists the last axis first
        inputs = [F.pad(x, [v for amount in reversed(pad) for v in (0, amount)]) for x in inputs]
    padded = tuple(inputs[0].shape[1:])
    grid = np.stack(np.meshgrid(*(window_starts(n, p, overlap) for n, p in zip(padded, patch)), indexing="ij"), -1)
    starts = [tuple(int(s) for s in row) for row in grid.reshape(-1, len(patch))]
    weight = gaussian_weight(patch).to(inputs[0].device)
    total: torch.Tensor | None = None
    norm = torch.zeros(padded, device=inputs[0].device)
    for first in range(0, len(starts), batch):
        chunk = starts[first : first + batch]
        windows = [tuple(slice(s, s + p) for s, p in zip(start, patch)) for start in chunk]
        logits = predict([torch.stack([x[(slice(None), *w)] for w in windows]) for x in inputs]).float()
        if total is None:
            total = torch.zeros((logits.shape[1], *padded), device=logits.device)
        for out, w in zip(logits, windows, strict=True):
            total[(slice(None), *w)] += out * weight
            norm[w] += weight
    assert total is not None  # at least one window
    return (total / norm)[(slice(None), *(slice(0, n) for n in shape))]
