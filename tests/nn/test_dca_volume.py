"""The DCA block on volumes: the same module with 3D pooling and trilinear output, against the transcription."""

from __future__ import annotations

import pytest
import torch

from dca.nn.dca import DCAOptions, DualCrossAttention, build_dca
from dca.nn.dca_reference import reference_forward

CHANNELS = [4, 8, 8, 16]
# Anisotropic strides: the slice axis pooled less, as a host that pools it only in its deeper stages.
STRIDES = [(2, 4, 4), (2, 2, 2), (1, 1, 1), (1, 1, 1)]
SIZES = [(4, 8, 8), (4, 4, 4), (2, 2, 2), (2, 2, 2)]


def _volumes(batch: int = 2) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(batch, c, *s, generator=g, dtype=torch.float64) for c, s in zip(CHANNELS, SIZES)]


@pytest.mark.parametrize("patch_embed", ["avgpool", "conv"])
def test_volume_forward_and_gradients_equal_the_transcription(patch_embed):
    torch.manual_seed(0)
    m = DualCrossAttention(CHANNELS, STRIDES, patch_embed=patch_embed, dims=3).double()
    feats = [f.requires_grad_() for f in _volumes()]
    ours = m(feats)
    ref = reference_forward(m, feats)
    for a, b, f in zip(ours, ref, feats):
        assert a.shape == f.shape
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    grads = torch.autograd.grad(sum(o.square().sum() for o in ours), feats)
    ref_grads = torch.autograd.grad(sum(o.square().sum() for o in ref), feats)
    for a, b in zip(grads, ref_grads):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-9)


def test_build_dca_takes_per_axis_sizes_and_scales():
    scales = [(1, 1, 1), (1, 2, 2), (1, 4, 4), (2, 8, 8)]
    m = build_dca(CHANNELS, (16, 64, 64), DCAOptions(patch_size=(2, 8, 8)), 8, scales)
    assert m.dims == 3
    assert m.strides == [(2, 8, 8), (2, 4, 4), (2, 2, 2), (1, 1, 1)]
    assert build_dca(CHANNELS, (32, 32, 32), DCAOptions(), 8).strides == [(8, 8, 8), (4, 4, 4), (2, 2, 2), (1,) * 3]
    with pytest.raises(ValueError, match="on axis 0 it must be divisible by 2"):
        build_dca(CHANNELS, (16, 64, 64), DCAOptions(patch_size=(1, 8, 8)), 8, scales)
    with pytest.raises(ValueError, match=r"not divisible by dca_patch_size=.*on axis 0"):
        build_dca(CHANNELS, (12, 64, 64), DCAOptions(patch_size=8), 8)
    with pytest.raises(ValueError, match="has 2 axes; the features have 3"):
        build_dca(CHANNELS, (16, 64, 64), DCAOptions(patch_size=(8, 8)), 8)


@pytest.mark.parametrize("patch_size", [(8, 0, 8), (), 2.5, [8, True, 8]])
def test_bad_patch_sizes_are_named(patch_size):
    with pytest.raises(ValueError, match="dca_patch_size must be a positive integer or a tuple"):
        DCAOptions(patch_size=patch_size)


def test_a_2d_module_refuses_volumes():
    m = DualCrossAttention([4, 8], [2, 1])
    with pytest.raises(ValueError, match="do not divide into one common token grid"):
        m([torch.randn(1, 4, 4, 4, 4), torch.randn(1, 8, 2, 2, 2)])
    with pytest.raises(ValueError, match="dims must be 2 or 3"):
        DualCrossAttention([4], [1], dims=1)
