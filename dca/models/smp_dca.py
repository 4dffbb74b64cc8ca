"""Dual Cross-Attention on any segmentation-models-pytorch U-Net encoder, for DCA on a pretrained backbone.

Registers ``smp-unet-<encoder>`` for every encoder name smp knows. The model is an ``smp.Unet`` (same state-dict
keys, ``predict``, ``freeze_encoder``) whose forward passes the four skips the decoder receives (strides 2, 4, 8 and
16 of the input) through one DCA module; the stride-32 bottleneck is not a skip and is left alone. Pretrained encoder
weights come from a local file (``encoder_weights=<path>``): nothing is downloaded. The DCA head counts must divide
every skip's channel count (dpn68 and dpn68b have a 10-channel skip: use ``dca_spatial_heads=2``).

DCA patch size: DCA stage i is pooled by ``patch_size / 2**i`` to one token grid, and the default patch size is 8
(the paper's value for the four-skip models): the stride-2 skip (112x112 for a 224 input) is pooled by 8, so the grid
is input/16, 14x14 tokens for 224x224 (the paper's own models pool the full-resolution stage by 8, a 28x28 grid; one
level deeper here because smp's first skip is already at stride 2). Encoders whose stride-2 feature is empty (mit_b*)
get DCA on the three other skips, with default patch size 4 to keep the same grid. With DCA, input sides must be
multiples of (first DCA stage stride) x (patch size), 16 by default, and of the encoder's output stride (32) as
smp requires; ``forward`` checks both with one message that names the nearest valid sizes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import segmentation_models_pytorch as smp
from torch import Tensor, nn

from dca.models.base import SizedModel, register_builder
from dca.models.weights import read_state_dict
from dca.nn.dca import DCAOptions, build_dca

ENCODER_DEPTH = 5  # smp's default: features at strides 1, 2, 4, 8, 16, 32
SKIPS = (1, 2, 3, 4)  # indices of the decoder's skips in the encoder's feature list (strides 2..16)
TOKEN_GRID_STRIDE = 16  # default DCA token grid: the deepest skip's resolution, e.g. 14x14 for a 224 input
WEIGHTS_ADVICE = (
    "No weights are downloaded here: download the encoder's weights elsewhere (e.g. model.safetensors from the "
    "smp Hugging Face repository of the encoder) and pass the local file as encoder_weights=<path>."
)


class SmpUnetDCA(smp.Unet, SizedModel):
    """An ``smp.Unet`` with optional DCA on its skips, so DCA can sit on any (pretrained) smp encoder; state-dict
    keys, ``predict`` and ``freeze_encoder`` are smp's."""

    def __init__(
        self,
        encoder_name: str,
        in_channels: int = 3,
        classes: int = 1,
        *,
        dca: DCAOptions | None = None,
        img_size: int = 224,
    ) -> None:
        super().__init__(encoder_name=encoder_name, encoder_weights=None, in_channels=in_channels, classes=classes)
        self.model_name = f"smp-unet-{encoder_name}"
        self.in_channels = in_channels
        # smp's own rule (sides divisible by the encoder's output stride), and with DCA its token grid's.
        stride = self.encoder.output_stride if self.requires_divisible_input_shape else 1
        self.dca_stages: tuple[int, ...] = ()
        self.dca = None
        if dca is not None:
            channels = self.encoder.out_channels
            self.dca_stages = tuple(i for i in SKIPS if channels[i] > 0)  # mit_b*: the stride-2 feature is empty
            first_stride = 2 ** self.dca_stages[0]
            patch = dca.patch_size or TOKEN_GRID_STRIDE // first_stride
            stride = math.lcm(stride, first_stride * patch)
        self.set_size_rule(stride, img_size)
        if dca is not None:
            self.dca = build_dca(
                [channels[i] for i in self.dca_stages], img_size // first_stride, dca, default_patch_size=patch
            )

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        features = self.encoder(x)
        if self.dca is not None:
            features = list(features)
            refined = self.dca([features[i] for i in self.dca_stages])
            for i, f in zip(self.dca_stages, refined, strict=True):
                features[i] = f
        return self.segmentation_head(self.decoder(features))


def read_encoder_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """A local weights file's tensors; keys of a whole smp model are reduced to its ``encoder.`` part."""
    state = read_state_dict(path)
    if any(k.startswith("encoder.") for k in state):
        state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    return state


def load_encoder_weights(model: SmpUnetDCA, encoder_name: str, path: str | os.PathLike[str]) -> None:
    """Load a local encoder state dict into ``model.encoder``.

    A file made for 3-channel images also loads into a model with other input channels: its first convolution is
    adapted the way smp adapts pretrained weights (summed for 1 channel, cycled and rescaled otherwise).
    """
    state = read_encoder_state_dict(path)
    try:
        model.encoder.load_state_dict(dict(state))  # some smp encoders edit the dict they get (drop heads, rename)
    except RuntimeError as err:
        if model.in_channels == 3:
            raise RuntimeError(f"{path} does not match the {encoder_name} encoder: {err}") from err
        rgb = smp.encoders.get_encoder(encoder_name, in_channels=3, depth=ENCODER_DEPTH, weights=None)
        try:
            rgb.load_state_dict(dict(state))
        except RuntimeError as err_rgb:
            raise RuntimeError(
                f"{path} matches the {encoder_name} encoder neither with {model.in_channels} nor with 3 "
                f"input channels: {err}"
            ) from err_rgb
        rgb.set_in_channels(model.in_channels, pretrained=True)
        model.encoder.load_state_dict(rgb.state_dict())


def _register(encoder_name: str) -> None:
    """Register ``smp-unet-<encoder_name>`` (options: the ``dca_*`` ones and ``encoder_weights``)."""

    def construct(
        in_channels: int, num_classes: int, dca: DCAOptions | None, img_size: int, options: dict[str, object]
    ) -> nn.Module:
        return SmpUnetDCA(encoder_name, in_channels, num_classes, dca=dca, img_size=img_size)

    def load(model: SmpUnetDCA, path: Path) -> None:
        load_encoder_weights(model, encoder_name, path)

    register_builder(
        f"smp-unet-{encoder_name}",
        construct,
        doc=f"smp U-Net with the {encoder_name} encoder (``encoder_weights``: None or a local state-dict file), "
        f"optionally with DCA on its four skips.",
        module=__name__,
        weights=(load, WEIGHTS_ADVICE),
        function_name=f"smp_unet_{encoder_name}",
    )


for _encoder in smp.encoders.get_encoder_names():
    _register(_encoder)
