"""R2U-Net (official ``R2Unet``) with optional Dual Cross-Attention on its four skips."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dca.models.registry import register_model, reject_unknown, split_dca_options
from dca.models.sizes import DEFAULT_PATCH_SIZE, check_size, size_multiple
from dca.nn.blocks import ConvBlock, UpConv
from dca.nn.dca import DCAOptions, build_dca

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


class R2UNet(nn.Module):
    """R2U-Net as released with DCA: recurrent residual blocks (shared recurrent convs) in encoder and
    decoder; plain skips are post-activation, DCA refines the pre-normalisation residual sums instead."""

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
            raise ValueError(f"r2unet: width={width} gives stage widths {chans}; every width must be >= 1")
        self.size_multiple = size_multiple(dca)
        check_size("r2unet", img_size, img_size, self.size_multiple, what="img_size")
        self.encoder = nn.ModuleList(
            RecurrentResidualBlock(cin, cout) for cin, cout in zip([in_channels, *chans[:4]], chans, strict=True)
        )  # the last one is the bottleneck
        self.dca = build_dca(chans[:4], img_size, dca, DEFAULT_PATCH_SIZE) if dca is not None else None
        # Decoder, deepest first: up-conv C_{i+1} -> C_i, then a block on [up, skip].
        self.ups = nn.ModuleList(UpConv(chans[i + 1], chans[i]) for i in reversed(range(4)))
        self.decoder = nn.ModuleList(RecurrentResidualBlock(2 * chans[i], chans[i]) for i in reversed(range(4)))
        self.head = nn.Conv2d(chans[0], num_classes, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        check_size("r2unet", x.shape[-2], x.shape[-1], self.size_multiple)
        # Plain skips are the activated outputs; DCA takes the pre-normalisation residual sums instead.
        use_sums = self.dca is not None
        skips: list[Tensor] = []
        for i, block in enumerate(self.encoder[:-1]):
            if i:
                x = F.max_pool2d(x, 2)
            x, xs = block(x)
            skips.append(xs if use_sums else x)
        x, _ = self.encoder[-1](F.max_pool2d(x, 2))
        if self.dca is not None:
            skips = self.dca(skips)
        for up, decode, skip in zip(self.ups, self.decoder, reversed(skips), strict=True):
            x, _ = decode(torch.cat([up(x), skip], dim=1))
        return self.head(x)


@register_model("r2unet")
def r2unet(*, dca: bool, in_channels: int, num_classes: int, img_size: int, **options: object) -> nn.Module:
    """R2U-Net (width factor ``width``, default 0.5), optionally with DCA on its four skips."""
    dca_options, rest = split_dca_options("r2unet", dca, options)
    width = rest.pop("width", 0.5)
    reject_unknown("r2unet", rest)
    if isinstance(width, bool) or not isinstance(width, int | float) or width <= 0:
        raise ValueError(f"r2unet: width must be a positive number, got {width!r}")
    return R2UNet(in_channels, num_classes, width=float(width), dca=dca_options, img_size=img_size)
