"""The 3D U-Net, plain and with DCA: shapes, gradients, per-axis sizes and their errors."""

from __future__ import annotations

import re

import pytest
import torch

from dca.models import build_model, check_model

ACDC_POOLING = [(1, 2, 2), (1, 2, 2), (2, 2, 2), (2, 2, 2)]  # the slice axis pooled in the deeper stages only


@pytest.mark.parametrize("dca", [False, True], ids=["plain", "dca"])
def test_forward_backward_on_64_cubed(dca):
    torch.manual_seed(0)
    model = build_model("unet3d", dca=dca, in_channels=1, num_classes=3, img_size=64, width=0.0625)
    out = model(torch.randn(1, 1, 64, 64, 64))
    assert out.shape == (1, 3, 64, 64, 64)
    out.square().mean().backward()
    # SCA key biases shift whole softmax rows: their exact gradient is zero.
    dead = [
        n
        for n, p in model.named_parameters()
        if p.grad is None or not torch.isfinite(p.grad).all() or not (p.grad.abs().sum() > 0 or ".sca.k." in n)
    ]
    assert not dead, f"parameters without a finite gradient: {dead}"
    assert (model.dca is not None) == dca
    if dca:
        assert model.dca.strides == [(8, 8, 8), (4, 4, 4), (2, 2, 2), (1, 1, 1)]


def test_anisotropic_volumes_get_per_axis_pooling_and_patches():
    model = build_model(
        "unet3d", dca=True, in_channels=1, num_classes=4, img_size=(8, 32, 32), width=0.0625, pooling=ACDC_POOLING
    )
    assert model.dca.strides == [(2, 8, 8), (2, 4, 4), (2, 2, 2), (1, 1, 1)]  # default: the deepest skip's scale
    assert model.size_multiple == (4, 16, 16)
    assert model(torch.randn(2, 1, 8, 32, 32)).shape == (2, 4, 8, 32, 32)


@pytest.mark.parametrize(
    ("options", "img_size", "message"),
    [
        (
            {},
            (20, 64, 64),
            r"unet3d: img_size 20x64x64 \(DxHxW\) is not valid.*Nearest valid sizes: 16x64x64 or 32x64x64",
        ),
        ({"dca_patch_size": (4, 8, 8)}, 64, r"on axis 0 it must be divisible by 8"),
        ({"pooling": [(1, 2, 2)] * 3}, 64, r"unet3d: pooling must be 4 factors"),
        ({"pooling": [(3, 2, 2)] * 4}, 64, r"unet3d: pooling must be 4 factors of 1 or 2"),
        ({}, (64, 64), r"unet3d: img_size must be an int or \(D, H, W\)"),
        ({"depth": 5}, 64, r"unet3d: unknown option\(s\) depth; known options: .*pooling"),
    ],
)
def test_bad_specs_are_named(options, img_size, message):
    with pytest.raises(ValueError, match=message):
        check_model("unet3d", True, options, in_channels=1, num_classes=2, img_size=img_size)


def test_input_shape_errors_name_the_shape():
    with torch.device("meta"):
        model = build_model("unet3d", img_size=32, width=0.0625)
        with pytest.raises(ValueError, match=re.escape("expects volumes (B, C, D, H, W), got a tensor of shape")):
            model(torch.randn(1, 3, 32, 32))
        with pytest.raises(ValueError, match="input size 32x32x24"):
            model(torch.randn(1, 3, 32, 32, 24))


def test_2d_models_refuse_per_axis_patch_sizes():
    with pytest.raises(ValueError, match="only volumetric models"):
        build_model("unet", dca=True, dca_patch_size=(8, 8))
