"""3D U-Net with optional Dual Cross-Attention on its four skips: the 2D U-Net of ``dca.models.unet`` on volumes.

Why the 2D U-Net's design and not nnU-Net's plain 3D U-Net: DCA's claims are measured against the paper's U-Net,
so the volume model keeps its parts one for one (two 3x3x3 conv + BN + ReLU per stage, the encoder's second
conv bare with the skip taken before its BN, max pooling, trilinear x2 up-sampling + conv in the decoder, widths
``int(c * width)`` of 64..1024) and the only change between the 2D and 3D comparisons is the dimensionality.
From nnU-Net it takes per-axis pooling (``pooling``: one (D, H, W) factor per down-sampling, default 2 on every
axis), which anisotropic data needs (ACDC: ~10 mm slices vs ~1.5 mm in-plane, where nnU-Net pools the slice
axis only in the deeper stages); its instance norm, strided convs and deep supervision are not taken.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dca.models.base import DEFAULT_WIDTH, EncoderDecoder, check_width, register_builder, scaled_widths
from dca.nn.dca import DCAOptions, build_dca, per_axis

NAME = "unet3d"
STAGES = 4  # skips; one more down-sampling reaches the bottleneck


def _conv(in_channels: int, out_channels: int, *, norm: bool = True) -> nn.Sequential:
    """Conv 3x3x3 (bias) -> BN -> ReLU, or the bare conv."""
    conv = nn.Conv3d(in_channels, out_channels, kernel_size=3, padding=1)
    return nn.Sequential(conv, nn.BatchNorm3d(out_channels), nn.ReLU()) if norm else nn.Sequential(conv)


def _pooling(value: object) -> list[tuple[int, int, int]]:
    """The per-axis pooling factors of the four down-samplings, checked; a ValueError names the bad value."""
    if value is None:
        return [(2, 2, 2)] * STAGES
    try:
        factors = [tuple(per_axis(f, 3, "pooling")) for f in value]  # type: ignore[union-attr]
    except (TypeError, ValueError) as err:
        raise ValueError(f"{NAME}: pooling must be {STAGES} factors, each an int or (D, H, W), got {value!r}") from err
    if len(factors) != STAGES or not all(isinstance(a, int) and a in (1, 2) for f in factors for a in f):
        raise ValueError(f"{NAME}: pooling must be {STAGES} factors of 1 or 2 per axis, got {value!r}")
    return factors  # type: ignore[return-value]


def _check_volume(size: Sequence[int], multiple: Sequence[int], what: str = "input size") -> None:
    """A ValueError naming the size and the nearest valid sizes unless every axis divides by its multiple."""
    if all(n > 0 and n % m == 0 for n, m in zip(size, multiple, strict=True)):
        return
    lower = "x".join(str(max(m, n // m * m)) for n, m in zip(size, multiple))
    upper = "x".join(str(-(-n // m) * m) for n, m in zip(size, multiple))
    shown = "x".join(map(str, size))
    raise ValueError(
        f"{NAME}: {what} {shown} (DxHxW) is not valid: the axes must be divisible by {'x'.join(map(str, multiple))} "
        f"(the network's total down-sampling per axis, and the DCA patch size when DCA is on). "
        f"Nearest valid sizes: {' or '.join(dict.fromkeys((lower, upper)))}; crop or pad the volumes."
    )


class UNet3D(EncoderDecoder):
    """3D U-Net on (B, C, D, H, W) volumes, optionally with DCA (3D tokens) on its four pre-BN skips.

    The DCA patch size defaults, per axis, to the deepest skip's down-sampling (8 with isotropic pooling, the
    paper's P^s = 8 of the 2D U-Net): the finest grid all four skips pool to by integer windows. With
    anisotropic ``pooling`` the slice axis gets a smaller window, so tokens cover similar physical extents.
    """

    model_name = NAME

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        width: float = DEFAULT_WIDTH,
        dca: DCAOptions | None = None,
        img_size: int | Sequence[int] = 64,
        pooling: Sequence[int | Sequence[int]] | None = None,
    ) -> None:
        # HostModel's rule is one multiple for H and W; a volume has one per axis, set here instead.
        nn.Module.__init__(self)
        chans = scaled_widths(NAME, width)
        self.pooling = _pooling(pooling)
        size = (img_size,) * 3 if isinstance(img_size, int) else tuple(img_size)
        if len(size) != 3 or not all(isinstance(n, int) for n in size):
            raise ValueError(f"{NAME}: img_size must be an int or (D, H, W), got {img_size!r}")
        # scales[i]: skip i's down-sampling per axis relative to skip 0; the bottleneck adds the last pooling.
        scales = [tuple(math.prod(f[a] for f in self.pooling[:i]) for a in range(3)) for i in range(STAGES)]
        total = tuple(s * p for s, p in zip(scales[-1], self.pooling[-1]))
        patch = per_axis(dca.patch_size or scales[-1], 3, "dca_patch_size") if dca else (1, 1, 1)
        self.set_size_rule(tuple(math.lcm(t, p) for t, p in zip(total, patch)), size)
        self.encoder = nn.ModuleList()
        self.encoder_norms = nn.ModuleList()
        prev = in_channels
        for c in chans[:STAGES]:
            self.encoder.append(nn.Sequential(_conv(prev, c), _conv(c, c, norm=False)))
            self.encoder_norms.append(nn.BatchNorm3d(c))
            prev = c
        self.bottleneck = nn.Sequential(_conv(chans[3], chans[4]), _conv(chans[4], chans[4]))
        self.dca = None if dca is None else build_dca(chans[:STAGES], size, dca, scales[-1], scales)
        # Decoder, deepest first: up-sample by that stage's pooling + conv C_{i+1} -> C_i, then two convs.
        self.ups = nn.ModuleList(
            nn.Sequential(
                nn.Upsample(scale_factor=self.pooling[i], mode="trilinear", align_corners=True),
                _conv(chans[i + 1], chans[i]),
            )
            for i in reversed(range(STAGES))
        )
        self.decoder = nn.ModuleList(
            nn.Sequential(_conv(2 * chans[i], chans[i]), _conv(chans[i], chans[i])) for i in reversed(range(STAGES))
        )
        self.head = nn.Conv3d(chans[0], num_classes, kernel_size=1)

    def set_size_rule(self, multiple: tuple[int, ...], img_size: tuple[int, ...]) -> None:  # type: ignore[override]
        """Require D, H and W to be multiples of ``multiple`` (per axis); a ValueError now unless ``img_size`` is."""
        self.size_multiple = multiple  # type: ignore[assignment]
        _check_volume(img_size, multiple, what="img_size")

    def check_input(self, x: Tensor) -> None:
        """A ValueError unless ``x`` is (B, C, D, H, W) with every axis a multiple of ``size_multiple``."""
        if x.dim() != 5:
            raise ValueError(f"{NAME}: expects volumes (B, C, D, H, W), got a tensor of shape {tuple(x.shape)}")
        _check_volume(x.shape[2:], self.size_multiple)  # type: ignore[arg-type]

    def encode(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        skips: list[Tensor] = []
        for i, (conv, norm) in enumerate(zip(self.encoder, self.encoder_norms, strict=True)):
            if i:
                x = F.max_pool3d(x, self.pooling[i - 1])
            skip = conv(x)
            skips.append(skip)
            x = F.relu(norm(skip))
        return skips, self.bottleneck(F.max_pool3d(x, self.pooling[-1]))

    def decode(self, x: Tensor, skips: list[Tensor]) -> Tensor:
        for up, decode, skip in zip(self.ups, self.decoder, reversed(skips), strict=True):
            x = decode(torch.cat([up(x), skip], dim=1))
        return x


def _construct(
    in_channels: int, num_classes: int, dca: DCAOptions | None, img_size: int, options: dict[str, object]
) -> nn.Module:
    width = check_width(NAME, options.pop("width", DEFAULT_WIDTH))
    return UNet3D(
        in_channels, num_classes, width=width, dca=dca, img_size=img_size, pooling=options.pop("pooling", None)
    )


register_builder(
    NAME,
    _construct,
    doc=(
        "3D U-Net on (B, C, D, H, W) volumes (width factor ``width``, default 0.5; ``pooling``: per-axis factors of "
        "its four down-samplings), optionally with DCA on its four skips; ``img_size`` an int or (D, H, W)."
    ),
    module=__name__,
    known=("width", "pooling"),
    function_name=NAME,
)
