"""Score-map losses: sigmoid focal loss (quality-focal form for soft targets) and plain BCE."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def focal_loss(logits: Tensor, target: Tensor, alpha: float = 0.25, gamma: float = 2.0) -> Tensor:
    """Element-wise sigmoid focal loss, generalized to soft targets in [0, 1].

    ``BCE(p, t) * |t - p|^gamma * (alpha * t + (1 - alpha) * (1 - t))``. For hard 0/1 targets this is
    exactly the focal loss of Lin et al. (2017) (= ``torchvision.ops.sigmoid_focal_loss``); for soft
    targets the modulating factor ``|t - p|^gamma`` is that of Quality Focal Loss (Li et al., 2020), so a
    location predicted at its soft target costs nothing. ``alpha < 0`` disables the class balance term.
    logits, target: same shape; returns that shape (float32).
    """
    logits, target = logits.float(), target.float()
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    loss = ce * (target - prob).abs().pow(gamma)
    if alpha >= 0:
        loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    return loss


def score_map_loss(
    logits: Tensor,
    target: Tensor,
    weight: Tensor,
    num_positives: Tensor,
    *,
    kind: str = "focal",
    focal_alpha: float = 0.25,
    focal_gamma: float = 2.0,
) -> Tensor:
    """Scalar score-map loss.

    logits, target: [B, C, L]; weight: [B, L] (0 = ignore region); num_positives: scalar tensor >= 1.
    "focal": sum over locations and classes / num_positives (the focal factor already discounts the
    easy negatives, so positives set the scale, as in RetinaNet/FCOS). "bce": mean over the weighted
    (non-ignored) location-class entries; a sum over ~10^4 negatives per positive would swamp every
    other term.
    """
    if kind == "focal":
        loss = focal_loss(logits, target, focal_alpha, focal_gamma)
        return (loss * weight.unsqueeze(1)).sum() / num_positives
    if kind == "bce":
        loss = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
        w = weight.unsqueeze(1).expand_as(loss)
        return (loss * w).sum() / w.sum().clamp(min=1)
    raise ValueError(f"score loss kind={kind!r} is not 'focal' or 'bce'")
