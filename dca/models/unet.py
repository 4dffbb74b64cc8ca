"""U-Net (official ``Unet``) with optional Dual Cross-Attention on its four skips."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dca.models.base import DEFAULT_WIDTH, EncoderDecoder, register_host, scaled_widths
from dca.nn.blocks import ConvBlock, UpConv
from dca.nn.dca import DCAOptions


@register_host("unet", doc="U-Net (width factor ``width``, default 0.5), optionally with DCA on its four skips.")
class UNet(EncoderDecoder):
    """U-Net as released with DCA: encoder second convs are bare and normalised outside the block,
    so the skips (plain or DCA input) are the pre-BN features; widths scale with ``width``."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        width: float = DEFAULT_WIDTH,
        dca: DCAOptions | None = None,
        img_size: int = 224,
    ) -> None:
        chans = scaled_widths(self.model_name, width)
        super().__init__(dca, img_size)
        self.encoder = nn.ModuleList()
        self.encoder_norms = nn.ModuleList()
        prev = in_channels
        for c in chans[:4]:
            self.encoder.append(nn.Sequential(ConvBlock(prev, c), ConvBlock(c, c, norm=False, act=False)))
            self.encoder_norms.append(nn.BatchNorm2d(c))
            prev = c
        self.bottleneck = nn.Sequential(ConvBlock(chans[3], chans[4]), ConvBlock(chans[4], chans[4]))
        self.dca = self.skip_dca(chans[:4], img_size, dca)
        # Decoder, deepest first: up-conv C_{i+1} -> C_i, then two convs on [up, skip].
        self.ups = nn.ModuleList(UpConv(chans[i + 1], chans[i]) for i in reversed(range(4)))
        self.decoder = nn.ModuleList(
            nn.Sequential(ConvBlock(2 * chans[i], chans[i]), ConvBlock(chans[i], chans[i])) for i in reversed(range(4))
        )
        self.head = nn.Conv2d(chans[0], num_classes, kernel_size=1)

    def encode(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        skips: list[Tensor] = []
        for i, (conv, norm) in enumerate(zip(self.encoder, self.encoder_norms, strict=True)):
            if i:
                x = F.max_pool2d(x, 2)
            skip = conv(x)
            skips.append(skip)
            x = F.relu(norm(skip))
        return skips, self.bottleneck(F.max_pool2d(x, 2))

    def decode(self, x: Tensor, skips: list[Tensor]) -> Tensor:
        for up, decode, skip in zip(self.ups, self.decoder, reversed(skips), strict=True):
            x = decode(torch.cat([up(x), skip], dim=1))
        return x
