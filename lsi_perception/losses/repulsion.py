"""Repulsion loss (Wang et al., "Repulsion Loss: Detecting Pedestrians in a Crowd", CVPR 2018).

RepGT pushes each predicted box away from the ground truth it is *not* assigned to (the one it overlaps
most), measured by IoG = intersection / area(GT) so that growing the box cannot cheat the term (it
would with IoU). Shrinking does lower IoG, and where two ground truths overlap RepGT is not zero at the
exact box: in crowds the term biases boxes to be small (measured in models/README.md).
RepBox pushes apart predicted boxes assigned to different objects, so NMS does not merge neighbours.
Both use smooth-ln, which is -ln(1 - x) up to ``sigma`` and linear beyond (bounded gradient near x = 1);
the paper's values are sigma = 0.9 for RepGT and 0 (= plain IoU) for RepBox.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .box import box_area, elementwise_intersection, pairwise_iou


def smooth_ln(x: Tensor, sigma: float) -> Tensor:
    """Smooth-ln of overlaps x in [0, 1]: -ln(1 - x) for x <= sigma, (x - sigma)/(1 - sigma) - ln(1 - sigma) above."""
    if not 0 <= sigma < 1:
        raise ValueError(f"smooth_ln sigma={sigma} must be in [0, 1)")
    x = x.clamp(0, 1)
    low = -torch.log1p(-x.clamp(max=sigma))
    high = (x - sigma) / (1 - sigma) - math.log(1 - sigma)
    return torch.where(x <= sigma, low, high)


def rep_gt_loss(pred: Tensor, matched: Tensor, gt: Tensor, sigma: float = 0.9) -> Tensor:
    """Sum over predictions of smooth_ln(IoG(pred, G_rep)), G_rep = the non-target GT of highest IoU.

    pred: [P, 4] predicted boxes of one image's positive locations; matched: [P] index into gt of each
    prediction's own object; gt: [N, 4] the image's (non-ignored) GT. Returns a scalar sum; the caller
    divides by the number of positives. Zero when the image has fewer than two objects.
    """
    if pred.shape[0] == 0 or gt.shape[0] < 2:
        return pred.sum() * 0
    with torch.no_grad():
        overlap = pairwise_iou(pred.float(), gt.float())  # [P, N]
        overlap[torch.arange(pred.shape[0], device=pred.device), matched] = -1
        best, rep = overlap.max(dim=1)
    rep_boxes = gt[rep].float()
    iog = elementwise_intersection(pred.float(), rep_boxes) / box_area(rep_boxes).clamp(min=1e-7)
    return (smooth_ln(iog, sigma) * (best > 0)).sum()


def rep_box_loss(pred: Tensor, matched: Tensor, sigma: float = 0.0, max_boxes: int = 1024) -> tuple[Tensor, Tensor]:
    """Sum over pairs of predictions with different targets of smooth_ln(IoU), and the count of such
    pairs that overlap (the paper's normalizer). pred: [P, 4]; matched: [P]. Returns (sum, count).

    Pairs grow as P^2: above ``max_boxes`` predictions a random subset is used (an unbiased estimate of
    the mean over overlapping pairs).
    """
    if pred.shape[0] > max_boxes:
        keep = torch.randperm(pred.shape[0], device=pred.device)[:max_boxes]
        pred, matched = pred[keep], matched[keep]
    if pred.shape[0] < 2:
        zero = pred.sum() * 0
        return zero, zero.detach()
    iou = pairwise_iou(pred.float(), pred.float())
    pairs = torch.triu(matched[:, None] != matched[None, :], diagonal=1)
    values = iou[pairs]
    return smooth_ln(values, sigma).sum(), (values > 0).sum().to(values.dtype)
