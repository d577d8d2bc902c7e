"""One modality's backbone: a timm ``pvt_v2_b*`` returning its four stage feature maps.

The thermal stream is built with ``in_chans=1`` (cheaper and cleaner than copying the thermal image
three times). Backbones are built with random weights; ImageNet weights are loaded by
``model/pretrained.py`` (the trainer calls it for fresh runs), which sums the RGB stem kernel over its
three input channels for the thermal stream.
"""
from __future__ import annotations

import timm
import torch
from torch import nn


class PVTBackbone(nn.Module):
    """timm PVT-v2 in ``features_only`` mode.

    forward(x [B, in_chans, H, W]) -> list of 4 maps [B, C_i, H/s_i, W/s_i], s_i = 4, 8, 16, 32
    (sizes rounded up). ``channels`` and ``strides`` come from timm's feature_info, never hard-coded.
    """

    def __init__(self, name: str, in_chans: int) -> None:
        super().__init__()
        self.body = timm.create_model(name, pretrained=False, features_only=True, out_indices=(0, 1, 2, 3),
                                      in_chans=in_chans)
        self.name = name
        self.in_chans = in_chans
        self.channels: tuple[int, ...] = tuple(self.body.feature_info.channels())
        self.strides: tuple[int, ...] = tuple(self.body.feature_info.reduction())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.body(x))
