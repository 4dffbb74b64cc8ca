"""MultiResUNet (official ``MultiResUnet``) with optional DCA at the end of the residual paths.

Parameter parity with the official code (architecture notes 3.6, quirks 5 and 13): the
width factor is ignored (base width 32), block widths use alpha = 1.67 with each third
truncated separately (51, 105, 212, 426, 853 channels), the transposed convs are followed
by BN + ReLU, and max-pooling takes the MultiRes output. With DCA the skips are the pre-BN
sums of each ResPath's last step; that step's BN is still built and run (its output is
discarded), as in the official model.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dca.models.base import EncoderDecoder, register_host
from dca.nn.blocks import ConvBlock
from dca.nn.dca import DCAOptions

BASE_WIDTH = 32
ALPHA = 1.67
RESPATH_LENGTHS = (4, 3, 2, 1)


def multires_widths(units: int, alpha: float = ALPHA) -> tuple[int, int, int]:
    """The three chained conv widths of a MultiRes block with nominal filter count ``units`` (official truncation)."""
    w = alpha * units
    return int(w * 0.167), int(w * 0.333), int(w * 0.5)


class MultiResBlock(nn.Module):
    """Three chained 3x3 conv blocks concatenated, BN'd and added to a 1x1 conv + BN shortcut, then ReLU."""

    def __init__(self, in_channels: int, units: int) -> None:
        super().__init__()
        f1, f2, f3 = multires_widths(units)
        self.out_channels = f1 + f2 + f3
        self.shortcut = ConvBlock(in_channels, self.out_channels, 1, act=False)
        self.convs = nn.ModuleList([ConvBlock(in_channels, f1), ConvBlock(f1, f2), ConvBlock(f2, f3)])
        self.norm = nn.BatchNorm2d(self.out_channels)

    def forward(self, x: Tensor) -> Tensor:
        chain = []
        y = x
        for conv in self.convs:
            y = conv(y)
            chain.append(y)
        return torch.relu_(self.norm(torch.cat(chain, dim=1)) + self.shortcut(x))


class ResPath(nn.Module):
    """Residual steps (3x3 + 1x1 conv, summed, BN, ReLU) refining a skip; returns the output and the last pre-BN sum."""

    def __init__(self, in_channels: int, channels: int, length: int) -> None:
        super().__init__()
        ins = [in_channels] + [channels] * (length - 1)
        self.convs = nn.ModuleList(nn.Conv2d(c, channels, 3, padding=1) for c in ins)
        self.shortcuts = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in ins)
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in ins)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        for conv, shortcut, norm in zip(self.convs, self.shortcuts, self.norms, strict=True):
            xs = conv(x) + shortcut(x)
            x = torch.relu_(norm(xs))
        return x, xs


@register_host(
    "multiresunet",
    width=None,
    doc="MultiResUNet; options: the ``dca_*`` switches. ``width`` is accepted and ignored, as in the official model.",
)
class MultiResUNet(EncoderDecoder):
    """MultiResUNet at the official implementation's exact parameter count, optionally with DCA on its four skips.

    Widths are fixed (the official model overwrites the width factor with 1); input sides must divide by 16.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        dca: DCAOptions | None = None,
        img_size: int = 224,
    ) -> None:
        super().__init__(dca, img_size)
        units = [BASE_WIDTH * 2**i for i in range(5)]  # 32 .. 512
        self.encoder = nn.ModuleList()
        channels = in_channels
        for u in units:
            block = MultiResBlock(channels, u)
            self.encoder.append(block)
            channels = block.out_channels
        self.respaths = nn.ModuleList(
            ResPath(block.out_channels, u, n)
            for block, u, n in zip(self.encoder[:-1], units[:-1], RESPATH_LENGTHS, strict=True)
        )
        self.pool = nn.MaxPool2d(2)
        self.dca = self.skip_dca(units[:4], img_size, dca)
        # decoder, deepest first: transposed conv -> U, concat [up, skip U], MultiRes 2U -> (U)
        self.ups = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for u in reversed(units[:4]):
            self.ups.append(
                nn.Sequential(nn.ConvTranspose2d(channels, u, 2, stride=2), nn.BatchNorm2d(u), nn.ReLU(inplace=True))
            )
            block = MultiResBlock(2 * u, u)
            self.decoder.append(block)
            channels = block.out_channels
        self.head = nn.Conv2d(channels, num_classes, 1)

    def encode(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        skips: list[Tensor] = []
        sums: list[Tensor] = []
        for block, respath in zip(self.encoder[:-1], self.respaths, strict=True):
            x = block(x)
            skip, skip_sum = respath(x)
            skips.append(skip)
            sums.append(skip_sum)
            x = self.pool(x)
        # With DCA the ResPaths' last BN + ReLU outputs are discarded (official behaviour).
        return (sums if self.dca is not None else skips), self.encoder[-1](x)

    def decode(self, x: Tensor, skips: list[Tensor]) -> Tensor:
        for up, block, skip in zip(self.ups, self.decoder, reversed(skips), strict=True):
            x = block(torch.cat([up(x), skip], dim=1))
        return x
