"""Model registry: every architecture is a named builder, looked up from config.

Builders are registered with :func:`register_model` and share one signature,
``builder(*, dca, in_channels, num_classes, img_size, **options) -> nn.Module``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import fields

from torch import nn

from dca.nn.dca import DCAOptions

Builder = Callable[..., nn.Module]
_REGISTRY: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Decorator that registers ``builder`` under ``name`` (names are unique)."""

    def wrap(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = builder
        return builder

    return wrap


def list_models() -> list[str]:
    """Names accepted by :func:`build_model`, sorted."""
    _load_builtin_models(None)
    return sorted(_REGISTRY)


def build_model(
    name: str,
    *,
    dca: bool = False,
    in_channels: int = 3,
    num_classes: int = 1,
    img_size: int | tuple[int, ...] = 224,
    **options: object,
) -> nn.Module:
    """Build the registered model ``name``; ``options`` are model and DCA options.

    The forward of every model takes ``(B, in_channels, H, W)`` and returns logits
    ``(B, num_classes, H, W)``; volumetric models (``unet3d``) take and return ``(B, C, D, H, W)``,
    with ``img_size`` an int or (D, H, W).
    """
    _load_builtin_models(name)
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    if in_channels < 1 or num_classes < 1:
        raise ValueError(f"{name}: in_channels and num_classes must be >= 1, got {in_channels}, {num_classes}")
    return _REGISTRY[name](dca=dca, in_channels=in_channels, num_classes=num_classes, img_size=img_size, **options)


_DCA_KEYS = {f"dca_{f.name}": f.name for f in fields(DCAOptions)}
DCA_OPTION_NAMES = tuple(sorted(_DCA_KEYS))  # the ``dca_*`` options every host model accepts


def split_dca_options(model: str, dca: bool, options: dict[str, object]) -> tuple[DCAOptions | None, dict[str, object]]:
    """Separate ``dca_*`` options into a :class:`DCAOptions` (None when ``dca`` is off).

    Returns it and the remaining (model-specific) options. DCA options given with
    ``dca=False`` are an error rather than silently ignored.
    """
    dca_kwargs = {}
    rest = {}
    for key, value in options.items():
        if key in _DCA_KEYS:
            dca_kwargs[_DCA_KEYS[key]] = value
        elif key.startswith("dca_"):
            raise TypeError(f"{model}: unknown DCA option {key!r}; known: {', '.join(sorted(_DCA_KEYS))}")
        else:
            rest[key] = value
    if not dca:
        if dca_kwargs:
            raise TypeError(f"{model}: DCA options {', '.join(sorted(dca_kwargs))} given with dca=False")
        return None, rest
    return DCAOptions(**dca_kwargs), rest


def reject_unknown(model: str, options: dict[str, object], known: Iterable[str]) -> None:
    """Fail with the option names, and the ``known`` ones, when a builder got options it does not understand."""
    if options:
        raise TypeError(
            f"{model}: unknown option(s) {', '.join(sorted(options))}; known options: {', '.join(sorted(known))}"
        )


def _load_builtin_models(name: str | None) -> None:
    """Import the modules that register ``name`` (all built-in ones for None or an unknown name)."""
    from dca.models.builtin import modules_for

    for module in modules_for(name):
        importlib.import_module(module)
