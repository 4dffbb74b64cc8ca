"""Dual Interactive Fusion Module (DIFM, section 3.1): merging, dual window cross-attention, FFN, spatial gate.

For one stage of width C and the two streams I (original) and E (enhanced):

1. feature merging (Eq. 1), one per image: f_m = conv1x1(concat(f_edge_m, f_shape_m)), 2C -> C;
2. window cross-attention (Eq. 2-3), one per direction: f_IE = Atten(Q_i, K_e, V_e) + Q_i and
   f_EI = Atten(Q_e, K_i, V_i) + Q_e, with Q_m, K_m, V_m = 1x1 projections (linear per token) of f_m and no
   output projection (Eq. 3 has none);
3. the gated FFN (Eq. 4-5), one per direction: LN -> conv1x1 C -> 2C ("doubling the channel dimension") -> chunk
   into f1, f2 (C each) -> conv1x1(GELU(f1) * f2) C -> C, plus the residual (``ffn="conv1x1-2c"``, the default);
   ``ffn="conv3x3-4c"``: conv3x3 C -> 4C, halves of 2C, conv1x1 2C -> C (the reading the paper's budget needs);
4. global spatial attention (Eq. 6) on each direction, then F_IE + F_EI.

Sizes under the budget reading (``conv3x3-4c``). The paper's 119.94M for four DIFMs at widths 128/256/512/1024 (sum of
C^2 = 1,392,640) is about 86.1 C^2 per stage, and its 1860.09 GFLOPs leave, after our encoders (500.9) and decoder
(1074.7 GMACs), 285 GMACs for the DIFMs, i.e. about 86 C^2 multiply-adds per pixel: 86 C^2 of weights, each used once
per pixel (so no weights shared between the two directions). With the FFN's hidden width C (the expanding conv making
2C) no combination of 1x1/3x3 merging, projections (with or without output projections) and FFN convs lands within 4% of
that (the nearest are 82 and 94 C^2); with the hidden width 2C (the expanding conv making 4C, which the text's "doubling
the channel dimension" does not say), 1x1 merging and projections and a 3x3 expanding conv (local context for the window
attention, like SegFormer's Mix-FFN) it is exactly 86 C^2. Per DIFM:

    merging  2 x (2C*C + C)                        =  4 C^2 +  2C
    Q, K, V  6 x (C*C + C)                         =  6 C^2 +  6C
    FFN      2 x (2C (LN) + C*4C*9 + 4C + 2C*C + C) = 76 C^2 + 14C
    total                                          = 86 C^2 + 22C

    four DIFMs: 86 * 1,392,640 + 22 * 1,920 = 119,809,280 = 119.81M (paper 119.94M, -0.11%)

and 86 C^2 multiply-adds per pixel, 70.7 GMACs per DIFM at 224x224 (plus 0.6 average for the attention itself).
The text's reading (``conv1x1-2c``, default) has FFNs of 2 x (2C + 2C*C + 2C + C*C + C) = 6 C^2 + 10C, so
16 C^2 + 18C per DIFM and 22,316,800 = 22.32M for four (81% under the paper's figure).

The ablations of Tables 3 and 7 switch parts off (``feature_merging``, ``attention``, ``global_spatial_attention``,
``directions``); with every part off the module is the plain concatenation of the two images' shape features, which is
also what a stage without DIFM passes on under ``removed_difm="concat"`` (Table 6). The single-input variants (Tables 4,
5, 9, 10: "multi-head self-attention in place of DIFM") use this module with one stream and the self direction
``((0, 0),)``: same merging, attention, FFN and gate, with Q, K, V from one image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.layers import LayerNorm2d
from torch import Tensor, nn

from dca.models.din.attention import WindowAttention

STREAMS = ("image", "enhanced")  # the original image I and the enhanced image E
DIRECTIONS = {"both": ((0, 1), (1, 0)), "ie": ((0, 1),), "ei": ((1, 0),)}  # (query stream, key/value stream)
SELF_ATTENTION = ((0, 0),)


GSA_GATES = ("pixel", "channel")  # Eq. 6 read as a per-pixel gate (channel mean) or a per-channel gate (global mean)
# Gated FFN readings: (expanding conv kernel, output channels of the expanding conv per input channel).
FFNS = {"conv1x1-2c": (1, 2), "conv3x3-4c": (3, 4)}  # the first is the default


def global_spatial_attention(x: Tensor, gate: str = "pixel") -> Tensor:
    """Eq. 6: sigmoid of a mean times the map; ``pixel``: the channel mean at each position (Eq. 6 as written),
    ``channel``: each channel's mean over all positions (the text's "channel-wise weights" from global context)."""
    dims = (1,) if gate == "pixel" else (2, 3)
    return torch.sigmoid(x.mean(dim=dims, keepdim=True)) * x


class GatedFFN(nn.Module):
    """Eq. 4-5: LN, conv expanding C channels, chunk into f1 and f2, GELU(f1) * f2, 1x1 conv back to C, plus the
    input. ``conv1x1-2c`` (default, the paper's words "doubling the channel dimension"): 1x1 conv C -> 2C, halves
    of C; ``conv3x3-4c`` (what the paper's parameter budget needs): 3x3 conv C -> 4C, halves of 2C."""

    def __init__(self, channels: int, reading: str = "conv1x1-2c") -> None:
        super().__init__()
        kernel, factor = FFNS[reading]
        hidden = factor * channels // 2
        self.norm = LayerNorm2d(channels)
        self.expand = nn.Conv2d(channels, 2 * hidden, kernel_size=kernel, padding=kernel // 2)
        self.project = nn.Conv2d(hidden, channels, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        f1, f2 = self.expand(self.norm(x)).chunk(2, dim=1)
        return self.project(F.gelu(f1) * f2) + x


class DIFM(nn.Module):
    """DIFM for one stage: ``forward`` takes each stream's shape (and, for merging, edge) feature, returns one map."""

    def __init__(
        self,
        channels: int,
        streams: int = 2,
        directions: Sequence[tuple[int, int]] = DIRECTIONS["both"],
        *,
        feature_merging: bool = True,
        attention: bool = True,
        global_spatial_attention: bool = True,
        window: int = 7,
        head_dim: int = 32,
        ffn: str = "conv1x1-2c",
        gsa_gate: str = "pixel",
    ) -> None:
        super().__init__()
        names = STREAMS[:streams]
        if attention and not directions:
            raise ValueError("din: the DIFM attention needs at least one direction")
        self.directions = tuple(directions) if attention else ()
        self.gate = gsa_gate if global_spatial_attention else None
        self.merge = nn.ModuleList(nn.Conv2d(2 * channels, channels, 1) for _ in names) if feature_merging else None
        queries = {STREAMS[q] for q, _ in self.directions}
        sources = {STREAMS[s] for _, s in self.directions}
        self.query = nn.ModuleDict({n: nn.Conv2d(channels, channels, 1) for n in names if n in queries})
        self.key = nn.ModuleDict({n: nn.Conv2d(channels, channels, 1) for n in names if n in sources})
        self.value = nn.ModuleDict({n: nn.Conv2d(channels, channels, 1) for n in names if n in sources})
        self.attention = WindowAttention(channels, window, head_dim) if attention else None
        self.ffn = nn.ModuleList(GatedFFN(channels, ffn) for _ in self.directions)
        self.out_channels = channels if attention else streams * channels

    def forward(self, shapes: Sequence[Tensor], edges: Sequence[Tensor] = ()) -> Tensor:
        maps = list(shapes)
        if self.merge is not None:
            pairs = zip(self.merge, edges, shapes, strict=True)
            maps = [merge(torch.cat([edge, shape], dim=1)) for merge, edge, shape in pairs]
        if self.attention is None:
            return torch.cat([self._gate(m) for m in maps], dim=1)
        fused: Tensor | None = None
        for (q_stream, kv_stream), ffn in zip(self.directions, self.ffn, strict=True):
            q_name, kv_name = STREAMS[q_stream], STREAMS[kv_stream]
            q = self.query[q_name](maps[q_stream])
            k = self.key[kv_name](maps[kv_stream])
            v = self.value[kv_name](maps[kv_stream])
            out = self._gate(ffn(self.attention(q, k, v) + q))
            fused = out if fused is None else fused + out
        assert fused is not None  # at least one direction whenever attention is on
        return fused

    def _gate(self, x: Tensor) -> Tensor:
        """Global spatial attention when that part is on, identity otherwise."""
        return x if self.gate is None else global_spatial_attention(x, self.gate)
