"""Box geometry for the losses and the box / IoU-map losses on positive locations.

Boxes are xyxy pixels. ``torchvision.ops`` provides the pairwise IoU and the GIoU/DIoU/CIoU losses;
the element-wise overlaps below (IoU of box i with box i, intersection over the GT area) are not in
torchvision and are the few lines the IoU map and the repulsion loss need.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import complete_box_iou_loss, distance_box_iou_loss, generalized_box_iou_loss

_EPS = 1e-7
_BOX_LOSSES = {
    "giou": generalized_box_iou_loss,
    "diou": distance_box_iou_loss,
    "ciou": complete_box_iou_loss,
}


def box_area(boxes: Tensor) -> Tensor:
    """[..., 4] -> [...]; negative extents count as zero."""
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def elementwise_intersection(a: Tensor, b: Tensor) -> Tensor:
    """Intersection area of a[i] and b[i]: [N, 4], [N, 4] -> [N] (broadcasts like the inputs)."""
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    return (rb - lt).clamp(min=0).prod(dim=-1)


def elementwise_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of a[i] with b[i]: [N, 4], [N, 4] -> [N]; 0 (not NaN) for two empty boxes."""
    inter = elementwise_intersection(a, b)
    return inter / (box_area(a) + box_area(b) - inter + _EPS)


def pairwise_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of every a[i] with every b[j]: [N, 4], [M, 4] -> [N, M]; safe for empty boxes."""
    return elementwise_iou(a[:, None, :], b[None, :, :])


def box_iou_loss(pred: Tensor, target: Tensor, kind: str = "giou") -> Tensor:
    """Per-box regression loss in [0, 2]: [P, 4], [P, 4] -> [P]; zero for identical boxes."""
    try:
        fn = _BOX_LOSSES[kind]
    except KeyError:
        raise ValueError(f"box loss kind={kind!r} is not one of {', '.join(_BOX_LOSSES)}") from None
    return fn(pred.float(), target.float(), reduction="none", eps=_EPS)


def iou_map_loss(iou_logits: Tensor, pred: Tensor, target: Tensor) -> Tensor:
    """BCE of the predicted IoU against the actual (detached) IoU of the predicted box: [P], [P, 4], [P, 4] -> [P].

    Detaching keeps the IoU branch from pulling the boxes toward whatever IoU it happens to predict: the
    box branch is trained by the box loss alone, the IoU map learns to rate it.
    """
    actual = elementwise_iou(pred.detach().float(), target.float()).clamp(0, 1)
    return F.binary_cross_entropy_with_logits(iou_logits.float(), actual, reduction="none")
