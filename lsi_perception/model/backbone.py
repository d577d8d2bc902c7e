"""One modality's backbone: a timm ``pvt_v2_b*`` returning its four stage feature maps.

The thermal stream is built with ``in_chans=1``: when pretrained RGB weights are loaded, timm sums the
stem kernel over its three input channels (``adapt_input_conv``), so a gray image sees the same
response as a gray RGB image would; cheaper and cleaner than copying the thermal image three times.
Weights come from a local file (``pretrained_path``, original PVT or timm keys, .pth or
.safetensors) or, only when ``allow_download`` is set, from the Hugging Face hub.
"""
from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn


class PVTBackbone(nn.Module):
    """timm PVT-v2 in ``features_only`` mode.

    forward(x [B, in_chans, H, W]) -> list of 4 maps [B, C_i, H/s_i, W/s_i], s_i = 4, 8, 16, 32
    (sizes rounded up). ``channels`` and ``strides`` come from timm's feature_info, never hard-coded.
    """

    def __init__(self, name: str, in_chans: int, pretrained_path: str | Path | None = None,
                 allow_download: bool = False) -> None:
        super().__init__()
        kwargs: dict = dict(features_only=True, out_indices=(0, 1, 2, 3), in_chans=in_chans)
        if pretrained_path is not None:
            path = Path(pretrained_path).expanduser()
            if not path.is_file():
                raise FileNotFoundError(
                    f"pretrained backbone weights {path} do not exist; set model.pretrained_path to a local "
                    f"{name} .pth/.safetensors file, or to null for random initialization"
                )
            kwargs.update(pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
        else:
            kwargs.update(pretrained=bool(allow_download))
        self.body = timm.create_model(name, **kwargs)
        self.name = name
        self.in_chans = in_chans
        self.channels: tuple[int, ...] = tuple(self.body.feature_info.channels())
        self.strides: tuple[int, ...] = tuple(self.body.feature_info.reduction())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.body(x))


def build_backbone(name: str, in_chans: int, pretrained_path: str | Path | None = None,
                   allow_download: bool = False) -> PVTBackbone:
    return PVTBackbone(name, in_chans, pretrained_path, allow_download)
