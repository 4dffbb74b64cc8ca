"""The public entry point: shapes, dtypes and ranges for every method and input kind, and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from dca.enhance import METHODS, check_method, enhance, params_dict


def _image(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """A deterministic textured image of ``shape`` as uint8, float32 or float64 in [0, 1]."""
    rng = np.random.default_rng(1)
    u8 = rng.integers(60, 190, size=shape).astype(np.uint8)
    return u8 if dtype == "uint8" else (u8 / 255.0).astype(dtype)


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("shape", [(33, 41), (33, 41, 3), (24, 24, 1)])
@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64"])
def test_output_is_float32_in_unit_range_with_input_shape(method: str, shape: tuple[int, ...], dtype: str) -> None:
    out = enhance(_image(shape, dtype), method)
    assert out.shape == shape
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("method", sorted(METHODS))
def test_uint8_and_float_inputs_agree(method: str) -> None:
    u8 = _image((40, 36, 3), "uint8")
    np.testing.assert_allclose(enhance(u8, method), enhance(u8 / 255.0, method), atol=1e-5)


def test_float_input_outside_unit_range_is_clipped() -> None:
    x = _image((20, 20), "float64")
    wild = x.copy()
    wild[0, 0], wild[0, 1], wild[0, 2] = -3.0, 7.0, np.nan
    clipped = x.copy()
    clipped[0, 0], clipped[0, 1], clipped[0, 2] = 0.0, 1.0, 0.0
    np.testing.assert_array_equal(enhance(wild, "fuzzy"), enhance(clipped, "fuzzy"))


def test_unknown_method_lists_the_methods() -> None:
    with pytest.raises(ValueError, match=r"clahe.*fuzzy.*he"):
        enhance(_image((8, 8), "uint8"), "zero-dce")


def test_unknown_parameter_is_named() -> None:
    with pytest.raises(ValueError, match="window_count"):
        enhance(_image((8, 8), "uint8"), "fuzzy", window_count=3)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("fuzzy", {"windows": 0}),
        ("fuzzy", {"membership": "gauss"}),
        ("fuzzy", {"eps": 0.0}),
        ("fuzzy", {"color": "lrgb"}),
        ("clahe", {"clip_limit": 0.0}),
        ("he", {"nbins": 1}),
    ],
)
def test_invalid_parameter_values_raise(method: str, params: dict) -> None:
    with pytest.raises(ValueError, match=method):
        enhance(_image((8, 8), "uint8"), method, **params)


@pytest.mark.parametrize("shape", [(8,), (2, 8, 8, 3), (0, 5)])
def test_bad_shapes_raise(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="shape"):
        enhance(np.zeros(shape, np.uint8), "fuzzy")


def test_bad_dtype_raises() -> None:
    with pytest.raises(TypeError, match="uint16"):
        enhance(np.zeros((8, 8), np.uint16), "he")


def test_params_dict_fills_every_default() -> None:
    params = params_dict("fuzzy", windows=3)
    assert params["windows"] == 3
    assert set(params) == {"windows", "membership", "sigma_u", "eps", "color", "levels"}
    assert params_dict("clahe") == {"clip_limit": 0.01, "kernel_size": None, "nbins": 256}


def test_check_method_says_unknown_and_lists_the_methods() -> None:
    with pytest.raises(ValueError, match=r"unknown enhancement method 'fuzzyy'; the methods are: clahe, fuzzy, he"):
        check_method("fuzzyy")
    check_method("fuzzy")
