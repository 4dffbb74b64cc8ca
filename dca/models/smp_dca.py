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
multiples of (first DCA stage stride) x (patch size), 16 by default; without DCA any size smp accepts works.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import segmentation_models_pytorch as smp
import torch
from torch import Tensor, nn

from dca.models.registry import register_model, reject_unknown, split_dca_options
from dca.models.sizes import check_size
from dca.nn.dca import DCAOptions, build_dca

ENCODER_DEPTH = 5  # smp's default: features at strides 1, 2, 4, 8, 16, 32
SKIPS = (1, 2, 3, 4)  # indices of the decoder's skips in the encoder's feature list (strides 2..16)
TOKEN_GRID_STRIDE = 16  # default DCA token grid: the deepest skip's resolution, e.g. 14x14 for a 224 input
WEIGHT_NAMES = frozenset(w for e in smp.encoders.encoders.values() for w in e["pretrained_settings"])


class SmpUnetDCA(smp.Unet):
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
        if dca is None:
            self.dca = None
            self.dca_stages: tuple[int, ...] = ()
            return
        channels = self.encoder.out_channels
        self.dca_stages = tuple(i for i in SKIPS if channels[i] > 0)  # mit_b*: the stride-2 feature has 0 channels
        first_stride = 2 ** self.dca_stages[0]
        patch = dca.patch_size or TOKEN_GRID_STRIDE // first_stride
        self.size_multiple = first_stride * patch
        check_size(self.model_name, img_size, img_size, self.size_multiple, what="img_size")
        self.dca = build_dca(
            [channels[i] for i in self.dca_stages], img_size // first_stride, dca, default_patch_size=patch
        )

    def forward(self, x: Tensor) -> Tensor:
        features = self.encoder(x)
        if self.dca is not None:
            check_size(self.model_name, x.shape[-2], x.shape[-1], self.size_multiple)
            features = list(features)
            refined = self.dca([features[i] for i in self.dca_stages])
            for i, f in zip(self.dca_stages, refined, strict=True):
                features[i] = f
        return self.segmentation_head(self.decoder(features))


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Tensors of a local weights file: ``.safetensors`` or a ``torch.save``-d state dict (a ``state_dict`` entry
    of a checkpoint is unwrapped; keys of a whole smp model are reduced to its ``encoder.`` part)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: object = load_file(path, device="cpu")
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    if any(k.startswith("encoder.") for k in state):
        state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    return dict(state)


def load_encoder_weights(model: SmpUnetDCA, encoder_name: str, path: str | os.PathLike[str]) -> None:
    """Load a local encoder state dict into ``model.encoder``.

    A file made for 3-channel images also loads into a model with other input channels: its first convolution is
    adapted the way smp adapts pretrained weights (summed for 1 channel, cycled and rescaled otherwise).
    """
    state = read_state_dict(path)
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


def check_weights_option(model: str, value: object) -> Path | None:
    """The local weights file named by ``encoder_weights`` (None: random init); names and missing files fail."""
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike):
        raise ValueError(f"{model}: encoder_weights must be None or a local file path, got {value!r}")
    path = Path(value).expanduser()
    if path.is_file():
        return path
    advice = (
        "No weights are downloaded here: download the encoder's weights elsewhere (e.g. model.safetensors from the "
        "smp Hugging Face repository of the encoder) and pass the local file as encoder_weights=<path>."
    )
    if str(value) in WEIGHT_NAMES or (path.suffix == "" and len(path.parts) == 1):
        raise ValueError(
            f"{model}: encoder_weights={str(value)!r} is not a file; weight names such as 'imagenet' are not "
            f"supported. {advice}"
        )
    raise FileNotFoundError(f"{model}: encoder weights file {str(path)!r} does not exist. {advice}")


def _builder(encoder_name: str) -> Callable[..., nn.Module]:
    name = f"smp-unet-{encoder_name}"

    def build(*, dca: bool, in_channels: int, num_classes: int, img_size: int, **options: object) -> nn.Module:
        dca_options, rest = split_dca_options(name, dca, options)
        weights = check_weights_option(name, rest.pop("encoder_weights", None))
        reject_unknown(name, rest)
        model = SmpUnetDCA(encoder_name, in_channels, num_classes, dca=dca_options, img_size=img_size)
        if weights is not None:
            load_encoder_weights(model, encoder_name, weights)
        return model

    build.__name__ = build.__qualname__ = f"smp_unet_{encoder_name}"
    build.__doc__ = (
        f"smp U-Net with the {encoder_name} encoder (``encoder_weights``: None or a local state-dict file), "
        f"optionally with DCA on its four skips."
    )
    return build


for _encoder in smp.encoders.get_encoder_names():
    register_model(f"smp-unet-{_encoder}")(_builder(_encoder))
