"""ResUNet++ (official ``ResUnetPlus``) with optional DCA on its three skips.

Parameter parity with the official code (architecture notes 3.4 and quirk 10): the attention
gate has no sigmoid, the SE hidden widths come from reductions int(16k) / int(32k), residual
convs have an unnormalised 1x1 shortcut and no activation after the sum, the bridge ASPP has
no ReLU while the output ASPP has, and the decoder up-samples by nearest neighbour. The gate
BNs, which the official code registers twice, are registered once here (same count).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dca.models.base import DEFAULT_WIDTH, EncoderDecoder, register_host, scaled_widths
from dca.nn.blocks import ASPP, ConvBlock, SqueezeExcite, upsample2x
from dca.nn.dca import DCAOptions

DOWNSAMPLING = 8  # three stride-2 residual convs
DCA_PATCH_SIZE = 4  # paper setting for ResUNet++: a 56 x 56 token grid at 224


class ResidualConv(nn.Module):
    """Pre-activation residual conv (official ``ResConv``): (BN, ReLU, conv) twice + bare 1x1 shortcut, no final act."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            ConvBlock(in_channels, out_channels, stride=stride),  # conv 3x3 + BN + ReLU
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.shortcut(x)


class AttentionGate(nn.Module):
    """ResUNet++ attention (official ``AttentionBlock``): a one-channel map from skip and deeper feature scales
    the deeper feature; copied without the sigmoid, as in the official code."""

    def __init__(self, skip_channels: int, deep_channels: int, inner_channels: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.BatchNorm2d(skip_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(skip_channels, inner_channels, 3, padding=1),
            nn.MaxPool2d(2),
        )
        self.decoder = nn.Sequential(
            nn.BatchNorm2d(deep_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(deep_channels, inner_channels, 3, padding=1),
        )
        self.attention = nn.Sequential(
            nn.BatchNorm2d(inner_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(inner_channels, 1, 1),
        )

    def forward(self, skip: Tensor, deep: Tensor) -> Tensor:
        return self.attention(self.encoder(skip) + self.decoder(deep)) * deep


@register_host(
    "resunetpp",
    doc="ResUNet++; options: ``width`` (default 0.5, the paper's k) and the ``dca_*`` switches (patch size 4).",
)
class ResUNetPlusPlus(EncoderDecoder):
    """ResUNet++ at the official implementation's exact parameter count, optionally with DCA on the three skips.

    Widths scale with ``width`` (paper: 0.5 -> 32, 64, 128, 256, bridge 512); input sides must divide by 8.
    """

    downsampling = DOWNSAMPLING
    default_patch_size = DCA_PATCH_SIZE

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        width: float = DEFAULT_WIDTH,
        dca: DCAOptions | None = None,
        img_size: int = 224,
    ) -> None:
        super().__init__(dca, img_size)
        f = scaled_widths(self.model_name, width)
        self.stem = nn.Sequential(
            ConvBlock(in_channels, f[0]),
            nn.Conv2d(f[0], f[0], 3, padding=1),
        )
        self.stem_shortcut = nn.Conv2d(in_channels, f[0], 3, padding=1)
        reductions = [max(1, int(16 * width)), max(1, int(32 * width)), max(1, int(32 * width))]
        self.encoder = nn.ModuleList(
            nn.Sequential(SqueezeExcite(f[i], reductions[i]), ResidualConv(f[i], f[i + 1], stride=2)) for i in range(3)
        )
        self.bridge = ASPP(f[3], f[4], mode="sum", act=False)
        self.dca = self.skip_dca(f[:3], img_size, dca)
        # decoder stage j (deepest first): gate(skip f[2-j], deep f[4-j]) -> concat [up, skip] -> f[3-j]
        self.gates = nn.ModuleList(AttentionGate(f[2 - j], f[4 - j], f[4 - j]) for j in range(3))
        self.decoder = nn.ModuleList(ResidualConv(f[4 - j] + f[2 - j], f[3 - j]) for j in range(3))
        self.out_aspp = ASPP(f[1], f[0], mode="sum", act=True)
        self.head = nn.Conv2d(f[0], num_classes, 1)

    def encode(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        skips = [self.stem(x) + self.stem_shortcut(x)]
        for stage in self.encoder:
            skips.append(stage(skips[-1]))
        return skips, self.bridge(skips.pop())

    def decode(self, x: Tensor, skips: list[Tensor]) -> Tensor:
        for gate, block, skip in zip(self.gates, self.decoder, reversed(skips), strict=True):
            x = block(torch.cat([upsample2x(gate(skip, x), mode="nearest"), skip], dim=1))
        return self.out_aspp(x)
