"""2D V-Net (official ``Vnet``) with optional Dual Cross-Attention on its four skips."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dca.models.base import EncoderDecoder, register_host
from dca.nn.dca import DCAOptions

WIDTHS = (32, 64, 128, 256, 512)  # the official constructor overwrites the width factor with 1


def _conv5(in_channels: int, out_channels: int, *, bare: bool = False) -> nn.Module:
    """Conv 5x5 (bias) + BN + PReLU, or the bare conv."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=5, padding=2)
    if bare:
        return conv
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels), nn.PReLU())


def _units(in_channels: int, channels: int, n: int) -> nn.Sequential:
    """``n`` 5x5 units, the first taking ``in_channels``; all but the last have BN + PReLU."""
    return nn.Sequential(*(_conv5(in_channels if i == 0 else channels, channels, bare=i == n - 1) for i in range(n)))


class VNetInput(nn.Module):
    """Input block: x = PReLU(BN(conv5x5)); the 1x1 side branch only enters the residual sum xs
    (main + side), which only DCA consumes, so in the plain model the side conv is dead (kept for parity)."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, kernel_size=5, padding=2)
        self.side = nn.Conv2d(in_channels, channels, kernel_size=1)
        self.norm = nn.BatchNorm2d(channels)
        self.act = nn.PReLU()

    def forward(self, x: Tensor, residual: bool = True) -> tuple[Tensor, Tensor | None]:
        main = self.conv(x)
        xs = main + self.side(x) if residual else None
        return self.act(self.norm(main)), xs


class VNetDown(nn.Module):
    """Down block: 2x2 stride-2 conv, ``n`` 5x5 units with a residual, then BN + PReLU;
    returns the activated output and the pre-normalisation residual sum."""

    def __init__(self, in_channels: int, channels: int, n: int) -> None:
        super().__init__()
        self.down = nn.Conv2d(in_channels, channels, kernel_size=2, stride=2)
        self.units = _units(channels, channels, n)
        self.norm = nn.BatchNorm2d(channels)
        self.act = nn.PReLU()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        d = self.down(x)
        xs = self.units(d) + d
        return self.act(self.norm(xs)), xs


class VNetUp(nn.Module):
    """Up block: 2x2 transposed conv T, concat [skip, PReLU(BN(T))], ``n`` 5x5 units, + T, BN, PReLU.
    With ``n = 1`` it is the official output block (a single bare 5x5 conv)."""

    def __init__(self, in_channels: int, skip_channels: int, channels: int, n: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, channels, kernel_size=2, stride=2)
        self.up_norm = nn.BatchNorm2d(channels)
        self.up_act = nn.PReLU()
        self.units = _units(skip_channels + channels, channels, n)
        self.norm = nn.BatchNorm2d(channels)
        self.act = nn.PReLU()

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        t = self.up(x)
        u = self.up_act(self.up_norm(t))
        return self.act(self.norm(self.units(torch.cat([skip, u], dim=1)) + t))


@register_host(
    "vnet",
    width=None,
    doc="2D V-Net, optionally with DCA; ``width`` is accepted and ignored (the official model always uses 32..512).",
)
class VNet(EncoderDecoder):
    """2D V-Net as released with DCA: fixed widths 32..512 (the width factor is ignored, as officially),
    5x5 residual units; DCA, when given, refines the pre-normalisation residual sums of the encoder."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        dca: DCAOptions | None = None,
        img_size: int = 224,
    ) -> None:
        super().__init__(dca, img_size)
        c1, c2, c3, c4, c5 = WIDTHS
        self.input = VNetInput(in_channels, c1)
        self.down = nn.ModuleList([VNetDown(c1, c2, 2), VNetDown(c2, c3, 3), VNetDown(c3, c4, 3), VNetDown(c4, c5, 3)])
        self.dca = self.skip_dca([c1, c2, c3, c4], img_size, dca)
        # Decoder, deepest first.
        self.up = nn.ModuleList(
            [VNetUp(c5, c4, c4, 3), VNetUp(c4, c3, c3, 3), VNetUp(c3, c2, c2, 2), VNetUp(c2, c1, c1, 1)]
        )
        self.head = nn.Conv2d(c1, num_classes, kernel_size=1)

    def encode(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        # Plain skips are the activated outputs; DCA takes the pre-normalisation residual sums instead.
        use_sums = self.dca is not None
        x, xs = self.input(x, residual=use_sums)
        skips = [xs if use_sums else x]
        for down in self.down[:-1]:
            x, xs = down(x)
            skips.append(xs if use_sums else x)
        x, _ = self.down[-1](x)  # the bottleneck; its residual sum is unused
        return skips, x

    def decode(self, x: Tensor, skips: list[Tensor]) -> Tensor:
        for up, skip in zip(self.up, reversed(skips), strict=True):
            x = up(x, skip)
        return x
