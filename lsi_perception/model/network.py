"""The two-stream detector: PVT backbone per modality -> per-stage fusion -> top-down neck -> decoupled heads.

The forward pass is split at the fusion boundary so the LSI regularizer can perturb one modality's
backbone features and re-run only the cheap part:

    vis, th = net.extract_features(rgb, thermal)   # backbones (expensive), run once per step
    out = net.forward_fused(vis, th)               # fusion + neck + heads (cheap), run per perturbation
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lsi_perception.config import ModelConfig
from lsi_perception.model.backbone import PVTBackbone
from lsi_perception.model.fusion import build_fusion
from lsi_perception.model.heads import DecoupledHead
from lsi_perception.model.neck import TopDownNeck


class LSIDetectorNet(nn.Module):
    """Two-stream RGB + thermal dense detector.

    Inputs are normalized images: ``rgb`` [B, 3, H, W], ``thermal`` [B, 1, H, W], same H and W (any
    size; internally zero-padded at the bottom/right to a multiple of 32, which is the mean image in
    normalized space).

    Output dict (see ``forward_fused``): ``score_logits`` [B, C, h, w], ``iou_logits`` [B, 1, h, w],
    ``box_ltrb`` [B, 4, h, w] (input pixels), and ``stride`` (int). ``forward`` crops the maps to
    h = ceil(H / stride), w = ceil(W / stride), undoing the internal padding.
    """

    def __init__(self, backbone: str = "pvt_v2_b0", num_classes: int = 1, fusion: str = "conv",
                 neck_channels: int = 64, output_stride: int = 4, head_channels: int = 64, head_convs: int = 2
                 ) -> None:
        super().__init__()
        self.rgb_backbone = PVTBackbone(backbone, 3)
        self.thermal_backbone = PVTBackbone(backbone, 1)
        strides = self.rgb_backbone.strides
        if output_stride not in strides:
            raise ValueError(f"output_stride={output_stride} must be one of the backbone strides {strides}")
        self.stride = output_stride
        self.pad_multiple = max(strides)
        # Stages finer than the output stride are not fused (no unused parameters for DDP).
        self.first_level = strides.index(output_stride)
        self.fusion = nn.ModuleList(
            build_fusion(fusion, cv, ct, neck_channels)
            for cv, ct in zip(self.rgb_backbone.channels[self.first_level:],
                              self.thermal_backbone.channels[self.first_level:])
        )
        self.neck = TopDownNeck(neck_channels, num_levels=len(self.fusion))
        self.head = DecoupledHead(neck_channels, head_channels, head_convs, num_classes, output_stride)
        self.num_classes = num_classes

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.pad_multiple, -w % self.pad_multiple
        if pad_h == 0 and pad_w == 0:
            return x
        return F.pad(x, (0, pad_w, 0, pad_h))

    def extract_features(self, rgb: torch.Tensor, thermal: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-modality pre-fusion features: two lists of 4 maps [B, C_i, Hp/s_i, Wp/s_i], s_i = 4..32,
        where Hp, Wp are H, W padded up to a multiple of 32."""
        if rgb.dim() != 4 or rgb.shape[1] != 3:
            raise ValueError(f"rgb must be a [B, 3, H, W] tensor, got shape {tuple(rgb.shape)}")
        if thermal.dim() != 4 or thermal.shape[1] != 1:
            raise ValueError(f"thermal must be a [B, 1, H, W] tensor, got shape {tuple(thermal.shape)}")
        if rgb.shape[0] != thermal.shape[0] or rgb.shape[-2:] != thermal.shape[-2:]:
            raise ValueError(
                f"rgb {tuple(rgb.shape)} and thermal {tuple(thermal.shape)} must share batch size, height and width"
            )
        return self.rgb_backbone(self._pad(rgb)), self.thermal_backbone(self._pad(thermal))

    def forward_fused(self, vis: list[torch.Tensor], th: list[torch.Tensor]) -> dict:
        """Fusion + neck + heads on given per-modality features (as from ``extract_features``).

        Returns {"score_logits": [B, C, h, w], "iou_logits": [B, 1, h, w], "box_ltrb": [B, 4, h, w],
        "stride": int} at the padded size (h = Hp / stride).
        """
        out: dict = self.head(self._fused_neck(vis, th))
        out["stride"] = self.stride
        return out

    def forward_fused_scores(self, vis: list[torch.Tensor], th: list[torch.Tensor]) -> torch.Tensor:
        """``forward_fused(vis, th)["score_logits"]`` without the IoU and box branches (the LSI regularizer
        looks at scores only)."""
        return self.head.score_logits(self._fused_neck(vis, th))

    def _fused_neck(self, vis: list[torch.Tensor], th: list[torch.Tensor]) -> torch.Tensor:
        fused = [unit(v, t) for unit, v, t in zip(self.fusion, vis[self.first_level:], th[self.first_level:])]
        return self.neck(fused)

    def forward(self, rgb: torch.Tensor, thermal: torch.Tensor) -> dict:
        out = self.forward_fused(*self.extract_features(rgb, thermal))
        h = -(-rgb.shape[-2] // self.stride)
        w = -(-rgb.shape[-1] // self.stride)
        if out["score_logits"].shape[-2:] != (h, w):
            for key in ("score_logits", "iou_logits", "box_ltrb"):
                out[key] = out[key][..., :h, :w]
        return out


def build_model(cfg: ModelConfig) -> LSIDetectorNet:
    """The detector described by ``cfg`` (validated first), with random weights; ImageNet backbone
    weights are ``model.pretrained.init_backbones``'s job."""
    cfg.validate()
    return LSIDetectorNet(
        backbone=cfg.backbone,
        num_classes=cfg.num_classes,
        fusion=cfg.fusion,
        neck_channels=cfg.neck_channels,
        output_stride=cfg.output_stride,
        head_channels=cfg.head_channels,
        head_convs=cfg.head_convs,
    )
