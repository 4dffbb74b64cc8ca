"""Window attention of the DIFM (Eq. 2): multi-head softmax(Q K^T / sqrt(d)) V inside non-overlapping windows.

Choices (the paper gives none of them): windows of 7x7 tokens, which tile every DIN stage at 224x224 (224, 112,
56 and 28 are multiples of 7) as in Swin and ConvNeXt; heads of 32 channels, i.e. 4/8/16/32 heads at widths
128/256/512/1024, Swin-B's heads at exactly these widths; no shifted windows, since the paper's remedy for the
window borders is its global spatial attention (section 3.1.3). Maps whose sides are not multiples of the window
are zero-padded and the padded keys masked out, so any input size works. The projections that make Q, K and V
live in the DIFM (``dca.models.din.difm``): this module has no parameters.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def to_windows(x: Tensor, window: int) -> Tensor:
    """(B, C, H, W) with H, W multiples of ``window`` -> (B * windows, window * window, C)."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // window, window, w // window, window)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(-1, window * window, c)


def from_windows(x: Tensor, batch: int, height: int, width: int, window: int) -> Tensor:
    """Inverse of :func:`to_windows`: (B * windows, window * window, C) -> (B, C, H, W)."""
    c = x.shape[-1]
    x = x.reshape(batch, height // window, width // window, window, window, c)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(batch, c, height, width)


class WindowAttention(nn.Module):
    """Multi-head attention of queries to keys/values of the same ``window`` x ``window`` window (Eq. 2)."""

    def __init__(self, channels: int, window: int, head_dim: int) -> None:
        super().__init__()
        self.heads = max(1, channels // head_dim)
        if channels % self.heads:
            raise ValueError(f"din: width {channels} is not a multiple of head_dim {head_dim}")
        self.window = window

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        b, c, h, w = q.shape
        win = self.window
        pad_h, pad_w = -h % win, -w % win
        mask = None
        if pad_h or pad_w:
            q, k, v = (F.pad(t, (0, pad_w, 0, pad_h)) for t in (q, k, v))
            valid = F.pad(q.new_ones(1, 1, h, w), (0, pad_w, 0, pad_h))
            mask = to_windows(valid, win).squeeze(-1).bool()  # (windows, tokens): False on padded keys
            mask = mask.repeat(b, 1)[:, None, None, :]
        hp, wp = h + pad_h, w + pad_w
        q, k, v = (self._heads(to_windows(t, win)) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(-1, win * win, c)
        return from_windows(out, b, hp, wp, win)[:, :, :h, :w]

    def _heads(self, x: Tensor) -> Tensor:
        """(N, L, C) -> (N, heads, L, C / heads)."""
        n, length, c = x.shape
        return x.reshape(n, length, self.heads, c // self.heads).transpose(1, 2)
