"""Which TrainingObjective a run trains with: the plain one, or a modality-balancing remedy (``balance:``)."""
from __future__ import annotations

from torch import nn

from lsi_perception.losses.lsi import LSIRegularizer
from lsi_perception.model import LSIDetectorNet
from lsi_perception.train.config import TrainConfig
from lsi_perception.train.engine import TrainingObjective
from lsi_perception.train.ogm_ge import OGMGEObjective
from lsi_perception.train.unimodal_heads import UnimodalHeadsObjective


def build_objective(cfg: TrainConfig, net: LSIDetectorNet, criterion: nn.Module,
                    regularizer: LSIRegularizer | None, distributed: bool) -> TrainingObjective:
    """``cfg.balance.method`` -> the objective; the remedies shape gradients per process, so no DDP."""
    method = cfg.balance.method
    if method != "none" and distributed:
        raise ValueError(f"balance.method={method!r} modulates each process's gradients after backward, which "
                         "DDP's all-reduce does not see: train it in one process (no torchrun)")
    if method == "ogm_ge":
        return OGMGEObjective(net, criterion, regularizer, cfg.loss.delta, cfg.balance)
    if method == "unimodal_heads":
        return UnimodalHeadsObjective(net, criterion, regularizer, cfg.loss.delta, cfg.balance, cfg.model)
    return TrainingObjective(net, criterion, regularizer, cfg.loss.delta)
