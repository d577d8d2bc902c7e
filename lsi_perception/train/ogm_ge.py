"""OGM-GE for the two-stream detector: slow down the backbone of the modality that leads (Peng et al., CVPR 2022).

The paper's classifier fuses by concatenation, out = W [a; v] + b, and takes each modality's
contribution from its half of W: out_u = W_u u + b / 2, scored by the softmax probability of the true
class. The detector's fusion units are also concatenation + 1x1 conv (``model/fusion.py``, no bias), at
every fused stage, followed by GroupNorm, the neck and the heads. The adaptation here: modality u's
contribution is the detector run with the *other* modality's pre-fusion features set to zero (the
fusion convs then see W_u u only), and its score is the mean probability of the correct answer over
the batch's assigned locations, positives and background weighted equally::

    s_u = 1/2 * ( mean_{positive cells} p_u  +  mean_{negative cells, not ignored} (1 - p_u) )

with p_u the score map's probability. rho_vis = s_vis / s_th; the leading backbone's weight gradients
(every parameter with 2 or more dimensions: PVT's linear and conv weights, not its norms and biases)
are multiplied by k = 1 - tanh(alpha * rho) (``losses/balance.py``), then, with ``ge_noise``, both
backbones' weight gradients get N(0, std(grad)^2) noise (std of the unmodulated gradient), as in the
authors' OGM-GE. The contributions
are measured without gradients on the training batch, once per step (two extra fusion + neck + head
passes). Modulation runs for the whole schedule (the authors stop it after a set epoch).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from lsi_perception.losses.balance import ge_noise, ogm_coefficients
from lsi_perception.losses.lsi import LSIRegularizer
from lsi_perception.model import LSIDetectorNet
from lsi_perception.train.config import BalanceConfig
from lsi_perception.train.engine import TrainingObjective


def contribution_score(score_logits: Tensor, target: Tensor, weight: Tensor) -> float:
    """s = (mean p over positive cells + mean (1 - p) over weighted negative cells) / 2.

    score_logits [B, C, h, w]; target [B, C, L] in [0, 1] (> 0.5 = positive); weight [B, L] (0 = ignored).
    """
    p = score_logits.detach().float().flatten(2).sigmoid()
    pos = target > 0.5
    neg = ~pos & (weight.unsqueeze(1) > 0)
    parts = [p[pos].mean() if pos.any() else None, (1 - p[neg]).mean() if neg.any() else None]
    parts = [float(x) for x in parts if x is not None]
    return sum(parts) / len(parts) if parts else float("nan")


def modulated_parameters(backbone: nn.Module) -> list[nn.Parameter]:
    """The backbone weights OGM-GE modulates: every trainable parameter with 2 or more dimensions."""
    return [p for p in backbone.parameters() if p.requires_grad and p.ndim >= 2]


class OGMGEObjective(TrainingObjective):
    """TrainingObjective whose ``backward`` modulates the backbones' gradients (see the module docstring).

    ``stats`` of each step carry "ogm_rho" (s_vis / s_th), "ogm_k_vis" and "ogm_k_th".
    """

    def __init__(self, net: LSIDetectorNet, criterion: nn.Module, regularizer: LSIRegularizer | None,
                 delta: float, cfg: BalanceConfig) -> None:
        super().__init__(net, criterion, regularizer, delta)
        self.alpha = cfg.alpha
        self.use_noise = cfg.ge_noise
        self.coefficients = (1.0, 1.0)

    def forward(self, rgb: Tensor, thermal: Tensor, targets: list[dict[str, Tensor]],
                measure_modalities: bool = False) -> tuple[dict[str, Tensor], dict[str, float]]:
        vis, th = self.net.extract_features(rgb, thermal)
        losses, stats = self._losses(vis, th, targets, measure_modalities)
        with torch.no_grad():
            out_vis = self.net.forward_fused(vis, [torch.zeros_like(t) for t in th])["score_logits"]
            out_th = self.net.forward_fused([torch.zeros_like(v) for v in vis], th)["score_logits"]
            dense = self.criterion.assign(targets, tuple(out_vis.shape[-2:]), out_vis.device)
            s_vis = contribution_score(out_vis, dense.score, dense.score_weight)
            s_th = contribution_score(out_th, dense.score, dense.score_weight)
        k_vis, k_th, rho = ogm_coefficients(s_vis, s_th, self.alpha)
        self.coefficients = (k_vis, k_th)
        stats.update({"ogm_rho": rho, "ogm_k_vis": k_vis, "ogm_k_th": k_th})
        return losses, stats

    def backward(self, losses: dict[str, Tensor], scaler: torch.amp.GradScaler) -> None:
        scaler.scale(losses["total"]).backward()
        for backbone, k in zip((self.net.rgb_backbone, self.net.thermal_backbone), self.coefficients):
            for p in modulated_parameters(backbone):
                if p.grad is None:
                    continue
                noise = ge_noise(p.grad) if self.use_noise else None  # the std of the unmodulated gradient
                if k != 1.0:
                    p.grad.mul_(k)
                if noise is not None:
                    p.grad.add_(noise)
