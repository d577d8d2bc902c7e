"""Unimodal auxiliary heads: each backbone also trains a detector of its own (multitask-style balancing).

Each modality gets a head of the same shape as the fused path minus the other modality: per used stage a
1x1 conv + GroupNorm + SiLU lateral (the fusion unit with one input), the top-down neck and the
decoupled heads, scored with the same detection losses against the same targets. The total loss is

    L = L_fused + aux_weight * (L_rgb + L_thermal)

so a backbone whose features the fused head ignores still gets a direct training signal. The heads
live in the objective, not in the network: checkpoints and the Detector hold the fused detector only
(the train state keeps the heads for ``--resume``).

``aux_combine: mmpareto`` (Wei and Hu, ICML 2024; ``losses/balance.py``): each backbone's gradient is
not the plain sum of the fused and its unimodal gradient but their MMPareto integration. This costs
a second backward pass through the backbones: one for L_fused (every parameter), one for
L_rgb + L_thermal (each touches only its own backbone and head).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from lsi_perception.config import ModelConfig
from lsi_perception.losses.balance import mmpareto_combine
from lsi_perception.losses.lsi import LSIRegularizer
from lsi_perception.model import LSIDetectorNet
from lsi_perception.model.heads import DecoupledHead
from lsi_perception.model.layers import ConvNormAct
from lsi_perception.model.neck import TopDownNeck
from lsi_perception.train.config import BalanceConfig
from lsi_perception.train.engine import TrainingObjective

AUX_MODALITIES = ("rgb", "thermal")


class UnimodalHead(nn.Module):
    """One modality's features (the backbone's 4 stages) -> the detector's output dict."""

    def __init__(self, channels: list[int], first_level: int, neck_channels: int, head_channels: int,
                 head_convs: int, num_classes: int, stride: int) -> None:
        super().__init__()
        self.first_level = first_level
        self.lateral = nn.ModuleList(ConvNormAct(c, neck_channels, 1) for c in channels[first_level:])
        self.neck = TopDownNeck(neck_channels, num_levels=len(self.lateral))
        self.head = DecoupledHead(neck_channels, head_channels, head_convs, num_classes, stride)

    def forward(self, feats: list[Tensor]) -> dict[str, Tensor]:
        maps = [lat(f) for lat, f in zip(self.lateral, feats[self.first_level:])]
        return self.head(self.neck(maps))

    @classmethod
    def for_network(cls, net: LSIDetectorNet, modality: str, model: ModelConfig) -> UnimodalHead:
        """The head for ``net``'s ``modality`` backbone, sized like the fused path (``model``)."""
        backbone = net.rgb_backbone if modality == "rgb" else net.thermal_backbone
        return cls(list(backbone.channels), net.first_level, model.neck_channels, model.head_channels,
                   model.head_convs, net.num_classes, net.stride)


class UnimodalHeadsObjective(TrainingObjective):
    """TrainingObjective + one auxiliary head per modality (see the module docstring).

    Loss terms added to the dict: "fused" (the fused detector's total), "aux_rgb", "aux_thermal" (each
    unimodal head's total, unweighted); "total" is their weighted sum. With MMPareto the step's stats
    carry "pareto_cos_rgb" / "pareto_cos_thermal" (the cosine of the two gradients of each backbone).
    """

    def __init__(self, net: LSIDetectorNet, criterion: nn.Module, regularizer: LSIRegularizer | None,
                 delta: float, cfg: BalanceConfig, model: ModelConfig) -> None:
        super().__init__(net, criterion, regularizer, delta)
        self.heads = nn.ModuleDict({m: UnimodalHead.for_network(net, m, model) for m in AUX_MODALITIES})
        self.aux_weight = cfg.aux_weight
        self.combine = cfg.aux_combine
        self.gamma = cfg.mmpareto_gamma
        self.last_pareto: dict[str, float] = {}

    @property
    def auxiliary(self) -> nn.Module:
        return self.heads

    def forward(self, rgb: Tensor, thermal: Tensor, targets: list[dict[str, Tensor]],
                measure_modalities: bool = False) -> tuple[dict[str, Tensor], dict[str, float]]:
        vis, th = self.net.extract_features(rgb, thermal)
        losses, stats = self._losses(vis, th, targets, measure_modalities)
        losses["fused"] = losses["total"]
        for modality, feats in zip(AUX_MODALITIES, (vis, th)):
            out = {k: v.float() for k, v in self.heads[modality](feats).items()}
            losses[f"aux_{modality}"] = self.criterion(out, targets)["total"]
        losses["total"] = losses["fused"] + self.aux_weight * (losses["aux_rgb"] + losses["aux_thermal"])
        stats.update({f"pareto_{k}": v for k, v in self.last_pareto.items()})
        return losses, stats

    def backward(self, losses: dict[str, Tensor], scaler: torch.amp.GradScaler) -> None:
        if self.combine == "sum":
            scaler.scale(losses["total"]).backward()
            return
        backbones = {"rgb": self.net.rgb_backbone, "thermal": self.net.thermal_backbone}
        enc = {m: [p for p in b.parameters() if p.requires_grad] for m, b in backbones.items()}
        enc_ids = {id(p) for ps in enc.values() for p in ps}
        shared = [p for p in self.net.parameters() if p.requires_grad and id(p) not in enc_ids]
        fused_params = [*enc["rgb"], *enc["thermal"], *shared]
        g_fused = torch.autograd.grad(scaler.scale(losses["fused"]), fused_params, retain_graph=True,
                                      allow_unused=True)
        heads = [p for p in self.heads.parameters() if p.requires_grad]
        uni_params = [*enc["rgb"], *enc["thermal"], *heads]
        aux = self.aux_weight * (losses["aux_rgb"] + losses["aux_thermal"])
        g_uni = torch.autograd.grad(scaler.scale(aux), uni_params, allow_unused=True)

        def dense(grads, params):
            return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]

        g_fused, g_uni = dense(g_fused, fused_params), dense(g_uni, uni_params)
        n_rgb, n_th = len(enc["rgb"]), len(enc["thermal"])
        spans = {"rgb": slice(0, n_rgb), "thermal": slice(n_rgb, n_rgb + n_th)}
        self.last_pareto = {}
        for modality, span in spans.items():
            combined, info = mmpareto_combine(g_fused[span], g_uni[span], self.gamma)
            for p, g in zip(enc[modality], combined):
                p.grad = g if p.grad is None else p.grad + g
            self.last_pareto[f"cos_{modality}"] = info["cos"]
        for p, g in zip(shared, g_fused[n_rgb + n_th:]):
            p.grad = g if p.grad is None else p.grad + g
        for p, g in zip(heads, g_uni[n_rgb + n_th:]):
            p.grad = g if p.grad is None else p.grad + g
