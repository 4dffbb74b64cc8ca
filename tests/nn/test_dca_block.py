"""The DCA block against a direct, slow transcription of the official forward pass."""

from __future__ import annotations

import pytest
import torch

from dca.nn import dca as dca_module
from dca.nn.dca import DCAOptions, DualCrossAttention, build_dca
from dca.nn.dca_reference import reference_cca, reference_forward, reference_sca

CHANNELS = [8, 16, 24, 32]
STRIDES = [8, 4, 2, 1]


def _features(batch: int = 2, grid: int = 4, dtype=torch.float64) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [
        torch.randn(batch, c, grid * s, grid * s, generator=g, dtype=dtype) for c, s in zip(CHANNELS, STRIDES)
    ]


@pytest.mark.parametrize(
    ("layout", "patch_embed", "channel_heads", "spatial_heads", "blocks"),
    [
        ("cca-sca", "avgpool", 1, 4, 1),
        ("cca-sca", "avgpool", 2, 8, 2),
        ("sca-cca", "avgpool", 1, 4, 1),
        ("cca", "avgpool", 1, 4, 1),
        ("sca", "avgpool", 1, 2, 1),
        ("cca-sca", "conv", 1, 4, 1),
    ],
)
def test_forward_equals_official_transcription(layout, patch_embed, channel_heads, spatial_heads, blocks):
    torch.manual_seed(0)
    m = DualCrossAttention(
        CHANNELS, STRIDES, layout=layout, patch_embed=patch_embed, blocks=blocks,
        channel_heads=channel_heads, spatial_heads=spatial_heads,
    ).double()
    m.train()
    feats = _features()
    ours = m(feats)
    ref = reference_forward(m, feats)
    for a, b in zip(ours, ref):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("fusion", ["sum", "concat"])
def test_parallel_fusions_combine_both_attentions(fusion):
    torch.manual_seed(0)
    m = DualCrossAttention(CHANNELS, STRIDES, fusion=fusion).double()
    feats = _features()
    tokens = [emb(f) for emb, f in zip(m.embed, feats)]
    block = m.blocks[0]
    a, b = reference_cca(block.cca, tokens), reference_sca(block.sca, tokens)
    got = block(tokens)
    for i, (t, x, y) in enumerate(zip(tokens, a, b)):
        if fusion == "sum":
            expected = t + x + y
        else:
            w, bias = block.mix.weight[i], block.mix.bias[i]
            expected = t + x * w[:, 0] + y * w[:, 1] + bias
        torch.testing.assert_close(got[i], expected, rtol=1e-9, atol=1e-9)


def test_gradients_reach_every_parameter():
    m = DualCrossAttention(CHANNELS, STRIDES, fusion="concat")
    out = m([f.float().requires_grad_() for f in _features()])
    sum(o.square().mean() for o in out).backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_non_square_inputs_work():
    m = DualCrossAttention(CHANNELS, STRIDES)
    feats = [torch.randn(1, c, 3 * s, 5 * s) for c, s in zip(CHANNELS, STRIDES)]
    assert [o.shape for o in m(feats)] == [f.shape for f in feats]


def test_sizes_that_do_not_divide_name_the_sizes():
    m = DualCrossAttention(CHANNELS, STRIDES)
    feats = [torch.randn(1, c, 4 * s + 2, 4 * s + 2) for c, s in zip(CHANNELS, STRIDES)]
    with pytest.raises(ValueError, match=r"stage 1: \(8, 34, 34\) pooled by 8"):
        m(feats)


def test_build_dca_validates_patch_size():
    with pytest.raises(ValueError, match="divisible by 8"):
        build_dca([8, 16, 24, 32], 224, DCAOptions(patch_size=4))
    with pytest.raises(ValueError, match="img_size=100"):
        build_dca([8, 16, 24, 32], 100, DCAOptions())
    assert build_dca([8, 16, 24], 224, DCAOptions(), default_patch_size=4).strides == [4, 2, 1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layout": "cca+sca"}, "dca_layout"),
        ({"fusion": "parallel"}, "dca_fusion"),
        ({"patch_embed": "linear"}, "dca_patch_embed"),
        ({"fusion": "sum", "layout": "cca"}, "needs dca_layout"),
        ({"blocks": 0}, "dca_blocks"),
    ],
)
def test_invalid_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DCAOptions(**kwargs)


def test_heads_must_divide_channels():
    with pytest.raises(ValueError, match="3 heads do not divide"):
        DualCrossAttention(CHANNELS, STRIDES, spatial_heads=3)


@pytest.mark.parametrize("scores_max", [0, 2**40], ids=["fused-padded", "unfused"])
def test_both_cpu_attention_paths_equal_the_transcription(monkeypatch, scores_max):
    """Large grids take the fused kernel with zero-padded V, small ones the unfused product."""
    monkeypatch.setattr(dca_module, "MATH_SCORES_MAX", scores_max)
    torch.manual_seed(0)
    m = DualCrossAttention(CHANNELS, STRIDES).double()
    feats = _features()
    for a, b in zip(m(feats), reference_forward(m, feats)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
