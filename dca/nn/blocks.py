"""Convolutional building blocks shared by the U-Net-family models.

Each block matches the official DCA code's parameter layout (biases, norms, activations)
as described in the architecture notes; the models compose them rather than re-declaring
convolutions inline.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ConvBlock(nn.Sequential):
    """Conv (bias by default) -> optional BN -> optional ReLU; ``padding`` defaults to 'same'."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        norm: bool = True,
        act: bool = True,
        bias: bool = True,
    ) -> None:
        if padding is None:
            padding = dilation * (kernel_size - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=bias
            )
        ]
        if norm:
            layers.append(nn.BatchNorm2d(out_channels))
        if act:
            layers.append(nn.ReLU())
        super().__init__(*layers)


class UpConv(nn.Sequential):
    """Bilinear x2 (align_corners=True) then Conv 3x3 + BN + ReLU (official ``Upconv``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            ConvBlock(in_channels, out_channels),
        )


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: GAP -> Linear C->C//r (no bias) -> ReLU -> Linear -> sigmoid -> scale."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = channels // reduction
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(),
            nn.Linear(hidden, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        w = self.fc(x.mean(dim=(2, 3)))
        return x * w[:, :, None, None]


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling in the two official flavours.

    ``mode="sum"`` (ResUNet++): four 3x3 branches (dilations 1, 6, 12, 18; bias; BN; ReLU if
    ``act``) summed, then a 1x1 conv block. ``mode="concat"`` (DoubleU-Net): a biased 1x1
    branch and four unbiased dilated 3x3 branches, each BN + ReLU, concatenated and fused by
    an unbiased 1x1 conv + BN + ReLU. No image-pooling branch in either.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        mode: str = "sum",
        act: bool = True,
        dilations: Sequence[int] = (1, 6, 12, 18),
    ) -> None:
        super().__init__()
        if mode not in ("sum", "concat"):
            raise ValueError(f"ASPP mode must be 'sum' or 'concat', got {mode!r}")
        self.mode = mode
        branches: list[nn.Module] = []
        if mode == "concat":
            branches.append(ConvBlock(in_channels, out_channels, 1))
        branches += [
            ConvBlock(in_channels, out_channels, 3, dilation=d, act=act, bias=mode == "sum") for d in dilations
        ]
        self.branches = nn.ModuleList(branches)
        fused_in = out_channels * len(branches) if mode == "concat" else out_channels
        self.project = ConvBlock(fused_in, out_channels, 1, act=act, bias=mode == "sum")

    def forward(self, x: Tensor) -> Tensor:
        outs = [branch(x) for branch in self.branches]
        fused = torch.cat(outs, dim=1) if self.mode == "concat" else torch.stack(outs).sum(0)
        return self.project(fused)


def upsample2x(x: Tensor, mode: str = "bilinear") -> Tensor:
    """Parameter-free x2 up-sampling (bilinear with align_corners=True, or nearest)."""
    if mode == "nearest":
        return F.interpolate(x, scale_factor=2, mode="nearest")
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
