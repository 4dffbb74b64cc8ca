"""EMCAD decoder (Rahman et al., CVPR 2024), DIN's alternative decoder of Tables 11-12.

From the deepest stage up: a multi-scale convolutional attention module (MSCAM = channel attention, spatial
attention, multi-scale conv block), then for each shallower stage an efficient up-convolution block (EUCB) on the
decoded map, a large-kernel grouped attention gate (LGAG) on the skip, their sum, and another MSCAM. Settings are
EMCAD's decoder defaults: depth-wise kernels 1, 3 and 5 summed in parallel, expansion factor 6, 3x3 grouped gate
convs, ReLU, CAB reduction 16, one 7x7 SAB shared by every stage.

Simplified against the released code: one 1x1 prediction head on the last (full-resolution) stage instead of four
deep-supervision heads whose outputs EMCAD sums in its loss (DIN's training loop takes one logit map); PyTorch's
default initialisation instead of EMCAD's normal init; the channel shuffle of EUCB is left out because it shuffles
groups of one channel (an identity). At widths 128/256/512/1024 it holds 18,113,067 parameters + 129 per class,
18.11M; the paper gives 20.72M (``docs/din.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KERNELS = (1, 3, 5)  # MSCB depth-wise kernel sizes
EXPANSION = 6  # MSCB expansion factor
CAB_REDUCTION = 16


def conv_bn(
    in_channels: int, out_channels: int, kernel_size: int = 1, groups: int = 1, bias: bool = False
) -> nn.Sequential:
    """Conv ('same' padding) + BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, groups=groups, bias=bias),
        nn.BatchNorm2d(out_channels),
    )


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """ShuffleNet's channel shuffle: interleave ``groups`` channel groups."""
    b, c, h, w = x.shape
    return x.reshape(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class MSCB(nn.Module):
    """Multi-scale conv block: 1x1 expand, parallel depth-wise convs summed, shuffle, 1x1 project, residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = channels * EXPANSION
        self.expand = nn.Sequential(conv_bn(channels, hidden), nn.ReLU())
        self.depthwise = nn.ModuleList(
            nn.Sequential(conv_bn(hidden, hidden, k, groups=hidden), nn.ReLU()) for k in KERNELS
        )
        self.project = conv_bn(hidden, channels)
        self.groups = math.gcd(hidden, channels)

    def forward(self, x: Tensor) -> Tensor:
        h = self.expand(x)
        out = self.depthwise[0](h)
        for dw in self.depthwise[1:]:
            out = out + dw(h)
        return x + self.project(channel_shuffle(out, self.groups))


class CAB(nn.Module):
    """Channel attention: shared 2-layer bottleneck on average- and max-pooled maps, summed, sigmoid."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        reduced = channels // min(CAB_REDUCTION, channels)
        self.fc = nn.Sequential(
            nn.Conv2d(channels, reduced, 1, bias=False), nn.ReLU(), nn.Conv2d(reduced, channels, 1, bias=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.fc(F.adaptive_avg_pool2d(x, 1)) + self.fc(F.adaptive_max_pool2d(x, 1)))


class SAB(nn.Module):
    """Spatial attention: 7x7 conv over the channel mean and max, sigmoid."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.conv(torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)))


class EUCB(nn.Module):
    """Efficient up-convolution: nearest x2, depth-wise 3x3 + BN + ReLU, 1x1 conv to the next width."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Sequential(conv_bn(in_channels, in_channels, 3, groups=in_channels), nn.ReLU())
        self.project = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.project(self.depthwise(F.interpolate(x, scale_factor=2.0, mode="nearest")))


class LGAG(nn.Module):
    """Large-kernel grouped attention gate: grouped 3x3 convs of gate and skip, ReLU(sum), 1x1 -> sigmoid mask."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = channels // 2
        self.gate = conv_bn(channels, inner, 3, groups=inner, bias=True)
        self.skip = conv_bn(channels, inner, 3, groups=inner, bias=True)
        self.psi = conv_bn(inner, 1, bias=True)

    def forward(self, gate: Tensor, skip: Tensor) -> Tensor:
        return skip * torch.sigmoid(self.psi(F.relu(self.gate(gate) + self.skip(skip))))


class EMCADDecoder(nn.Module):
    """EMCAD over the fused stage maps (shallow to deep, each stage half the previous size), one prediction head."""

    def __init__(self, in_channels: Sequence[int], num_classes: int) -> None:
        super().__init__()
        widths = list(in_channels)[::-1]  # deepest first
        for c in widths:
            if c % 2:
                raise ValueError(f"din: the EMCAD decoder needs even widths, got {c}")
        self.cab = nn.ModuleList(CAB(c) for c in widths)
        self.sab = SAB()
        self.mscb = nn.ModuleList(MSCB(c) for c in widths)
        self.up = nn.ModuleList(EUCB(widths[i], widths[i + 1]) for i in range(len(widths) - 1))
        self.lgag = nn.ModuleList(LGAG(c) for c in widths[1:])
        self.predict = nn.Conv2d(widths[-1], num_classes, 1)

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        skips = list(features)[::-1]
        x = self._mscam(0, skips[0])
        for i, skip in enumerate(skips[1:], start=1):
            up = self.up[i - 1](x)
            x = self._mscam(i, up + self.lgag[i - 1](up, skip))
        return self.predict(x)

    def _mscam(self, i: int, x: Tensor) -> Tensor:
        """Multi-scale convolutional attention module of stage ``i``: CAB, SAB, then MSCB."""
        x = self.cab[i](x) * x
        x = self.sab(x) * x
        return self.mscb[i](x)
