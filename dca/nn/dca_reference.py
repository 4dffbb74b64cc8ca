"""A direct, slow transcription of the official DCA forward (architecture notes, section 2).

Kept beside the fast module for two jobs: the tests check that ``DualCrossAttention``
computes exactly this, and ``python -m dca.bench models`` measures the fast module against
it. Like the official code it projects tokens with grouped 1x1 convolutions on re-shaped
maps and materialises every softmax(QK^T) score matrix. It reads the weights of a
``DualCrossAttention`` so both run with the same parameters; images or volumes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dca.nn.dca import DualCrossAttention


def _dw(x: torch.Tensor, proj) -> torch.Tensor:
    """Official depthwise_projection: tokens -> map -> Conv2d(C, C, 1, groups=C) -> tokens (a 1x1 kernel
    ignores the map's shape, so an (N, 1) map serves every grid)."""
    b, n, c = x.shape
    m = x.transpose(1, 2).reshape(b, c, n, 1)
    w = proj.weight.reshape(c, 1, 1, 1)
    return F.conv2d(m, w, proj.bias, groups=c).flatten(2).transpose(1, 2)


def _heads_split(x: torch.Tensor, h: int) -> torch.Tensor:
    b, n, c = x.shape
    return x.reshape(b, n, h, c // h).permute(0, 2, 1, 3)  # (B, h, N, C/h)


def reference_cca(att, tokens: list[torch.Tensor]) -> list[torch.Tensor]:
    xs = [norm(t) for norm, t in zip(att.norms, tokens)]
    xc = torch.cat(xs, dim=-1)
    c_c = xc.shape[-1]
    outs = []
    for i, x in enumerate(xs):
        q = _heads_split(_dw(x, att.q[i]), att.heads).transpose(-1, -2)  # (B, h, C_i/h, N)
        k = _heads_split(_dw(xc, att.k[i]), att.heads).transpose(-1, -2)
        v = _heads_split(_dw(xc, att.v[i]), att.heads).transpose(-1, -2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(c_c)
        o = torch.softmax(scores, dim=-1) @ v  # (B, h, C_i/h, N)
        o = o.permute(0, 3, 1, 2).reshape(x.shape)  # head-major channels
        outs.append(_dw(o, att.out[i]))
    return outs


def reference_sca(att, tokens: list[torch.Tensor]) -> list[torch.Tensor]:
    ys = [norm(t) for norm, t in zip(att.norms, tokens)]
    yc = torch.cat(ys, dim=-1)
    c_c = yc.shape[-1]
    outs = []
    for i, y in enumerate(ys):
        q = _heads_split(_dw(yc, att.q[i]), att.heads)
        k = _heads_split(_dw(yc, att.k[i]), att.heads)
        v = _heads_split(_dw(y, att.v[i]), att.heads)
        scores = q @ k.transpose(-1, -2) / math.sqrt(c_c // att.heads)
        o = torch.softmax(scores, dim=-1) @ v
        o = o.permute(0, 2, 1, 3).reshape(y.shape)
        outs.append(_dw(o, att.out[i]))
    return outs


def reference_forward(
    m: DualCrossAttention, feats: list[torch.Tensor], grid: tuple[int, ...] | None = None
) -> list[torch.Tensor]:
    """Section 2.3 of the architecture notes, step by step, with the official projections.

    ``grid`` overrides the token grid (default: stage 0's size over its stride); adaptive pooling then
    replicates stages smaller than it, as a literal port with full-resolution tokens does.
    """
    p = grid or tuple(n // s for n, s in zip(feats[0].shape[2:], m.axis_strides[0]))
    pool = F.adaptive_avg_pool2d if m.dims == 2 else F.adaptive_avg_pool3d
    mode = "bilinear" if m.dims == 2 else "trilinear"
    tokens = []
    for emb, f in zip(m.embed, feats):
        pooled = pool(f, p) if emb.conv is None else emb.conv(f)
        tokens.append(_dw(pooled.flatten(2).transpose(1, 2), emb.proj))
    for block in m.blocks:
        for part in block.order:
            ref = reference_cca if part == "cca" else reference_sca
            att = block.cca if part == "cca" else block.sca
            tokens = [t + a for t, a in zip(tokens, ref(att, tokens))]
    outs = []
    for out, t, f in zip(m.outputs, tokens, feats):
        x = t.transpose(1, 2).reshape(t.shape[0], t.shape[2], *p)
        x = F.interpolate(x, size=f.shape[2:], mode=mode, align_corners=True)
        outs.append(F.relu(out.norm(out.conv(x) + f)))
    return outs
