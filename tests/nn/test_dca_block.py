"""The DCA block against a direct, slow transcription of the official forward pass."""

from __future__ import annotations

import pytest
import torch

from dca.nn import attention as attention_module
from dca.nn import dca_kernels as kernels_module
from dca.nn.attention import SharedKeyAttention, Workspace
from dca.nn.dca import DCAOptions, DualCrossAttention, build_dca
from dca.nn.dca_kernels import _interpolation_matrix
from dca.nn.dca_reference import reference_cca, reference_forward, reference_sca

CHANNELS = [8, 16, 24, 32]
STRIDES = [8, 4, 2, 1]


def _features(batch: int = 2, grid: int = 4, dtype=torch.float64) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(batch, c, grid * s, grid * s, generator=g, dtype=dtype) for c, s in zip(CHANNELS, STRIDES)]


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
        CHANNELS,
        STRIDES,
        layout=layout,
        patch_embed=patch_embed,
        blocks=blocks,
        channel_heads=channel_heads,
        spatial_heads=spatial_heads,
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
    """Every parameter gets a gradient; the SCA key biases get their exact one, zero (softmax shift)."""
    m = DualCrossAttention(CHANNELS, STRIDES, fusion="concat")
    out = m([f.float().requires_grad_() for f in _features()])
    sum(o.square().mean() for o in out).backward()
    key_bias = {f"blocks.0.sca.k.{i}.bias" for i in range(len(CHANNELS))}
    missing = [
        n for n, p in m.named_parameters() if n not in key_bias and (p.grad is None or not p.grad.abs().sum() > 0)
    ]
    assert not missing
    assert all(torch.equal(p.grad, torch.zeros_like(p)) for n, p in m.named_parameters() if n in key_bias)


CPU_PATHS = {  # (SAVED_SCORES_MAX, ROW_TILE_MAX, NARROW_VALUES) -> the SCA path they select on the 4x4 grid (N = 16)
    "kept": (2**40, 2**40, 2**40),
    "recomputed": (0, 2**40, 2**40),
    "one-pair-tiles": (2**40, 16 * 16, 2**40),
    "three-pair-tiles": (0, 3 * 16 * 16, 2**40),
    "row-block-tiles": (0, 5 * 16, 2**40),  # 5 query rows of 16 per tile: the last tile is shorter
    "kept-row-blocks": (2**40, 5 * 16, 2**40),
    "token-major-values": (2**40, 2**40, 1),  # the values' (N, E) layout; every other path has (E, N)
    "sdpa": None,  # the CUDA path, run here through the CPU's reference SDPA
}


def _select_path(monkeypatch, path: str) -> None:
    if CPU_PATHS[path] is None:
        monkeypatch.setattr(kernels_module, "use_fused_attention", lambda y_c, training: True)
    else:
        monkeypatch.setattr(kernels_module, "SAVED_SCORES_MAX", CPU_PATHS[path][0])
        monkeypatch.setattr(attention_module, "ROW_TILE_MAX", CPU_PATHS[path][1])
        monkeypatch.setattr(kernels_module, "NARROW_VALUES", CPU_PATHS[path][2])


@pytest.mark.parametrize("path", CPU_PATHS)
@pytest.mark.parametrize("layout", ["cca-sca", "sca"])
def test_gradients_equal_the_transcription(monkeypatch, path, layout):
    """Every CPU path's backward (hand-written or autograd) equals autograd through the official forward."""
    _select_path(monkeypatch, path)
    torch.manual_seed(0)
    m = DualCrossAttention(CHANNELS, STRIDES, layout=layout, blocks=2, spatial_heads=2, channel_heads=2).double()
    grads = []
    for forward in (m, lambda f: reference_forward(m, f)):
        m.zero_grad(set_to_none=True)
        feats = [f.requires_grad_() for f in _features()]
        weights = [torch.randn_like(f, generator=torch.Generator().manual_seed(i)) for i, f in enumerate(feats)]
        sum((o * w).sum() for o, w in zip(forward(feats), weights)).backward()
        grads.append([f.grad for f in feats] + [p.grad for p in m.parameters()])
    for ours, ref in zip(*grads):
        torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-9)


def test_shared_key_attention_passes_gradcheck(monkeypatch):
    """The hand-written backward against finite differences, every input at once."""
    g = torch.Generator().manual_seed(0)
    b, h, n, d = 2, 2, 5, 3
    x = torch.randn(b, h, n, d, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(2, h, d, dtype=torch.float64, generator=g, requires_grad=True)
    u = torch.randn(2, h, d, dtype=torch.float64, generator=g, requires_grad=True)
    values = [torch.randn(b, h, n, e, dtype=torch.float64, generator=g, requires_grad=True) for e in (1, 4)]
    workspace = Workspace()
    # kept; recomputed in one-pair tiles; kept and recomputed in tiles of 2 query rows
    for scores_max, row_tile in ((10**9, 10**9), (0, n * n), (10**9, 2 * n), (0, 2 * n)):
        monkeypatch.setattr(attention_module, "ROW_TILE_MAX", row_tile)

        def attention(*a, m=scores_max):
            return SharedKeyAttention.apply(a[0], a[1], a[2], workspace, m, *a[3:])

        assert torch.autograd.gradcheck(attention, (x, w, u, *values))


def test_inference_mode_then_training_then_no_grad():
    """Cached buffers and interpolation matrices made under inference_mode must serve training and no_grad."""
    _interpolation_matrix.cache_clear()
    m = DualCrossAttention(CHANNELS, STRIDES)
    feats = [f.float() for f in _features()]
    with torch.inference_mode():
        m(feats)
    sum(o.sum() for o in m([f.requires_grad_() for f in feats])).backward()
    with torch.no_grad():
        m([f.detach() for f in feats])


def test_workspace_reuses_only_free_buffers():
    ws = Workspace()
    like = torch.zeros(1)
    first = ws.get("s", (4, 4), like)
    second = ws.get("s", (4, 4), like)  # the first is still alive: a new buffer
    assert first.data_ptr() != second.data_ptr()
    ptr = first.data_ptr()
    del first
    assert ws.get("s", (2, 4), like).data_ptr() == ptr  # free again, and large enough


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


@pytest.mark.parametrize("path", CPU_PATHS)
def test_every_cpu_path_equals_the_transcription(monkeypatch, path):
    """Forward of each SCA path, in training mode and without gradients."""
    _select_path(monkeypatch, path)
    torch.manual_seed(0)
    m = DualCrossAttention(CHANNELS, STRIDES).double()
    feats = _features()
    for grad in (True, False):
        with torch.set_grad_enabled(grad):
            for a, b in zip(m(feats), reference_forward(m, feats)):
                torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
