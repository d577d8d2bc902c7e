"""lsi_perception.losses: detection losses and the LSI modality-balance regularizer (torch only).

    criterion = build_criterion(LossConfig(), num_classes, net.stride)
    lsi = LSIRegularizer(loss_cfg)
    vis, th = net.extract_features(rgb, thermal)          # backbones once per step
    outputs = net.forward_fused(vis, th)
    reg, stats = lsi(net, vis, th)                         # stats: I_vis, I_th, ratio, R (log them)
    losses = criterion(outputs, batch.targets, extra_terms={"lsi": reg})
    losses["total"].backward()
"""
from .config import LossConfig
from .criterion import DetectionCriterion, build_criterion
from .lsi import LSIRegularizer, score_functional
from .repulsion import rep_box_loss, rep_gt_loss, smooth_ln
from .targets import DenseTargets, assign_targets

__all__ = [
    "DenseTargets",
    "DetectionCriterion",
    "LSIRegularizer",
    "LossConfig",
    "assign_targets",
    "build_criterion",
    "rep_box_loss",
    "rep_gt_loss",
    "score_functional",
    "smooth_ln",
]
