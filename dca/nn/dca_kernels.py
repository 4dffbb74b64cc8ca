"""How the DCA block's attentions and up-sampling run: exact rewrites of the paper's formulas, chosen per device.

``dca.nn.dca`` states the module as the paper and the official code define it; this module
computes the same numbers faster. Each part has one entry point:

- :func:`channel_attention` (CCA, all stages at once): stage i's queries are columns of the
  normalised concatenation Y, so every score matrix is a row block of one Gram matrix Y^T Y
  with the per-channel affines expanded, and every output one product Y M^T; heads are a
  block mask. Scores and softmax are computed in float32 even under autocast: the Gram
  matrix sums N products per entry (95k at ResUNet++ 512, past float16's 65,504), and at
  logits of a few hundred half-precision rounding alone would move them by whole units.
- :func:`spatial_attention` (SCA, per stage): on CUDA, and forward-only on large CPU grids,
  torch's fused ``scaled_dot_product_attention`` (its kernels keep scores in float32); when
  training on the CPU, the exact shared-key kernel of :mod:`dca.nn.attention` with reusable
  workspace buffers and, for narrow heads, values stored feature-major.
- :func:`upsample_add` (output path): bilinear up-sampling plus the raw feature as two
  interpolation-matrix products on the CPU, ``F.interpolate`` elsewhere and for volumes
  (trilinear).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dca.nn import attention
from dca.nn.attention import Workspace, shared_key_attention

# Largest SCA score tensor (elements, one stage, all heads and samples) kept for the backward on the
# CPU: 64 MiB in float32 (U-Net at 224x224 up to batch 27). Larger ones go by tiles of at most
# this size and the backward recomputes them (dca.nn.attention).
SAVED_SCORES_MAX = 2**24
# Per-head value width below which values are stored feature-major: measured on the CPU (2 threads, 784
# tokens), P V and P^T dO with E = 8 run in 0.29 and 0.25 ms from (E, N) storage against 0.55 and 0.71 ms from
# (N, E); from E = 16 on, (N, E) is as fast or up to 10% faster.
NARROW_VALUES = 16


@contextlib.contextmanager
def _without_autocast(device_type: str) -> Iterator[None]:
    """Run the block in the tensors' own dtype: autocast off where it is on (a no-op otherwise)."""
    if torch.is_autocast_enabled(device_type):
        with torch.autocast(device_type, enabled=False):
            yield
    else:
        yield


def _at_least_float32(t: Tensor) -> Tensor:
    """``t`` in float32 if it is in a narrower float type (float64 stays float64)."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def channel_attention(
    y: Tensor,
    channels: Sequence[int],
    heads: int,
    q: Sequence[nn.Module],
    k: Sequence[nn.Module],
    v: Sequence[nn.Module],
) -> Tensor:
    """softmax(Q_i^T K_i / sqrt(C_c)) V_i^T for every stage i, as (B, N, C_c) tokens (stage i's channels in block i).

    ``y`` is the normalised concatenation (B, N, C_c); ``q[i]`` projects stage i's own
    channels, ``k[i]`` and ``v[i]`` the concatenation (per-channel affines with ``weight``
    and ``bias``). Scores and softmax in float32 (module docstring); the value product in
    the input's (or autocast's) dtype.
    """
    n, c = y.shape[1:]

    def per_row(affines: Sequence[nn.Module], name: str) -> Tensor:
        """(C_c, C_c): row p holds the key/value affine of the stage that owns query channel p."""
        return torch.cat([getattr(m, name).expand(ci, c) for m, ci in zip(affines, channels, strict=True)])

    with _without_autocast(y.device.type):
        y32 = _at_least_float32(y)
        qw = _at_least_float32(torch.cat([m.weight for m in q]))[:, None]
        qb = _at_least_float32(torch.cat([m.bias for m in q]))[:, None]
        kw, kb = _at_least_float32(per_row(k, "weight")), _at_least_float32(per_row(k, "bias"))
        total = y32.sum(1)  # (B, C_c): sum over tokens of each channel
        # sum_n (qw y_np + qb)(kw y_nq + kb), expanded: qw kw G + qw kb s_p + qb kw s_q + N qb kb.
        scores = (qw * kw) * torch.bmm(y32.transpose(1, 2), y32)
        scores = scores + (qw * kb) * total[:, :, None] + (qb * kw) * total[:, None, :] + n * (qb * kb)
        scores = scores / math.sqrt(c)
        if heads > 1:
            scores = scores.masked_fill(~_head_mask(channels, heads, y.device), float("-inf"))
        probs = torch.softmax(scores, dim=-1)
    # P V^T with V = vw*Y + vb: (P*vw) Y^T + rowsum(P*vb), as (B, N, C_c) tokens.
    shift = (probs * per_row(v, "bias")).sum(-1).to(y.dtype)
    mix = (probs * per_row(v, "weight")).to(y.dtype)
    return torch.baddbmm(shift[:, None, :], y, mix.transpose(1, 2))


def _head_mask(channels: Sequence[int], heads: int, device: torch.device) -> Tensor:
    """(C_c, C_c) True where query channel p and key channel q belong to the same head."""
    query_head = torch.cat([torch.arange(ci, device=device) // (ci // heads) for ci in channels])
    key_head = torch.arange(sum(channels), device=device) // (sum(channels) // heads)
    return query_head[:, None] == key_head[None, :]


def spatial_attention(
    y_c: Tensor,
    y: Sequence[Tensor],
    q: Sequence[nn.Module],
    k: Sequence[nn.Module],
    v: Sequence[nn.Module],
    heads: int,
    workspace: Workspace,
) -> list[Tensor]:
    """softmax(q_i(Y_c) k_i(Y_c)^T / sqrt(C_c / h)) v_i(Y_i) per stage i and head, each (B, N, C_i).

    ``y_c`` (B, N, C_c) is the normalised concatenation and ``y[i]`` stage i's part of it;
    ``q``, ``k``, ``v`` are the per-stage projections; ``workspace`` holds the CPU kernel's
    scratch between steps.
    """
    training = torch.is_grad_enabled() and (y_c.requires_grad or q[0].weight.requires_grad)
    if use_fused_attention(y_c, training):
        return [_fused(qi(y_c), ki(y_c), vi(yi), heads) for qi, ki, vi, yi in zip(q, k, v, y, strict=True)]
    return _shared_keys(y_c, y, q, k, v, heads, workspace)


def use_fused_attention(y_c: Tensor, training: bool) -> bool:
    """Whether SCA goes through torch's fused attention: always on CUDA; on the CPU for forward-only large grids.

    Forward-only on large grids, torch's fused kernel beats the exact tiles on the CPU even
    with V padded (its exponentials stay in registers): measured on ResUNet++ inference,
    1.23-1.29x the plain model against 1.37x.
    """
    n = y_c.shape[1]
    return y_c.is_cuda or (not training and n * n > attention.ROW_TILE_MAX)


def _fused(q: Tensor, k: Tensor, v: Tensor, heads: int) -> Tensor:
    """One stage's SCA through ``scaled_dot_product_attention``: q, k (B, N, C_c), v (B, N, C_i)."""
    b, n, c_k = q.shape
    c_v = v.shape[-1]
    qh = q.view(b, n, heads, c_k // heads).transpose(1, 2)
    kh = k.view(b, n, heads, c_k // heads).transpose(1, 2)
    vh = v.view(b, n, heads, c_v // heads).transpose(1, 2)
    # CUDA's memory-efficient kernel accepts a V narrower than Q/K; the CPU's fused (flash) kernel
    # does not, so there V is zero-padded to the Q/K head width and the padding sliced off.
    pad = 0 if q.is_cuda else qh.shape[-1] - vh.shape[-1]
    out = F.scaled_dot_product_attention(qh, kh, F.pad(vh, (0, pad)), scale=1.0 / math.sqrt(c_k // heads))
    return out[..., : c_v // heads].transpose(1, 2).reshape(b, n, c_v)


def _shared_keys(
    y_c: Tensor,
    y: Sequence[Tensor],
    q: Sequence[nn.Module],
    k: Sequence[nn.Module],
    v: Sequence[nn.Module],
    heads: int,
    workspace: Workspace,
) -> list[Tensor]:
    """SCA through the exact CPU kernel: q_i k_i^T folded into (Y_c*w_i + u_i) Y_c^T (``dca.nn.attention``)."""
    b, n, c = y_c.shape
    h, d = heads, c // heads
    scale = 1.0 / math.sqrt(d)
    w = torch.stack([qi.weight * ki.weight for qi, ki in zip(q, k)]) * scale
    # ``ki.bias * 0`` keeps the key bias in the graph: its exact gradient (zero) instead of none.
    u = torch.stack([torch.addcmul(ki.bias * 0, qi.bias, ki.weight) for qi, ki in zip(q, k)]) * scale
    w, u = w.view(len(y), h, d), u.view(len(y), h, d)
    x = y_c.view(b, n, h, d).transpose(1, 2).contiguous()
    values = [_head_values(vi(yi), h) for vi, yi in zip(v, y, strict=True)]
    outs = shared_key_attention(x, w, u, values, workspace, SAVED_SCORES_MAX)
    return [o.transpose(1, 2).reshape(b, n, -1) for o in outs]


def _head_values(v: Tensor, heads: int) -> Tensor:
    """(B, N, C) values as (B, h, N, C/h) per head, contiguous per head (feature-major when narrow)."""
    b, n, c = v.shape
    v = v.view(b, n, heads, c // heads)
    if c // heads < NARROW_VALUES:
        return v.permute(0, 2, 3, 1).contiguous().transpose(2, 3)
    return v.transpose(1, 2).contiguous()


@functools.lru_cache(maxsize=64)
def _interpolation_matrix(size: int, grid: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """(size, grid) weights of 1D linear interpolation with align_corners=True, as ``F.interpolate``."""
    with torch.inference_mode(False):  # cached: must serve training too, where it is saved for backward
        if grid == 1:
            return torch.ones(size, 1, dtype=dtype, device=device)
        pos = torch.arange(size, dtype=torch.float64) * ((grid - 1) / (size - 1))
        low = pos.floor().long().clamp(max=grid - 2)
        frac = pos - low
        rows = torch.arange(size)
        m = torch.zeros(size, grid, dtype=torch.float64)
        m[rows, low] = 1.0 - frac
        m[rows, low + 1] += frac
        return m.to(dtype=dtype, device=device)


def upsample_add(x: Tensor, raw: Tensor) -> Tensor:
    """Bilinear (trilinear for volumes; align_corners=True) up-sampling of ``x`` to ``raw``'s size, plus ``raw``.

    On the CPU, written as two products with the interpolation matrices, the second one
    accumulating onto ``raw`` (``addmm``): one pass over the full-resolution output instead of
    three (up-sample, read both, add), and a backward that is two small GEMMs.
    """
    if x.dim() == 5:
        return F.interpolate(x, size=raw.shape[-3:], mode="trilinear", align_corners=True) + raw
    if x.is_cuda or not raw.is_contiguous():
        return F.interpolate(x, size=raw.shape[-2:], mode="bilinear", align_corners=True) + raw
    b, c, gh, gw = x.shape
    h, w = raw.shape[-2:]
    rows = torch.matmul(_interpolation_matrix(h, gh, x.dtype, x.device), x)  # (B, C, H, gw)
    cols = _interpolation_matrix(w, gw, x.dtype, x.device)
    return torch.addmm(raw.view(-1, w), rows.reshape(-1, gw), cols.T).view(b, c, h, w)
