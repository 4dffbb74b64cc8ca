"""Dual Interaction Network (DIN, Noh, Jeon, Park 2025): two ConvNeXt encoders, a DIFM on each skip, MLP decoder.

The original image I and the enhanced image E go through their own encoders (``dca.models.din.encoder``); at each
of the four stages a DIFM (``dca.models.din.difm``) fuses the two images' edge and shape features, and the decoder
takes the four fused maps (the DIFMs sit on the skip connections, Fig. 2a; the encoders run unchanged). Forward:
``model(image, enhanced)`` -> logits ``(B, num_classes, H, W)``; H and W must be multiples of 8.

Registered as ``din`` (the paper's sizes: 225.67M parameters and 1630.6 GMACs at 224x224 with the default FFN,
323.16M and 1860.8 GMACs, the paper's budget, with ``ffn="conv3x3-4c"``; ``docs/din.md``) and
``din-tiny`` (widths 8/16/32/64, one block per stage, 32-channel decoder, 4x4 windows, 8-channel heads) for CPU
tests. Options, every one an ablation of the paper (defaults = the paper's model):

- ``fusion``: ``"layer"`` two encoders fused by DIFMs (Ours); ``"input"`` I and E concatenated along channels into
  one encoder (Ours_IF, Table 5); ``"none"`` one encoder on the first input only, ``model(x)`` (only I / only E of
  Tables 4, 5, 9, 10: which image it sees is the run's data choice). Single-encoder models use the DIFM with
  self-attention ("MHSA in place of DIFM").
- ``num_difm``: 0-4 stages with a DIFM, largest resolution first (Table 6 removes the smallest first).
  ``removed_difm``: ``"drop"`` (default; the text: "removed DIFMs by first excluding the feature map with the smallest
  resolution") excludes a removed DIFM's feature map from the decoder and does not build its stage; ``"concat"`` passes
  the concatenation of the two images' shape features (one image's with one encoder) instead. ``num_difm=0`` with
  ``fusion="layer"`` is Ours_concat (Table 5) and Table 3's first row under both readings.
- ``ffn``: ``"conv1x1-2c"`` (default, the text's "doubling the channel dimension") or ``"conv3x3-4c"`` (the
  reading the paper's parameter budget needs), Eq. 4-5.
- ``gsa_gate``: ``"pixel"`` (Eq. 6, channel mean per position) or ``"channel"`` (mean per channel), Eq. 6.
- ``encoder_weights``: ``"imagenet"`` (timm's ImageNet ``convnext_base``, from the Hugging Face cache or downloaded),
  a local timm/torchvision ConvNeXt-base state dict for both encoders, or None / ``"none"`` (from scratch); what
  loaded is listed in ``model.weights_report`` (``dca.models.din.pretrained``).
- ``directions``: ``"both"`` (F_IE + F_EI), ``"ie"`` or ``"ei"`` (uni-directional, Table 7).
- ``feature_merging``, ``attention``, ``global_spatial_attention``: DIFM parts (b), (a), (c) of Table 3.
- ``decoder``: ``"mlp"`` (SegFormer) or ``"emcad"`` (Tables 11-12).
- sizes: ``widths``, ``depths``, ``decoder_dim``, ``window``, ``head_dim``.

The second input's kind (original, HE, CLAHE, fuzzy, Table 4) is a data choice: the model takes what it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

from dca.models.base import SizedModel, register_builder
from dca.models.din.decoders import MLPDecoder
from dca.models.din.difm import DIFM, DIRECTIONS, FFNS, GSA_GATES, SELF_ATTENTION
from dca.models.din.emcad import EMCADDecoder
from dca.models.din.encoder import ConvNeXtEncoder
from dca.models.din.pretrained import IMAGENET, WEIGHTS_ADVICE, building_on_meta, imagenet_file, load_convnext_weights
from dca.models.registry import reject_unknown
from dca.models.weights import weights_file
from dca.nn.dca import DCAOptions

FUSIONS = ("layer", "input", "none")
DECODERS = ("mlp", "emcad")
REMOVED_DIFM = ("drop", "concat")  # Table 6: what a stage without DIFM gives the decoder
STAGES = 4
TINY = {"widths": (8, 16, 32, 64), "depths": (1, 1, 1, 1), "decoder_dim": 32, "window": 4, "head_dim": 8}


@dataclass(frozen=True)
class DINConfig:
    """DIN's options (defaults = the paper's model); validated on construction with messages naming the option."""

    fusion: str = "layer"
    num_difm: int = STAGES
    directions: str = "both"
    feature_merging: bool = True
    attention: bool = True
    global_spatial_attention: bool = True
    decoder: str = "mlp"
    removed_difm: str = "drop"
    ffn: str = "conv1x1-2c"
    gsa_gate: str = "pixel"
    widths: tuple[int, ...] = (128, 256, 512, 1024)
    depths: tuple[int, ...] = (3, 3, 27, 3)
    decoder_dim: int = 768
    window: int = 7
    head_dim: int = 32

    def __post_init__(self) -> None:
        _choice("fusion", self.fusion, FUSIONS)
        _choice("decoder", self.decoder, DECODERS)
        _choice("directions", self.directions, tuple(DIRECTIONS))
        _choice("removed_difm", self.removed_difm, REMOVED_DIFM)
        _choice("ffn", self.ffn, tuple(FFNS))
        _choice("gsa_gate", self.gsa_gate, GSA_GATES)
        for name in ("feature_merging", "attention", "global_spatial_attention"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"din: {name} must be true or false, got {getattr(self, name)!r}")
        for name in ("widths", "depths"):
            value = getattr(self, name)
            if len(value) != STAGES or not all(_positive_int(v) for v in value):
                raise ValueError(f"din: {name} must be {STAGES} positive integers, got {list(value)}")
        for name in ("decoder_dim", "window", "head_dim"):
            if not _positive_int(getattr(self, name)):
                raise ValueError(f"din: {name} must be a positive integer, got {getattr(self, name)!r}")
        if not _int_in(self.num_difm, 0, STAGES):
            raise ValueError(f"din: num_difm must be an integer from 0 to {STAGES}, got {self.num_difm!r}")
        if self.directions != "both" and (self.fusion != "layer" or not self.attention or not self.num_difm):
            raise ValueError(
                f"din: directions={self.directions!r} needs the dual cross-attention "
                "(fusion='layer', attention=true, num_difm >= 1)"
            )

    @property
    def stages(self) -> int:
        """Stages the model builds: all four, or with ``removed_difm='drop'`` only those with a DIFM (the
        features of the others reach nothing). ``num_difm=0`` is Ours_concat, which keeps all four."""
        return self.num_difm if self.removed_difm == "drop" and self.num_difm else STAGES

    @classmethod
    def from_options(cls, model: str, options: dict[str, object], extra: tuple[str, ...] = ()) -> DINConfig:
        """Build from builder options: unknown names are an error (``extra`` names the builder's own options,
        which it removed); lists (from YAML) become tuples."""
        names = {f.name for f in fields(cls)}
        reject_unknown(model, {k: v for k, v in options.items() if k not in names}, (*names, *extra))
        values = {k: tuple(v) if isinstance(v, list | tuple) else v for k, v in options.items()}
        return cls(**values)  # type: ignore[arg-type]


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    """Raise a ValueError naming the option unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"din: {name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def _int_in(value: object, low: int, high: float) -> bool:
    """True for an int (not a bool) from ``low`` to ``high``."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _positive_int(value: object) -> bool:
    """True for an int (not a bool) >= 1."""
    return _int_in(value, 1, float("inf"))


class DIN(SizedModel):
    """DIN with every ablation of the paper selected by a :class:`DINConfig`."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        config: DINConfig | None = None,
        img_size: int = 224,
        name: str = "din",
    ) -> None:
        super().__init__()
        config = config or DINConfig()
        self.config = config
        self.model_name = name
        stages = config.stages
        self.set_size_rule(2 ** (stages - 1), img_size)  # a 2x pooling before each stage but the first
        streams = 2 if config.fusion == "layer" else 1
        encoder_in = 2 * in_channels if config.fusion == "input" else in_channels
        edge_stages = config.num_difm if config.feature_merging else 0
        widths, depths = config.widths[:stages], config.depths[:stages]
        self.encoders = nn.ModuleList(ConvNeXtEncoder(encoder_in, widths, depths, edge_stages) for _ in range(streams))
        directions = DIRECTIONS[config.directions] if streams == 2 else SELF_ATTENTION
        self.fusions = nn.ModuleList(
            DIFM(
                width,
                streams,
                directions,
                feature_merging=config.feature_merging,
                attention=config.attention,
                global_spatial_attention=config.global_spatial_attention,
                window=config.window,
                head_dim=config.head_dim,
                ffn=config.ffn,
                gsa_gate=config.gsa_gate,
            )
            if stage < config.num_difm
            else DIFM(width, streams, feature_merging=False, attention=False, global_spatial_attention=False)
            for stage, width in enumerate(widths)
        )
        decoder_in = [fusion.out_channels for fusion in self.fusions]
        self.decoder: nn.Module = (
            MLPDecoder(decoder_in, num_classes, config.decoder_dim)
            if config.decoder == "mlp"
            else EMCADDecoder(decoder_in, num_classes)
        )

    @property
    def num_inputs(self) -> int:
        """How many images ``forward`` takes: 1 with ``fusion='none'``, else 2 (image, enhanced)."""
        return 1 if self.config.fusion == "none" else 2

    def forward(self, image: Tensor, enhanced: Tensor | None = None) -> Tensor:
        self.check_input(image)
        streams = self._streams(image, enhanced)
        edges, shapes = zip(*(encoder(x) for encoder, x in zip(self.encoders, streams, strict=True)), strict=True)
        fused = [
            fusion([s[i] for s in shapes], [e[i] for e in edges if i < len(e)]) for i, fusion in enumerate(self.fusions)
        ]
        return self.decoder(fused)

    def _streams(self, image: Tensor, enhanced: Tensor | None) -> list[Tensor]:
        """The encoders' inputs: [I, E], [concat(I, E)] or [I] by ``fusion``; E is required unless fusion='none'."""
        fusion = self.config.fusion
        if fusion == "none":
            return [image]
        if enhanced is None:
            raise ValueError(
                f"din: fusion={fusion!r} takes two inputs, call model(image, enhanced) "
                "(list the enhanced input in the run's data inputs), or use fusion='none' for a single input"
            )
        if enhanced.shape != image.shape:
            raise ValueError(f"din: image {tuple(image.shape)} and enhanced {tuple(enhanced.shape)} differ in shape")
        return [torch.cat([image, enhanced], dim=1)] if fusion == "input" else [image, enhanced]

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per part, as the paper splits them (section 4.5): encoders, DIFMs, decoder and total."""
        parts = {
            "encoders": _count(self.encoders),
            "difm": _count(self.fusions),
            "decoder": _count(self.decoder),
        }
        parts["total"] = sum(parts.values())
        return parts


def _count(module: nn.Module) -> int:
    """Number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


def _register(name: str, preset: dict[str, object], doc: str) -> None:
    """Register ``name`` with the shared builder: no DCA variant, the options overlaid on ``preset``, then
    ``encoder_weights`` loaded (``dca.models.din.pretrained``)."""

    def construct(
        in_channels: int, num_classes: int, dca: DCAOptions | None, img_size: int, options: dict[str, object]
    ) -> DIN:
        options = dict(options)
        value = options.pop("encoder_weights", None)
        named = isinstance(value, str) and value.lower() in (IMAGENET, "none")
        weights = None if named else weights_file(name, value, WEIGHTS_ADVICE)
        config = DINConfig.from_options(name, {**preset, **options}, extra=("encoder_weights",))
        model = DIN(in_channels, num_classes, config, img_size=img_size, name=name)
        if named and value.lower() == IMAGENET and not building_on_meta():  # check_model downloads nothing
            weights = imagenet_file()
        if weights is not None:
            model.weights_report = load_convnext_weights(model.encoders, weights)
        return model

    register_builder(
        name,
        construct,
        doc=doc,
        module=__name__,
        known=None,  # DINConfig.from_options names the unknown options with DIN's own
        no_dca="DIN has no DCA variant (got dca=True); its skip fusion is the DIFM (options fusion, num_difm)",
        function_name=name.replace("-", "_"),
    )


_register(
    "din", {}, "DIN at the paper's sizes: ConvNeXt-base encoders (3-3-27-3), four DIFMs, 768-channel MLP decoder."
)
_register("din-tiny", TINY, "DIN scaled down for CPU tests (``TINY`` sizes); every option of ``din`` applies.")
