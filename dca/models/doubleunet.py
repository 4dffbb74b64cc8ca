"""DoubleU-Net (official ``DoubleUnet``) with optional Dual Cross-Attention, at the official parameter counts.

Two stacked U-Nets: encoder 1 is VGG19's convolutional layers (built from scratch) with pre-ReLU skips, a
concatenating ASPP and decoder 1, whose 3-channel sigmoid output multiplies the ImageNet-normalised input; encoder 2
(conv + SE units) re-encodes that product, and decoder 2 sees the skips of both encoders. Only decoder 2's logits are
returned. With DCA there are three DCA modules: block 1 on the VGG skips (for decoder 1), block 2 on block 1's outputs
(the VGG skips of decoder 2, as the official code chains them) and block 3 on encoder 2's skips.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

from dca.models.base import HostModel, register_host
from dca.nn.blocks import ASPP, ConvBlock, SqueezeExcite, upsample2x
from dca.nn.dca import DCAOptions

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Layer ranges of VGG19's 37-layer feature stack kept per stage (the stage-ending ReLUs 3, 8, 17, 26, 35 and the
# last max-pool 36 are left out, so the skips are the pre-ReLU conv outputs).
VGG_SLICES = ((0, 3), (4, 8), (9, 17), (18, 26), (27, 35))
VGG_CHANNELS = (64, 128, 256, 512)  # skips v1..v4
ENCODER2_CHANNELS = (32, 64, 128, 256)  # units E2-1..E2-4, skips w1..w4
DECODER_CHANNELS = (256, 128, 64, 32)  # D-1..D-4 of both decoders
ASPP_CHANNELS = 64


def vgg19_features() -> nn.Sequential:
    """VGG19's conv stack (torchvision configuration "E", no BN) with torchvision's VGG initialisation.

    Equivalent to ``torchvision.models.vgg19(weights=None).features`` without allocating and initialising the
    120M-parameter classifier that would be thrown away (about 4 s per model on CPU).
    """
    features = make_layers(cfgs["E"], batch_norm=False)
    for m in features.modules():
        if isinstance(m, nn.Conv2d):  # as torchvision.models.VGG.__init__ does
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.constant_(m.bias, 0)
    return features


class ConvSEUnit(nn.Module):
    """DoubleU-Net's encoder-2/decoder unit (official ``local_conv_block``): conv-BN-ReLU, bare conv, BN, ReLU, SE;
    returns the SE output and the pre-BN second conv output, which is encoder 2's skip."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvBlock(in_channels, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm = nn.BatchNorm2d(channels)
        self.se = SqueezeExcite(channels, reduction=8)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        xs = self.conv2(self.conv1(x))
        return self.se(F.relu(self.norm(xs))), xs


@register_host(
    "doubleunet",
    width=None,
    doc=(
        "DoubleU-Net, optionally with DCA (three modules). Input 1 channel (repeated to 3) or 3 channels. ``width`` "
        "is accepted but has no effect: the official DoubleU-Net hard-codes its widths and ignores the width factor "
        "the training script passes to every model (quirk 1), so the counts match at any ``width``."
    ),
)
class DoubleUNet(HostModel):
    """DoubleU-Net as released (hard-coded widths, VGG19 from scratch, only the second output returned),
    optionally with the official three DCA modules; input 1 or 3 channels, always processed as 3.

    Two U-Nets in a row do not fit encoder -> DCA -> decoder once: it wires its own ``forward`` from its two
    U-Nets and keeps the shared size check and DCA construction.
    """

    def __init__(
        self, in_channels: int, num_classes: int, *, dca: DCAOptions | None = None, img_size: int = 224
    ) -> None:
        if in_channels not in (1, 3):
            raise ValueError(
                f"doubleunet: in_channels must be 1 (repeated to 3) or 3, got {in_channels}; the VGG19 encoder and "
                f"the ImageNet normalisation work on 3-channel images"
            )
        super().__init__(dca, img_size)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

        vgg = vgg19_features()
        self.vgg = nn.ModuleList(vgg[a:b] for a, b in VGG_SLICES)  # Sequential slices keep VGG's layer indices
        self.aspp1 = ASPP(512, ASPP_CHANNELS, mode="concat")
        self.decoder1 = self._decoder(VGG_CHANNELS)
        self.mask = nn.Conv2d(DECODER_CHANNELS[-1], 3, kernel_size=1)  # output 1, a sigmoid map on the input

        prev = 3
        self.encoder2 = nn.ModuleList()
        for c in ENCODER2_CHANNELS:
            self.encoder2.append(ConvSEUnit(prev, c))
            prev = c
        self.aspp2 = ASPP(prev, ASPP_CHANNELS, mode="concat")
        self.decoder2 = self._decoder([v + w for v, w in zip(VGG_CHANNELS, ENCODER2_CHANNELS, strict=True)])
        self.head = nn.Conv2d(DECODER_CHANNELS[-1], num_classes, kernel_size=1)

        self.dca1 = self.skip_dca(VGG_CHANNELS, img_size, dca)
        self.dca2 = self.skip_dca(VGG_CHANNELS, img_size, dca)
        self.dca3 = self.skip_dca(ENCODER2_CHANNELS, img_size, dca)

    @staticmethod
    def _decoder(skip_channels: tuple[int, ...] | list[int]) -> nn.ModuleList:
        """Units D-1..D-4 (deepest first) on [skip(s), up-sampled], from the ASPP's 64 channels."""
        units = nn.ModuleList()
        prev = ASPP_CHANNELS
        for skip, c in zip(reversed(skip_channels), DECODER_CHANNELS, strict=True):
            units.append(ConvSEUnit(skip + prev, c))
            prev = c
        return units

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] != 3:
            raise ValueError(f"doubleunet: expected 1 or 3 input channels, got {x.shape[1]}")
        self.check_input(x)
        x = (x - self.mean) / self.std
        y, vgg_skips = self._first_unet(x)
        return self.head(self._second_unet(y, vgg_skips))

    def _first_unet(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """VGG encoder, DCA blocks 1-2, decoder 1: the masked input and the VGG skips decoder 2 takes."""
        v = []  # pre-ReLU VGG stage outputs v1..v4
        y = x
        for stage in self.vgg[:4]:
            y = stage(y)
            v.append(y)
            y = F.relu(y)
        y = self.aspp1(F.relu(self.vgg[4](y)))
        s = self.dca1(v) if self.dca1 is not None else v
        t = self.dca2(s) if self.dca2 is not None else v  # official chaining: block 2 refines block 1's outputs
        for unit, skip in zip(self.decoder1, reversed(s), strict=True):
            y, _ = unit(torch.cat([skip, upsample2x(y)], dim=1))
        return torch.sigmoid(self.mask(y)) * x, t

    def _second_unet(self, y: Tensor, vgg_skips: list[Tensor]) -> Tensor:
        """Encoder 2, DCA block 3 on its skips, decoder 2 on both encoders' skips: the head's input."""
        w = []  # pre-BN second-conv outputs w1..w4
        for i, unit in enumerate(self.encoder2):
            if i:
                y = F.max_pool2d(y, 2)
            y, skip = unit(y)
            w.append(skip)
        y = self.aspp2(F.max_pool2d(y, 2))
        if self.dca3 is not None:
            w = self.dca3(w)
        for unit, skip_v, skip_w in zip(self.decoder2, reversed(vgg_skips), reversed(w), strict=True):
            y, _ = unit(torch.cat([skip_v, skip_w, upsample2x(y)], dim=1))
        return y
