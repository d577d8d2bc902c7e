"""Decoupled dense heads at one stride.

* quality stream (A): convs -> ``score_logits`` [B, C, h, w] (one channel per class) and
  ``iou_logits`` [B, 1, h, w] (predicted IoU of this location's box with its object);
* box stream (B): convs -> ``box_ltrb`` [B, 4, h, w] = stride * softplus(raw): non-negative distances in
  input pixels from the cell center to the left, top, right and bottom sides.

Initialization: score bias at the focal-loss prior (p = 0.01) so early training is not swamped by
background; box bias so every initial box is 4 strides wide and tall (16 px at stride 4), the
scale of a small pedestrian.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lsi_perception.model.layers import ConvNormAct

SCORE_PRIOR = 0.01
INITIAL_HALF_SIZE_IN_STRIDES = 2.0


def _tower(channels: int, num_convs: int) -> nn.Sequential:
    return nn.Sequential(*(ConvNormAct(channels, channels, 3, depthwise=True) for _ in range(num_convs)))


def _inverse_softplus(y: float) -> float:
    return math.log(math.expm1(y))


class DecoupledHead(nn.Module):
    def __init__(self, in_channels: int, channels: int, num_convs: int, num_classes: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.input_proj = ConvNormAct(in_channels, channels, 1) if in_channels != channels else nn.Identity()
        self.quality_tower = _tower(channels, num_convs)
        self.box_tower = _tower(channels, num_convs)
        self.score_out = nn.Conv2d(channels, num_classes, 3, padding=1)
        self.iou_out = nn.Conv2d(channels, 1, 3, padding=1)
        self.box_out = nn.Conv2d(channels, 4, 3, padding=1)
        for conv in (self.score_out, self.iou_out, self.box_out):
            nn.init.normal_(conv.weight, std=0.01)
        nn.init.constant_(self.score_out.bias, -math.log((1.0 - SCORE_PRIOR) / SCORE_PRIOR))
        nn.init.zeros_(self.iou_out.bias)
        nn.init.constant_(self.box_out.bias, _inverse_softplus(INITIAL_HALF_SIZE_IN_STRIDES))

    def score_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``forward(x)["score_logits"]`` alone (the quality tower and score conv; no IoU or box branch)."""
        return self.score_out(self.quality_tower(self.input_proj(x)))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.input_proj(x)
        q = self.quality_tower(x)
        b = self.box_tower(x)
        return {
            "score_logits": self.score_out(q),
            "iou_logits": self.iou_out(q),
            "box_ltrb": F.softplus(self.box_out(b)) * self.stride,
        }
