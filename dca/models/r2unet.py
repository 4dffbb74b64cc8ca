"""R2U-Net (official ``R2Unet``) with optional Dual Cross-Attention on its four skips."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dca.models.base import DEFAULT_WIDTH, EncoderDecoder, register_host, scaled_widths
from dca.nn.blocks import ConvBlock, UpConv
from dca.nn.dca import DCAOptions

RECURRENT_STEPS = 2  # t: each recurrent conv is applied t + 1 times


def _recur(conv: nn.Module, x: Tensor, steps: int = RECURRENT_STEPS) -> Tensor:
    """Official recurrent unit: y = f(x), then ``steps`` times y = f(x + y), one shared ``f``."""
    y = conv(x)
    for _ in range(steps):
        y = conv(x + y)
    return y


class RecurrentResidualBlock(nn.Module):
    """Official ``rrcnn_block``: 1x1 projection a, two weight-shared recurrent 3x3 units on ReLU(BN(a)),
    residual sum xs = a + z; returns (ReLU(BN(xs)), xs) since DCA consumes the pre-normalisation sum."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(in_channels, channels, kernel_size=1)
        self.project_norm = nn.BatchNorm2d(channels)
        self.recurrent1 = ConvBlock(channels, channels)  # conv + BN + ReLU
        self.recurrent2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)  # bare
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        a = self.project(x)
        y = _recur(self.recurrent1, F.relu(self.project_norm(a)))
        xs = a + _recur(self.recurrent2, y)
        return F.relu(self.norm(xs)), xs


@register_host("r2unet", doc="R2U-Net (width factor ``width``, default 0.5), optionally with DCA on its four skips.")
class R2UNet(EncoderDecoder):
    """R2U-Net as released with DCA: recurrent residual blocks (shared recurrent convs) in encoder and
    decoder; plain skips are post-activation, DCA refines the pre-normalisation residual sums instead."""

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
        self.encoder = nn.ModuleList(
            RecurrentResidualBlock(cin, cout) for cin, cout in zip([in_channels, *chans[:4]], chans, strict=True)
        )  # the last one is the bottleneck
        self.dca = self.skip_dca(chans[:4], img_size, dca)
        # Decoder, deepest first: up-conv C_{i+1} -> C_i, then a block on [up, skip].
        self.ups = nn.ModuleList(UpConv(chans[i + 1], chans[i]) for i in reversed(range(4)))
        self.decoder = nn.ModuleList(RecurrentResidualBlock(2 * chans[i], chans[i]) for i in reversed(range(4)))
        self.head = nn.Conv2d(chans[0], num_classes, kernel_size=1)

    def encode(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        # Plain skips are the activated outputs; DCA takes the pre-normalisation residual sums instead.
        use_sums = self.dca is not None
        skips: list[Tensor] = []
        for i, block in enumerate(self.encoder[:-1]):
            if i:
                x = F.max_pool2d(x, 2)
            x, xs = block(x)
            skips.append(xs if use_sums else x)
        x, _ = self.encoder[-1](F.max_pool2d(x, 2))
        return skips, x

    def decode(self, x: Tensor, skips: list[Tensor]) -> Tensor:
        for up, decode, skip in zip(self.ups, self.decoder, reversed(skips), strict=True):
            x, _ = decode(torch.cat([up(x), skip], dim=1))
        return x
