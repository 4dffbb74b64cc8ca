"""U-Net (official ``Unet``) with optional Dual Cross-Attention on its four skips."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dca.models.registry import register_model, reject_unknown, split_dca_options
from dca.models.sizes import DEFAULT_PATCH_SIZE, check_size, size_multiple
from dca.nn.blocks import ConvBlock, UpConv
from dca.nn.dca import DCAOptions, build_dca


class UNet(nn.Module):
    """U-Net as released with DCA: encoder second convs are bare and normalised outside the block,
    so the skips (plain or DCA input) are the pre-BN features; widths scale with ``width``."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        width: float = 0.5,
        dca: DCAOptions | None = None,
        img_size: int = 224,
    ) -> None:
        super().__init__()
        chans = [int(c * width) for c in (64, 128, 256, 512, 1024)]
        if min(chans) < 1:
            raise ValueError(f"unet: width={width} gives stage widths {chans}; every width must be >= 1")
        self.size_multiple = size_multiple(dca)
        check_size("unet", img_size, img_size, self.size_multiple, what="img_size")

        self.encoder = nn.ModuleList()
        self.encoder_norms = nn.ModuleList()
        prev = in_channels
        for c in chans[:4]:
            self.encoder.append(nn.Sequential(ConvBlock(prev, c), ConvBlock(c, c, norm=False, act=False)))
            self.encoder_norms.append(nn.BatchNorm2d(c))
            prev = c
        self.bottleneck = nn.Sequential(ConvBlock(chans[3], chans[4]), ConvBlock(chans[4], chans[4]))
        self.dca = build_dca(chans[:4], img_size, dca, DEFAULT_PATCH_SIZE) if dca is not None else None
        # Decoder, deepest first: up-conv C_{i+1} -> C_i, then two convs on [up, skip].
        self.ups = nn.ModuleList(UpConv(chans[i + 1], chans[i]) for i in reversed(range(4)))
        self.decoder = nn.ModuleList(
            nn.Sequential(ConvBlock(2 * chans[i], chans[i]), ConvBlock(chans[i], chans[i])) for i in reversed(range(4))
        )
        self.head = nn.Conv2d(chans[0], num_classes, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        check_size("unet", x.shape[-2], x.shape[-1], self.size_multiple)
        skips: list[Tensor] = []
        for i, (conv, norm) in enumerate(zip(self.encoder, self.encoder_norms, strict=True)):
            if i:
                x = F.max_pool2d(x, 2)
            skip = conv(x)
            skips.append(skip)
            x = F.relu(norm(skip))
        x = self.bottleneck(F.max_pool2d(x, 2))
        if self.dca is not None:
            skips = self.dca(skips)
        for up, decode, skip in zip(self.ups, self.decoder, reversed(skips), strict=True):
            x = decode(torch.cat([up(x), skip], dim=1))
        return self.head(x)


@register_model("unet")
def unet(*, dca: bool, in_channels: int, num_classes: int, img_size: int, **options: object) -> nn.Module:
    """U-Net (width factor ``width``, default 0.5), optionally with DCA on its four skips."""
    dca_options, rest = split_dca_options("unet", dca, options)
    width = rest.pop("width", 0.5)
    reject_unknown("unet", rest)
    if isinstance(width, bool) or not isinstance(width, int | float) or width <= 0:
        raise ValueError(f"unet: width must be a positive number, got {width!r}")
    return UNet(in_channels, num_classes, width=float(width), dca=dca_options, img_size=img_size)
