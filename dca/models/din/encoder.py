"""The image-specific ConvNeXt encoder of DIN (Table 14), built from timm's ConvNeXt stages.

Stem: 3x3 stride-1 conv to ``widths[0]`` + LayerNorm, so stage 1 keeps the full input resolution (224x224).
Each stage i yields two features, both at its resolution:

- ``edge`` (the paper's f_edge = f_low): the stem output for stage 1; for stages 2-4 the output of the *edge
  pooling layer*, a 2x2 stride-2 conv (LayerNorm first, like ConvNeXt's down-sampling) applied to the previous
  stage's edge feature. The edge features thus form their own shallow path stem -> pool -> pool -> pool and stay
  low-level at every scale (section 3.1.1, "low-level features after the pooling layer, providing boundary
  information").
- ``shape`` (f_shape = f_high): the output of the stage's ConvNeXt blocks. Stages 2-4 start with ConvNeXt's own
  down-sampling layer (LN + 2x2 stride-2 conv) on the previous shape feature.

These are the paper's "two types of pooling layers: one for extracting f_edge and another for reducing feature
size before passing to subsequent conv-blocks" (section 9.1). The alternative reading (f_edge = the input of the
stage's blocks, no separate edge pooling) gives 175.13M for two encoders instead of our 180.64M; ours is the one
whose total (with the MLP decoder and the DIFMs of ``ffn="conv3x3-4c"``) reproduces the paper's 323.31M parameters
and 1860.09 GFLOPs (see ``docs/din.md``).

Depths: 3-3-27-3, ConvNeXt-base's. Table 14 prints 9 blocks for stage 3, but with 9 blocks two encoders hold
about 104M parameters (98.6M without edge pooling), far from the paper's 178M; 27 blocks give 180.64M.
Module names under ``stages`` match timm's ``convnext_base`` (``stages.i.downsample``, ``stages.i.blocks.j``).
Only the edge pooling layers whose features some DIFM merges are built (``edge_stages``): a model with fewer
DIFMs, or without feature merging, has no unused parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

from timm.layers import LayerNorm, LayerNorm2d, trunc_normal_
from timm.models.convnext import ConvNeXtStage
from torch import Tensor, nn

LAYER_SCALE_INIT = 1e-6  # ConvNeXt's layer-scale initial value


def convnext_init(module: nn.Module) -> None:
    """ConvNeXt's initialisation: truncated normal (std 0.02) weights and zero biases for convs and linears.

    Skipped on the meta device (parameter counts, the grid's model check): meta tensors hold no values, and torch
    runs each meta op through Python references, so initialising DIN there cost 0.4 s of its 0.5 s build."""
    if isinstance(module, nn.Conv2d | nn.Linear) and not module.weight.is_meta:
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def conv_pool(in_channels: int, out_channels: int) -> nn.Sequential:
    """ConvNeXt's convolutional pooling: LayerNorm then a 2x2 stride-2 conv (halves the resolution)."""
    return nn.Sequential(LayerNorm2d(in_channels), nn.Conv2d(in_channels, out_channels, kernel_size=2, stride=2))


class ConvNeXtEncoder(nn.Module):
    """One image-specific ConvNeXt encoder: ``forward`` returns the edge features of the first ``edge_stages``
    stages and the shape features of every stage."""

    def __init__(self, in_channels: int, widths: Sequence[int], depths: Sequence[int], edge_stages: int) -> None:
        super().__init__()
        self.edge_stages = edge_stages
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], kernel_size=3, padding=1), LayerNorm2d(widths[0]))
        self.edge_pools = nn.ModuleList(conv_pool(widths[i - 1], widths[i]) for i in range(1, edge_stages))
        self.stages = nn.ModuleList(
            ConvNeXtStage(
                widths[max(i - 1, 0)],
                widths[i],
                stride=1 if i == 0 else 2,
                depth=depths[i],
                ls_init_value=LAYER_SCALE_INIT,
                norm_layer=LayerNorm2d,
                norm_layer_cl=LayerNorm,
            )
            for i in range(len(widths))
        )
        self.apply(convnext_init)

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        edge = self.stem(x)
        edges = [edge][: self.edge_stages]
        for pool in self.edge_pools:
            edges.append(pool(edges[-1]))
        shapes = []
        shape = edge
        for stage in self.stages:
            shape = stage(shape)
            shapes.append(shape)
        return edges, shapes
