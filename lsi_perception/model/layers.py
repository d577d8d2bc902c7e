"""Small building blocks shared by fusion, neck and heads.

GroupNorm rather than BatchNorm throughout the detector-specific layers: training batches are small
(two images per GPU is common at 640x512), and the LSI regularizer re-runs fusion + neck + heads on
perturbed features, which would pollute BatchNorm running statistics.
"""
from __future__ import annotations

from torch import nn


def group_norm(channels: int, max_groups: int = 16) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= max_groups that divides ``channels``."""
    groups = max(g for g in range(1, max_groups + 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class ConvNormAct(nn.Sequential):
    """k x k conv (no bias) -> GroupNorm -> SiLU; ``depthwise=True`` makes it depthwise-separable
    (k x k depthwise + 1 x 1 pointwise), ~8x cheaper at 64 channels, which matters at stride 4."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 1, depthwise: bool = False) -> None:
        pad = kernel_size // 2
        if depthwise and kernel_size > 1:
            layers: list[nn.Module] = [
                nn.Conv2d(in_ch, in_ch, kernel_size, padding=pad, groups=in_ch, bias=False),
                nn.Conv2d(in_ch, out_ch, 1, bias=False),
            ]
        else:
            layers = [nn.Conv2d(in_ch, out_ch, kernel_size, padding=pad, bias=False)]
        super().__init__(*layers, group_norm(out_ch), nn.SiLU(inplace=True))
