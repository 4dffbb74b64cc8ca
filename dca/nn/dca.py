"""Dual Cross-Attention (Ates et al. 2023): a skip-connection module over multi-scale tokens.

The module as the official implementation builds it (parameter parity): token embedding
(pooling to one grid + a per-channel projection), channel cross-attention (CCA) then spatial
cross-attention (SCA), each with a residual, and the output path (bilinear up-sampling, 1x1
conv, + the raw feature, BN, ReLU). Every "1x1 depth-wise projection" of tokens is written as
what it is, a per-channel scale and shift. How the attentions are computed (one Gram matrix
for CCA; fused attention on CUDA and an exact CPU kernel for SCA) lives in
``dca.nn.dca_kernels``; the outputs equal the direct transcription in ``dca.nn.dca_reference``.

Ablations are parameters, not copies: ``layout`` (cca-sca, sca-cca, cca, sca), ``fusion``
(sequential, sum, concat) and ``patch_embed`` (avgpool, conv). Fusions other than
sequential, SCA-CCA and conv patch embedding are not in the official release; how we
built them is documented on each class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dca.nn.attention import Workspace
from dca.nn.dca_kernels import channel_attention, spatial_attention, upsample_add

LN_EPS = 1e-6  # the official DCA LayerNorm epsilon
LAYOUTS = ("cca-sca", "sca-cca", "cca", "sca")
FUSIONS = ("sequential", "sum", "concat")
PATCH_EMBEDS = ("avgpool", "conv")


@dataclass(frozen=True)
class DCAOptions:
    """The DCA switches a model accepts (paper defaults; ``patch_size`` None = model default).

    ``patch_size`` is the pooling window of the highest-resolution stage in pixels (the
    paper's P^s: 8, or 4 for ResUNet++); the token grid side is ``img_size // patch_size``.
    On volumes it may be a (D, H, W) tuple, one window per axis (anisotropic spacing).
    """

    layout: str = "cca-sca"
    fusion: str = "sequential"
    patch_embed: str = "avgpool"
    blocks: int = 1
    patch_size: int | tuple[int, ...] | None = None
    channel_heads: int = 1
    spatial_heads: int = 4

    def __post_init__(self) -> None:
        for key, value, allowed in (
            ("dca_layout", self.layout, LAYOUTS),
            ("dca_fusion", self.fusion, FUSIONS),
            ("dca_patch_embed", self.patch_embed, PATCH_EMBEDS),
        ):
            if value not in allowed:
                raise ValueError(f"{key}={value!r} is not one of {', '.join(allowed)}")
        if self.fusion != "sequential" and self.layout not in ("cca-sca", "sca-cca"):
            raise ValueError(
                f"dca_fusion={self.fusion!r} combines CCA and SCA; it needs dca_layout 'cca-sca', got {self.layout!r}"
            )
        for key, value in (
            ("dca_blocks", self.blocks),
            ("dca_channel_heads", self.channel_heads),
            ("dca_spatial_heads", self.spatial_heads),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        if isinstance(self.patch_size, list):  # from YAML/JSON
            object.__setattr__(self, "patch_size", tuple(self.patch_size))
        sizes = self.patch_size if isinstance(self.patch_size, tuple) else (self.patch_size,)
        if self.patch_size is not None and (
            not sizes or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 1 for p in sizes)
        ):
            raise ValueError(
                f"dca_patch_size must be a positive integer or a tuple of them (one per axis), got {self.patch_size!r}"
            )


def per_axis(value: int | Sequence[int], dims: int, what: str = "stride") -> tuple[int, ...]:
    """``value`` as one integer per spatial axis (an int applies to every axis)."""
    axes = (value,) * dims if isinstance(value, int) else tuple(value)
    if len(axes) != dims:
        raise ValueError(f"DCA {what} {value!r} has {len(axes)} axes; the features have {dims} spatial axes")
    return axes


class TokenAffine(nn.Module):
    """The official 1x1 depth-wise token projection, written as what it is: y = w * x + b.

    A grouped 1x1 convolution with groups = channels is a per-channel scale and shift; as
    ``addcmul`` it needs no reshape to a map and no convolution kernel. Initialised like the
    official ``Conv2d(C, C, 1, groups=C)`` (fan-in 1: weight and bias uniform in [-1, 1]).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.uniform_(self.weight, -1.0, 1.0)
        nn.init.uniform_(self.bias, -1.0, 1.0)

    def forward(self, x: Tensor) -> Tensor:
        return torch.addcmul(self.bias, x, self.weight)


class TokenEmbedding(nn.Module):
    """Pool a (B, C, H, W) or (B, C, D, H, W) stage to the common token grid and project: (B, N, C).

    ``avgpool`` (the paper's choice) averages ``stride``-sized windows (one size per axis);
    ``conv`` (paper Table 4, not runnable in the official code) uses a full C -> C convolution
    with kernel = stride = the pooling factor, followed by the same token projection.
    """

    def __init__(self, channels: int, stride: int | Sequence[int], patch_embed: str, dims: int = 2) -> None:
        super().__init__()
        self.stride = stride
        self.dims = dims
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        self.conv = conv(channels, channels, kernel_size=stride, stride=stride) if patch_embed == "conv" else None
        self.proj = TokenAffine(channels)
        self.pooled = max(per_axis(stride, dims)) > 1

    def forward(self, x: Tensor) -> Tensor:
        if self.conv is not None:
            x = self.conv(x)
        elif self.pooled:
            x = F.avg_pool2d(x, self.stride) if self.dims == 2 else F.avg_pool3d(x, self.stride)
        return self.proj(x.flatten(2).transpose(1, 2))


class _CrossAttention(nn.Module):
    """Shared parts of CCA and SCA: one LayerNorm per stage and the per-stage projections.

    Each stage i owns projections of its own tokens (C_i) and of the concatenation (C_c),
    as the official code builds them; which of Q, K, V is which depends on the subclass.
    """

    own_inputs: tuple[str, ...] = ()

    def __init__(self, channels: Sequence[int], heads: int) -> None:
        super().__init__()
        total = sum(channels)
        for c in (*channels, total):
            if c % heads:
                raise ValueError(
                    f"{type(self).__name__}: {heads} heads do not divide the channel count {c} "
                    f"(stage channels {list(channels)}, concatenation {total})"
                )
        self.channels = list(channels)
        self.heads = heads
        self.norms = nn.ModuleList(nn.LayerNorm(c, eps=LN_EPS) for c in channels)
        self.q = nn.ModuleList(TokenAffine(c if "q" in self.own_inputs else total) for c in channels)
        self.k = nn.ModuleList(TokenAffine(c if "k" in self.own_inputs else total) for c in channels)
        self.v = nn.ModuleList(TokenAffine(c if "v" in self.own_inputs else total) for c in channels)
        self.out = nn.ModuleList(TokenAffine(c) for c in channels)


class ChannelCrossAttention(_CrossAttention):
    """CCA: queries from each stage, keys/values from the concatenation, attention over channels.

    For stage i, with X_i = LN_i(T_i) and X_c their concatenation: Q = q_i(X_i), K = k_i(X_c),
    V = v_i(X_c); per head, softmax(Q^T K / sqrt(C_c)) V^T, a (C_i/h x C_c/h) channel affinity
    applied to the tokens, then the output projection. The scale is 1/sqrt(C_c) whatever the
    head count (official quirk, kept); heads are contiguous channel slices.
    """

    own_inputs = ("q",)

    def forward(self, tokens: Sequence[Tensor]) -> list[Tensor]:
        """Attention outputs per stage (without the residual), each (B, N, C_i)."""
        x_c = torch.cat([norm(t) for norm, t in zip(self.norms, tokens, strict=True)], dim=-1)
        attended = channel_attention(x_c, self.channels, self.heads, self.q, self.k, self.v)
        return [out(a) for out, a in zip(self.out, attended.split(self.channels, dim=-1), strict=True)]


class SpatialCrossAttention(_CrossAttention):
    """SCA: queries and keys from the concatenation, values from each stage, attention over tokens.

    For stage i, with Y_i = LN_i(T_i) (the CCA-updated tokens) and Y_c their concatenation:
    Q = q_i(Y_c), K = k_i(Y_c), V = v_i(Y_i); per head, softmax(Q K^T / sqrt(C_c // h)) V,
    N x N scores, then the output projection. Heads are contiguous slices of the
    concatenation (they straddle stage boundaries, as in the official code).
    """

    own_inputs = ("v",)

    def __init__(self, channels: Sequence[int], heads: int) -> None:
        super().__init__(channels, heads)
        self.workspace = Workspace()  # scratch of the CPU kernel, reused between steps

    def forward(self, tokens: Sequence[Tensor]) -> list[Tensor]:
        """Attention outputs per stage (without the residual), each (B, N, C_i)."""
        y = [norm(t) for norm, t in zip(self.norms, tokens, strict=True)]
        attended = spatial_attention(torch.cat(y, dim=-1), y, self.q, self.k, self.v, self.heads, self.workspace)
        return [out(a) for out, a in zip(self.out, attended, strict=True)]


class ConcatFusion(nn.Module):
    """Parallel CCA || SCA fused by concatenation (paper Table 3; not in the official code).

    Our reading: per stage, the two outputs are concatenated channel-wise and mapped back to
    C_i by a grouped 1x1 projection with groups = C_i (each output channel mixes its own CCA
    and SCA channel): 3 C_i parameters, in keeping with the paper's unchanged 8.75M total.
    """

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        self.weight = nn.ParameterList(nn.Parameter(torch.empty(c, 2)) for c in channels)
        self.bias = nn.ParameterList(nn.Parameter(torch.empty(c)) for c in channels)
        bound = 1.0 / math.sqrt(2.0)  # Conv2d(2C, C, 1, groups=C) default: fan-in 2
        for p in (*self.weight, *self.bias):
            nn.init.uniform_(p, -bound, bound)

    def forward(self, a: Sequence[Tensor], b: Sequence[Tensor]) -> list[Tensor]:
        return [
            torch.addcmul(torch.addcmul(bias, x, w[:, 0]), y, w[:, 1])
            for x, y, w, bias in zip(a, b, self.weight, self.bias, strict=True)
        ]


class DCABlock(nn.Module):
    """One CCA/SCA step on the tokens of all stages, arranged by ``layout`` and ``fusion``.

    sequential: each attention adds its output to the tokens (the official residuals), in
    layout order; sum: T + CCA(T) + SCA(T); concat: T + mix([CCA(T), SCA(T)]).
    """

    def __init__(self, channels: Sequence[int], layout: str, fusion: str, channel_heads: int, spatial_heads: int):
        super().__init__()
        parts = layout.split("-")
        self.order = parts
        self.fusion = fusion
        self.cca = ChannelCrossAttention(channels, channel_heads) if "cca" in parts else None
        self.sca = SpatialCrossAttention(channels, spatial_heads) if "sca" in parts else None
        self.mix = ConcatFusion(channels) if fusion == "concat" else None

    def forward(self, tokens: list[Tensor]) -> list[Tensor]:
        if self.fusion == "sequential":
            for part in self.order:
                attention = self.cca if part == "cca" else self.sca
                tokens = [t + a for t, a in zip(tokens, attention(tokens), strict=True)]
            return tokens
        a, b = self.cca(tokens), self.sca(tokens)
        if self.mix is not None:
            return [t + m for t, m in zip(tokens, self.mix(a, b), strict=True)]
        return [t + x + y for t, x, y in zip(tokens, a, b, strict=True)]


class SkipOutput(nn.Module):
    """Tokens back to a skip feature: (bi/tri)linear x stride, 1x1 conv, + raw feature, BN, ReLU.

    The 1x1 conv runs on the token grid *before* the up-sampling: both are linear and the
    interpolation weights (align_corners=True) sum to one, so the result equals the official
    up-sample-then-conv (tested to float rounding) at 1/stride^dims of the conv's cost.
    """

    def __init__(self, channels: int, stride: int | Sequence[int], dims: int = 2) -> None:
        super().__init__()
        self.stride = stride
        self.conv = (nn.Conv2d if dims == 2 else nn.Conv3d)(channels, channels, kernel_size=1)
        self.norm = (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(channels)
        self.upsampled = max(per_axis(stride, dims)) > 1

    def forward(self, tokens: Tensor, raw: Tensor, grid: tuple[int, ...]) -> Tensor:
        x = self.conv(tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *grid))
        x = upsample_add(x, raw) if self.upsampled else x + raw
        return F.relu(self.norm(x), inplace=True)


class DualCrossAttention(nn.Module):
    """The DCA skip module: features E_1..E_s in, refined features of the same shapes out.

    ``strides[i]`` is stage i's pooling factor to the common token grid (the official
    ``patch // 2**i``), an int or one per axis. ``dims`` = 2 for images (B, C, H, W), 3 for
    volumes (B, C, D, H, W): the same attention over the flattened tokens, with 3D pooling,
    convolutions and trilinear up-sampling. The grid is derived from the input, so any input
    whose stages divide evenly into one common grid works, square (cubic) or not.
    """

    def __init__(
        self,
        channels: Sequence[int],
        strides: Sequence[int],
        *,
        layout: str = "cca-sca",
        fusion: str = "sequential",
        patch_embed: str = "avgpool",
        blocks: int = 1,
        channel_heads: int = 1,
        spatial_heads: int = 4,
        dims: int = 2,
    ) -> None:
        super().__init__()
        if len(channels) != len(strides) or not channels:
            raise ValueError(f"DCA needs one stride per stage, got channels {channels} and strides {strides}")
        if dims not in (2, 3):
            raise ValueError(f"DCA works on 2D images or 3D volumes: dims must be 2 or 3, got {dims!r}")
        self.dims = dims
        self.axis_strides = [per_axis(s, dims) for s in strides]
        DCAOptions(
            layout=layout,
            fusion=fusion,
            patch_embed=patch_embed,
            blocks=blocks,
            channel_heads=channel_heads,
            spatial_heads=spatial_heads,
        )  # validates the switches
        self.channels = list(channels)
        self.strides = list(strides)
        self.embed = nn.ModuleList(TokenEmbedding(c, s, patch_embed, dims) for c, s in zip(channels, strides))
        self.blocks = nn.ModuleList(
            DCABlock(channels, layout, fusion, channel_heads, spatial_heads) for _ in range(blocks)
        )
        self.outputs = nn.ModuleList(SkipOutput(c, s, dims) for c, s in zip(channels, strides))

    def token_grid(self, features: Sequence[Tensor]) -> tuple[int, ...]:
        """The common token grid ((rows, cols), or (depth, rows, cols) on volumes), or a ValueError naming
        every stage's size."""
        if len(features) != len(self.channels):
            raise ValueError(f"DCA expects {len(self.channels)} stage features, got {len(features)}")
        grids = set()
        for f, c, s in zip(features, self.channels, self.axis_strides):
            size = f.shape[2:]
            if f.dim() != self.dims + 2 or f.shape[1] != c or any(n % a for n, a in zip(size, s)):
                grids.add(None)
            grids.add(tuple(n // a for n, a in zip(size, s)))
        if len(grids) != 1 or None in grids:
            sizes = ", ".join(
                f"stage {i}: {tuple(f.shape[1:])} pooled by {s}"
                for i, (f, s) in enumerate(zip(features, self.strides), start=1)
            )
            raise ValueError(
                f"DCA inputs do not divide into one common token grid ({sizes}); expected channels "
                f"{self.channels} and sizes P*stride for one grid P. Use an input size divisible by "
                f"the patch size {self.strides[0]} and by the network's total down-sampling."
            )
        return grids.pop()

    def forward(self, features: Sequence[Tensor]) -> list[Tensor]:
        grid = self.token_grid(features)
        tokens = [embed(f) for embed, f in zip(self.embed, features)]
        for block in self.blocks:
            tokens = block(tokens)
        return [out(t, f, grid) for out, t, f in zip(self.outputs, tokens, features)]


def build_dca(
    channels: Sequence[int],
    img_size: int | Sequence[int],
    options: DCAOptions,
    default_patch_size: int | Sequence[int] = 8,
    scales: Sequence[Sequence[int]] | None = None,
) -> DualCrossAttention:
    """The DCA module of a host model whose stage i sits at ``img_size / 2**i`` (or ``img_size / scales[i]``).

    ``img_size`` is an int (square images) or one size per axis; a tuple makes the module 3D for three axes.
    ``scales[i]`` is stage i's down-sampling per axis relative to stage 0 (default ``2**i`` on every axis;
    anisotropic hosts pool some axes less). The patch size (first-stage pooling window, the paper's P^s, an int
    or one per axis) must be divisible on each axis by the deepest stage's scale, so that every stage pools by
    an integer factor, and must divide ``img_size``; errors name the numbers.
    """
    sizes = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    dims = len(sizes)
    stages = len(channels)
    scales = [(2**i,) * dims for i in range(stages)] if scales is None else [tuple(s) for s in scales]
    patch = per_axis(options.patch_size or default_patch_size, dims, "dca_patch_size")
    for axis, (p, size) in enumerate(zip(patch, sizes)):
        deepest = scales[-1][axis]
        if p % deepest:
            raise ValueError(
                f"dca_patch_size={options.patch_size or default_patch_size} cannot pool {stages} stages to one grid: "
                f"on axis {axis} it must be divisible by {deepest} (stage i pools by patch / its down-sampling)"
            )
        if size % p:
            raise ValueError(f"img_size={img_size} is not divisible by dca_patch_size={patch} on axis {axis}")
    strides: list[int | tuple[int, ...]] = [tuple(p // s for p, s in zip(patch, scale)) for scale in scales]
    if dims == 2 and len(set(patch)) == 1 and all(len(set(s)) == 1 for s in strides):
        strides = [s[0] for s in strides]  # square windows as plain ints (the 2D module as it always was)
    return DualCrossAttention(
        channels,
        strides,
        layout=options.layout,
        fusion=options.fusion,
        patch_embed=options.patch_embed,
        blocks=options.blocks,
        channel_heads=options.channel_heads,
        spatial_heads=options.spatial_heads,
        dims=dims,
    )
