"""Per-stage fusion units: visible + thermal features -> one modality-agnostic map.

Each unit maps ([B, C_vis, h, w], [B, C_th, h, w]) -> [B, C_out, h, w]; the output width is the neck
width directly, so the fusion conv doubles as the FPN lateral projection.

* ``ConvFusion`` (baseline, as in the paper): concat -> 1x1 conv -> GroupNorm -> SiLU.
* ``GatedFusion``: per-modality 1x1 projections mixed by a per-pixel, per-channel gate
  g = sigmoid(1x1 conv(concat)):  SiLU(GN(g * vis + (1 - g) * th)). The gate can fall back to the
  informative modality where the other is dark or washed out (night, glare).
"""
from __future__ import annotations

import torch
from torch import nn

from lsi_perception.model.layers import ConvNormAct, group_norm


class ConvFusion(nn.Module):
    def __init__(self, vis_ch: int, th_ch: int, out_ch: int) -> None:
        super().__init__()
        self.mix = ConvNormAct(vis_ch + th_ch, out_ch, kernel_size=1)

    def forward(self, vis: torch.Tensor, th: torch.Tensor) -> torch.Tensor:
        return self.mix(torch.cat((vis, th), dim=1))


class GatedFusion(nn.Module):
    def __init__(self, vis_ch: int, th_ch: int, out_ch: int) -> None:
        super().__init__()
        self.proj_vis = nn.Conv2d(vis_ch, out_ch, 1)
        self.proj_th = nn.Conv2d(th_ch, out_ch, 1)
        self.gate = nn.Conv2d(vis_ch + th_ch, out_ch, 1)
        nn.init.zeros_(self.gate.weight)  # start as an even average of the two modalities
        nn.init.zeros_(self.gate.bias)
        self.norm = group_norm(out_ch)
        self.act = nn.SiLU(inplace=True)

    def forward(self, vis: torch.Tensor, th: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.gate(torch.cat((vis, th), dim=1)))
        pv, pt = self.proj_vis(vis), self.proj_th(th)
        return self.act(self.norm(pt + g * (pv - pt)))


FUSION_UNITS = {"conv": ConvFusion, "gated": GatedFusion}


def build_fusion(kind: str, vis_ch: int, th_ch: int, out_ch: int) -> nn.Module:
    if kind not in FUSION_UNITS:
        raise ValueError(f"model.fusion={kind!r} is not one of {', '.join(FUSION_UNITS)}")
    return FUSION_UNITS[kind](vis_ch, th_ch, out_ch)
