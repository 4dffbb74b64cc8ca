"""The one form of the DCA host models, in the spirit of smp's ``SegmentationModel``.

Every model holds one input-size rule (:class:`SizedModel`: one check, the nearest valid sizes in its message) and
is registered through one builder (:func:`register_builder`: the ``dca_*`` options, a local ``encoder_weights`` file,
unknown options refused). A host model is encoder features -> optional DCA on the skips -> decoder -> head:
:class:`HostModel` adds the DCA module on the skips and the forward that wires the parts, :func:`register_host` its
builder (DCA options and the width factor). A host model file only defines its parts: ``encode`` (skips and the
deepest feature) and ``decode``. DIN and the smp U-Nets are sized models with builders of their own options.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from torch import Tensor, nn

from dca.models.registry import DCA_OPTION_NAMES, register_model, reject_unknown, split_dca_options
from dca.models.sizes import DEFAULT_PATCH_SIZE, DOWNSAMPLING, check_size, size_multiple
from dca.models.weights import weights_file
from dca.nn.dca import DCAOptions, DualCrossAttention, build_dca

PAPER_WIDTHS = (64, 128, 256, 512, 1024)  # the official stage widths at width factor 1
DEFAULT_WIDTH = 0.5  # the paper's width factor k

Host = TypeVar("Host", bound="HostModel")
#: ``construct(in_channels, num_classes, dca, img_size, options)``: the model from the options its builder left
Construct = Callable[[int, int, DCAOptions | None, int, dict[str, object]], nn.Module]
#: ``load(model, path)``: copy a checked local ``encoder_weights`` file into the model ``construct`` built
LoadWeights = Callable[[Any, Path], None]


class SizedModel(nn.Module):
    """A model whose input H and W must be multiples of ``size_multiple``: the one rule, set with
    :meth:`set_size_rule` (which checks ``img_size``) and checked on every input by :meth:`check_input`."""

    model_name: str = "model"  # the registered name, which starts every size message
    size_multiple: int

    def set_size_rule(self, multiple: int, img_size: int) -> None:
        """Require H and W to be multiples of ``multiple``; a ValueError now unless ``img_size`` is one."""
        self.size_multiple = multiple
        check_size(self.model_name, img_size, img_size, multiple, what="img_size")

    def check_input(self, x: Tensor) -> None:
        """Raise a ValueError with the nearest valid sizes unless H and W divide by ``size_multiple``."""
        check_size(self.model_name, x.shape[-2], x.shape[-1], self.size_multiple)


class HostModel(SizedModel):
    """A DCA host model: the size rule of its down-sampling (with DCA also of its patch size) and its DCA modules.

    Subclasses set ``downsampling`` and ``default_patch_size`` where they differ from the four-pooling models,
    call ``super().__init__(dca, img_size)`` first and build their parts (DCA modules from :meth:`skip_dca`).
    """

    downsampling: ClassVar[int] = DOWNSAMPLING
    default_patch_size: ClassVar[int] = DEFAULT_PATCH_SIZE

    def __init__(self, dca: DCAOptions | None, img_size: int) -> None:
        super().__init__()
        self.set_size_rule(size_multiple(dca, self.downsampling, self.default_patch_size), img_size)

    def skip_dca(self, channels: Sequence[int], img_size: int, dca: DCAOptions | None) -> DualCrossAttention | None:
        """The DCA module on skips of ``channels`` (stage i at img_size / 2**i), or None without DCA."""
        return None if dca is None else build_dca(channels, img_size, dca, self.default_patch_size)


class EncoderDecoder(HostModel, ABC):
    """Encoder -> optional DCA (``self.dca``) on the skips -> decoder -> ``self.head``: subclasses build the parts
    and implement :meth:`encode` and :meth:`decode`; the forward is this one."""

    dca: nn.Module | None
    head: nn.Module

    @abstractmethod
    def encode(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        """The skips (shallowest first; the ones DCA takes when ``self.dca`` is set) and the deepest feature."""

    @abstractmethod
    def decode(self, x: Tensor, skips: list[Tensor]) -> Tensor:
        """The decoder's output (the head's input) from the deepest feature and the skips."""

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        skips, x = self.encode(x)
        if self.dca is not None:
            skips = self.dca(skips)
        return self.head(self.decode(x, skips))


def scaled_widths(model: str, width: float, base: Sequence[int] = PAPER_WIDTHS) -> list[int]:
    """Stage widths ``int(c * width)``; a ValueError naming the widths when one would be empty."""
    widths = [int(c * width) for c in base]
    if min(widths) < 1:
        raise ValueError(f"{model}: width={width} gives stage widths {widths}; every width must be >= 1")
    return widths


def check_width(model: str, width: object) -> float | None:
    """The width factor as a float (None stays None); anything but a positive number is a ValueError."""
    if width is None:
        return None
    if isinstance(width, bool) or not isinstance(width, int | float) or width <= 0:
        raise ValueError(f"{model}: width must be a positive number, got {width!r}")
    return float(width)


def register_builder(
    name: str,
    construct: Construct,
    *,
    doc: str,
    module: str,
    known: Sequence[str] | None = (),
    weights: tuple[LoadWeights, str] | None = None,
    no_dca: str | None = None,
    function_name: str | None = None,
) -> None:
    """Register under ``name`` the one builder form, ``build(*, dca, in_channels, num_classes, img_size, **options)``.

    The ``dca_*`` options become :class:`DCAOptions` (``no_dca``: the model has no DCA variant, and this text, after
    the name, refuses dca=True); with ``weights=(load, advice)`` an ``encoder_weights`` path is checked to be a local
    file (``advice`` says where to get one) and loaded after construction; any other option outside ``known`` is
    refused before anything is built (``known=None``: ``construct`` checks them). ``construct`` gets the rest.
    ``module`` is the module that defines the model: the registry loads ``name`` from it.
    """

    def build(*, dca: bool, in_channels: int, num_classes: int, img_size: int, **options: object) -> nn.Module:
        if no_dca is not None:
            if dca:
                raise ValueError(f"{name}: {no_dca}")
            dca_options, rest = None, dict(options)
        else:
            dca_options, rest = split_dca_options(name, dca, options)
        path = None if weights is None else weights_file(name, rest.pop("encoder_weights", None), weights[1])
        if known is not None:
            own = (*known, *(("encoder_weights",) if weights else ()), *(() if no_dca else DCA_OPTION_NAMES))
            reject_unknown(name, {k: v for k, v in rest.items() if k not in own}, own)
        model = construct(in_channels, num_classes, dca_options, img_size, rest)
        if path is not None and weights is not None:
            weights[0](model, path)
        return model

    build.__module__ = module
    build.__name__ = build.__qualname__ = function_name or name
    build.__doc__ = doc
    register_model(name)(build)


def register_host(
    name: str, *, width: float | None = DEFAULT_WIDTH, doc: str = ""
) -> Callable[[type[Host]], type[Host]]:
    """Class decorator: register the host model under ``name`` with :func:`register_builder`.

    The builder takes the ``dca_*`` options and ``width`` (default ``width``). ``width=None`` marks an official
    model that ignores the width factor: the option is accepted and checked, but not passed on. The class is
    built as ``cls(in_channels, num_classes, dca=..., img_size=..., [width=...])``.
    """

    def wrap(cls: type[Host]) -> type[Host]:
        cls.model_name = name

        def construct(
            in_channels: int, num_classes: int, dca: DCAOptions | None, img_size: int, options: dict[str, object]
        ) -> nn.Module:
            factor = check_width(name, options.pop("width", width))
            extra = {} if width is None else {"width": factor}
            return cls(in_channels, num_classes, dca=dca, img_size=img_size, **extra)

        register_builder(name, construct, doc=doc or cls.__doc__ or "", module=cls.__module__, known=("width",))
        return cls

    return wrap
