"""DCA under autocast (fp16 and bf16), and without torch's private storage use-count hook."""

from __future__ import annotations

import pytest
import torch

from dca.models import build_model
from dca.nn import attention as attention_module
from dca.nn import dca_kernels
from dca.nn.attention import Workspace
from dca.nn.dca import DualCrossAttention
from dca.nn.dca_reference import reference_forward

FP16_MAX = torch.finfo(torch.float16).max


class _Stop(Exception):
    """Raised by the hook that captures the DCA inputs, so the rest of the model does not run."""


def _dca_inputs(model: torch.nn.Module, size: int) -> tuple[DualCrossAttention, list[torch.Tensor]]:
    """The model's DCA module and the encoder features it receives for one random image (fp32)."""
    dca = next(m for m in model.modules() if isinstance(m, DualCrossAttention))
    captured = []

    def capture(module, args):
        captured.extend(f.detach() for f in args[0])
        raise _Stop

    handle = dca.register_forward_pre_hook(capture)
    try:
        with torch.no_grad(), pytest.raises(_Stop):
            model(torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0)))
    finally:
        handle.remove()
    return dca, captured


@pytest.fixture(scope="module")
def resunetpp_512():
    """ResUNet++ with DCA at 512x512 (seeded init) and the real encoder features its DCA gets."""
    torch.manual_seed(0)
    return _dca_inputs(build_model("resunetpp", dca=True, img_size=512).train(), 512)


def _cca_step(dca: DualCrossAttention, feats: list[torch.Tensor]) -> list[torch.Tensor]:
    """Token embedding and the CCA residual of the first block (SCA at 16,384 tokens is too slow for a test)."""
    tokens = [embed(f) for embed, f in zip(dca.embed, feats)]
    return [t + a for t, a in zip(tokens, dca.blocks[0].cca(tokens))]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_channel_attention_under_autocast_at_resunetpp_512(resunetpp_512, dtype):
    """The CCA Gram matrix of ResUNet++ at 512 exceeds fp16's range; scores in fp32 keep output and gradients finite."""
    dca, feats = resunetpp_512
    with torch.no_grad():
        expected = _cca_step(dca, feats)
        cca = dca.blocks[0].cca
        y = torch.cat([norm(e(f)) for norm, e, f in zip(cca.norms, dca.embed, feats)], dim=-1)
        assert torch.bmm(y.transpose(1, 2), y).abs().max() > FP16_MAX  # these inputs overflow an fp16 Gram
    feats = [f.clone().requires_grad_() for f in feats]
    with torch.autocast("cpu", dtype=dtype):
        got = _cca_step(dca, feats)
    for g, e in zip(got, expected):
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g.float(), e, rtol=0.05, atol=0.05 * e.abs().max().item())
    sum(g.float().square().mean() for g in got).backward()
    assert all(torch.isfinite(f.grad).all() for f in feats)
    assert all(torch.isfinite(p.grad).all() for p in cca.parameters())


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_spatial_attention_under_autocast(monkeypatch, fused, dtype):
    """SCA's score path (fused attention as on CUDA, and the CPU kernel) on real ResUNet++ features at 128x128."""
    monkeypatch.setattr(dca_kernels, "use_fused_attention", lambda y_c, training: fused)
    torch.manual_seed(0)
    dca, feats = _dca_inputs(build_model("resunetpp", dca=True, img_size=128).train(), 128)
    sca = dca.blocks[0].sca
    tokens = [embed(f) for embed, f in zip(dca.embed, feats)]
    expected = sca(tokens)
    with torch.autocast("cpu", dtype=dtype):
        got = sca(tokens)
    for g, e in zip(got, expected):
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g.float(), e, rtol=0.05, atol=0.05 * e.abs().max().item())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_resunetpp_dca_under_autocast_is_finite(dtype):
    """Whole ResUNet++ + DCA at 32x32 under CPU autocast: finite logits, and for bf16 finite gradients.

    The fp16 backward is left out: CPU fp16 convolutions are slow (about 8 s per pass here); the
    DCA part of it is covered at full scale above.
    """
    torch.manual_seed(0)
    model = build_model("resunetpp", dca=True, img_size=32).train()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.autocast("cpu", dtype=dtype), torch.set_grad_enabled(dtype == torch.bfloat16):
        logits = model(x)
    assert torch.isfinite(logits).all()
    if dtype == torch.bfloat16:
        logits.float().square().mean().backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def _raises(_cdata: int) -> int:
    raise TypeError("changed signature")


@pytest.mark.parametrize("hook", [None, _raises], ids=["missing", "incompatible"])
def test_dca_works_without_the_storage_use_count_hook(monkeypatch, hook):
    """Without torch's private use-count hook, the workspace allocates afresh and DCA computes the same."""
    monkeypatch.setattr(attention_module, "_use_count", hook)
    ws = Workspace()
    like = torch.zeros(1)
    first = ws.get("s", (4, 4), like)
    ptr = first.data_ptr()
    del first
    assert ws.get("s", (4, 4), like).data_ptr() != ptr  # cannot tell it is free: a new buffer
    torch.manual_seed(0)
    m = DualCrossAttention([8, 16], [2, 1], spatial_heads=2).double()
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, c, 4 * s, 4 * s, generator=g, dtype=torch.float64) for c, s in ((8, 2), (16, 1))]
    for _ in range(2):  # the second step would reuse the first step's buffers if the hook were there
        for a, b in zip(m(feats), reference_forward(m, feats)):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
