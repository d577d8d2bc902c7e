"""Top-down neck: fused stage maps (strides 4..32) -> one map at the head's output stride.

Starting from the coarsest map, repeatedly upsample x2 (nearest), add the next finer fused map and
smooth with a depthwise-separable 3x3 conv, until the output stride is reached (FPN's top-down path,
single output). Stride 4 keeps a 20 px tall pedestrian at 640x512 five cells tall.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lsi_perception.model.layers import ConvNormAct


class TopDownNeck(nn.Module):
    """forward(list of [B, C, H/s_i, W/s_i] for the used strides, finest first) -> [B, C, H/s_out, W/s_out].

    ``num_levels`` = number of input maps (strides s_out .. 32); all have ``channels`` channels.
    """

    def __init__(self, channels: int, num_levels: int) -> None:
        super().__init__()
        self.smooth = nn.ModuleList(
            ConvNormAct(channels, channels, kernel_size=3, depthwise=True) for _ in range(num_levels - 1)
        )

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = feats[-1]
        for level in range(len(feats) - 2, -1, -1):
            finer = feats[level]
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            if x.shape[-2:] != finer.shape[-2:]:  # inputs not padded to the coarsest stride
                x = x[..., : finer.shape[-2], : finer.shape[-1]]
            x = self.smooth[level](x + finer)
        return x
