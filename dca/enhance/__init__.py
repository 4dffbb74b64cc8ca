"""Image enhancement for the second encoder of DIN: fuzzy (Patrascu, the paper's E image), HE and CLAHE (Table 4).

``enhance(image, method, **params)`` is the one entry point: a uint8 or float (H, W) or (H, W, C) image in, float32
in [0, 1] of the same shape out. Each method's parameters are a frozen dataclass, so the parameters recorded next
to a cached dataset (``params.json``) are the complete, resolved set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, NamedTuple

import numpy as np

from dca.enhance.fuzzy import FuzzyParams, fuzzy_enhance
from dca.enhance.histogram import CLAHEParams, HEParams, clahe, equalize


class Method(NamedTuple):
    """An enhancement: its parameter dataclass and the function taking (image, params)."""

    params: type
    apply: Callable[[np.ndarray, Any], np.ndarray]


METHODS: dict[str, Method] = {
    "fuzzy": Method(FuzzyParams, fuzzy_enhance),
    "he": Method(HEParams, equalize),
    "clahe": Method(CLAHEParams, clahe),
}


def check_method(method: str) -> None:
    """A ValueError for an unknown enhancement method (a typo such as ``fuzzyy``), listing the known ones."""
    if method not in METHODS:
        raise ValueError(f"unknown enhancement method {method!r}; the methods are: {', '.join(sorted(METHODS))}")


def resolve_params(method: str, **params: Any) -> Any:
    """The parameter dataclass of ``method`` built from ``params``; unknown methods or keys raise ValueError."""
    check_method(method)
    cls = METHODS[method].params
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"{method}: unknown parameter(s) {unknown}; known: {sorted(known)}")
    return cls(**params)


def params_dict(method: str, **params: Any) -> dict[str, Any]:
    """The complete, resolved parameters of ``method`` as a plain dict (defaults filled in)."""
    return asdict(resolve_params(method, **params))


def enhance(image: np.ndarray, method: str, **params: Any) -> np.ndarray:
    """Enhance ``image`` with ``method`` (``fuzzy``, ``he``, ``clahe``); float32 in [0, 1], same shape."""
    resolved = resolve_params(method, **params)
    return METHODS[method].apply(image, resolved)


__all__ = ["METHODS", "check_method", "enhance", "params_dict", "resolve_params"]
