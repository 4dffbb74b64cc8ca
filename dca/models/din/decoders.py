"""SegFormer's all-MLP decoder as DIN uses it (section 9.2, Fig. 5, Eq. 14).

Each fused stage map goes through a per-level linear layer (a 1x1 conv: same weights and cost as SegFormer's
``Linear`` on tokens) to ``dim`` = 768 channels, is upsampled bilinearly to the stage-1 resolution (the input
size, since DIN's stem keeps it), and the four maps are concatenated (deepest first, SegFormer's order). Eq. 14
fuses them with a 3x3 conv (4 x 768 -> 768, no bias, as SegFormer's ConvModule) + BN + ReLU, and a 1x1 conv
predicts the classes. At widths 128/256/512/1024 it holds 1920*768 + 4*768 (linears) + 3072*768*9 + 2*768
(fuse) + 769*K (prediction) = 22,712,832 + 769 K parameters, 22.71M for K = 1. The paper gives 25.27M in
section 4.5 and 25.67M in section 11; see ``docs/din.md`` for why ours is 2.5M smaller.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MLPDecoder(nn.Module):
    """SegFormer's all-MLP decoder: per-level linear to ``dim``, upsample, concat, 3x3 conv-BN-ReLU, 1x1 head."""

    def __init__(self, in_channels: Sequence[int], num_classes: int, dim: int = 768) -> None:
        super().__init__()
        self.embed = nn.ModuleList(nn.Conv2d(c, dim, kernel_size=1) for c in in_channels)
        self.fuse = nn.Sequential(
            nn.Conv2d(len(in_channels) * dim, dim, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(dim),
            nn.ReLU(),
        )
        self.predict = nn.Conv2d(dim, num_classes, kernel_size=1)

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        size = features[0].shape[-2:]
        levels = []
        for embed, x in zip(self.embed, features, strict=True):
            x = embed(x)
            if x.shape[-2:] != size:
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            levels.append(x)
        return self.predict(self.fuse(torch.cat(levels[::-1], dim=1)))
