"""The one form of the DCA host models, in the spirit of smp's ``SegmentationModel``.

A host model is encoder features -> optional DCA on the skips -> decoder -> head. :class:`HostModel` owns the
input-size rule (one check, the nearest valid sizes in its message), the DCA module on the skips and the forward
that wires the parts; :func:`register_host` is the one builder (DCA options, the width factor, nothing else).
A model file only defines its parts: ``encode`` (skips and the deepest feature) and ``decode``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar, TypeVar

from torch import Tensor, nn

from dca.models.registry import DCA_OPTION_NAMES, register_model, reject_unknown, split_dca_options
from dca.models.sizes import DEFAULT_PATCH_SIZE, DOWNSAMPLING, check_size, size_multiple
from dca.nn.dca import DCAOptions, DualCrossAttention, build_dca

PAPER_WIDTHS = (64, 128, 256, 512, 1024)  # the official stage widths at width factor 1
DEFAULT_WIDTH = 0.5  # the paper's width factor k

Host = TypeVar("Host", bound="HostModel")


class HostModel(nn.Module):
    """A DCA host model: one input-size rule (checked at construction and on every input) and its DCA modules.

    Subclasses set ``downsampling`` and ``default_patch_size`` where they differ from the four-pooling models,
    call ``super().__init__(dca, img_size)`` first and build their parts (DCA modules from :meth:`skip_dca`).
    """

    model_name: ClassVar[str] = "model"  # set by register_host
    downsampling: ClassVar[int] = DOWNSAMPLING
    default_patch_size: ClassVar[int] = DEFAULT_PATCH_SIZE

    def __init__(self, dca: DCAOptions | None, img_size: int) -> None:
        super().__init__()
        self.size_multiple = size_multiple(dca, self.downsampling, self.default_patch_size)
        check_size(self.model_name, img_size, img_size, self.size_multiple, what="img_size")

    def skip_dca(self, channels: Sequence[int], img_size: int, dca: DCAOptions | None) -> DualCrossAttention | None:
        """The DCA module on skips of ``channels`` (stage i at img_size / 2**i), or None without DCA."""
        return None if dca is None else build_dca(channels, img_size, dca, self.default_patch_size)

    def check_input(self, x: Tensor) -> None:
        """Raise a ValueError with the nearest valid sizes unless H and W divide by ``size_multiple``."""
        check_size(self.model_name, x.shape[-2], x.shape[-1], self.size_multiple)


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


def register_host(
    name: str, *, width: float | None = DEFAULT_WIDTH, doc: str = ""
) -> Callable[[type[Host]], type[Host]]:
    """Class decorator: register the host model under ``name`` with the one shared builder.

    The builder takes the ``dca_*`` options and ``width`` (default ``width``). ``width=None`` marks an official
    model that ignores the width factor: the option is accepted and checked, but not passed on. The class is
    built as ``cls(in_channels, num_classes, dca=..., img_size=..., [width=...])``.
    """

    def wrap(cls: type[Host]) -> type[Host]:
        cls.model_name = name
        known = ("width", *DCA_OPTION_NAMES)

        def build(*, dca: bool, in_channels: int, num_classes: int, img_size: int, **options: object) -> nn.Module:
            dca_options, rest = split_dca_options(name, dca, options)
            factor = check_width(name, rest.pop("width", width))
            reject_unknown(name, rest, known)
            extra = {} if width is None else {"width": factor}
            return cls(in_channels, num_classes, dca=dca_options, img_size=img_size, **extra)

        build.__module__ = cls.__module__  # the registry loads a name from the module that defines it
        build.__name__ = build.__qualname__ = name
        build.__doc__ = doc or cls.__doc__
        register_model(name)(build)
        return cls

    return wrap
