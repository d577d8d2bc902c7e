"""Dense assignment of ground-truth boxes to score-map locations (center sampling).

A location (map cell) is *positive* for a GT box when its center lies inside the box and within the
box's central region: ``|c - g_c| < max(center_radius * stride, center_fraction * size / 2)`` on each
axis (FCOS-style center sampling, with a box-relative floor so tall pedestrians get more than a
5x5 patch). The cell that holds the GT center is always positive, so a box smaller than a cell still
trains something. A location claimed by several boxes goes to the smallest (it is the one most likely
to be hidden behind the others). Ignored GT (``ignore`` flag: crowds, ``person?``, too small) never
produce positives; negatives whose center lies inside an ignored box get zero weight in the score loss.

Locations are the ``h * w`` map cells in row-major order, the order of ``tensor.flatten(2)`` on an
``[B, C, h, w]`` map and of ``lsi_perception.model.boxes.grid_centers``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from lsi_perception.model.boxes import grid_centers

SOFT_TARGETS = ("hard", "gaussian")


@dataclass
class DenseTargets:
    """Per-location training targets for one batch (``L = h * w`` locations, ``B`` images).

    score:        [B, C, L] score-map target in [0, 1] (1 or a Gaussian of the distance to the GT center)
    score_weight: [B, L]    0 at negatives inside ignore regions, 1 elsewhere
    matched_gt:   [B, L]    int64 index into ``gt_boxes[b]`` of the location's object, -1 for negatives
    matched_boxes:[B, L, 4] xyxy box of that object (zeros at negatives)
    gt_boxes:     list of B tensors [N_b, 4]: the image's non-ignored GT boxes (repulsion needs them all)
    centers:      [L, 2]    (x, y) pixel centers of the locations
    """

    score: Tensor
    score_weight: Tensor
    matched_gt: Tensor
    matched_boxes: Tensor
    gt_boxes: list[Tensor]
    centers: Tensor

    @property
    def positive(self) -> Tensor:
        """[B, L] bool mask of locations that carry an object."""
        return self.matched_gt >= 0

    @property
    def num_positives(self) -> Tensor:
        """Number of positive locations in the batch as a float tensor, clamped to >= 1 (the normalizer)."""
        return self.positive.sum().clamp(min=1).to(self.score.dtype)


def _central_half_extent(sizes: Tensor, stride: int, center_radius: float, center_fraction: float) -> Tensor:
    """Half-size of the central sampling region per box and axis: [N, 2] from box sizes [N, 2] (w, h)."""
    return torch.clamp(center_fraction * sizes / 2, min=center_radius * stride)


def _assign_image(
    boxes: Tensor,
    labels: Tensor,
    ignore: Tensor,
    centers: Tensor,
    map_size: tuple[int, int],
    stride: int,
    num_classes: int,
    center_radius: float,
    center_fraction: float,
    soft_target: str,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One image -> (score [C, L], weight [L], matched [L], matched_boxes [L, 4], gt [N, 4])."""
    h, w = map_size
    num_loc = centers.shape[0]
    device, dtype = centers.device, centers.dtype
    score = torch.zeros(num_classes, num_loc, device=device, dtype=dtype)
    weight = torch.ones(num_loc, device=device, dtype=dtype)
    matched = torch.full((num_loc,), -1, device=device, dtype=torch.long)

    sizes = boxes[:, 2:] - boxes[:, :2]
    valid = (sizes > 0).all(dim=1)  # degenerate boxes cannot be regressed: they neither train nor ignore
    keep = valid & ~ignore
    gt, gt_labels = boxes[keep], labels[keep]
    ign_boxes = boxes[valid & ignore]

    if gt.shape[0] > 0:
        gt_sizes = gt[:, 2:] - gt[:, :2]
        gt_centers = (gt[:, :2] + gt[:, 2:]) / 2
        offset = centers[:, None, :] - gt_centers[None, :, :]  # [L, N, 2]
        half = _central_half_extent(gt_sizes, stride, center_radius, center_fraction)  # [N, 2]
        inside = (centers[:, None, :] > gt[None, :, :2]).all(-1) & (centers[:, None, :] < gt[None, :, 2:]).all(-1)
        central = (offset.abs() < half[None]).all(-1)
        candidate = inside & central  # [L, N]
        cell_j = (gt_centers[:, 0] / stride).floor().long().clamp(0, w - 1)
        cell_i = (gt_centers[:, 1] / stride).floor().long().clamp(0, h - 1)
        candidate[cell_i * w + cell_j, torch.arange(gt.shape[0], device=device)] = True

        area = gt_sizes.prod(dim=1)
        cost = area[None, :].expand(num_loc, -1).masked_fill(~candidate, float("inf"))
        best_cost, best = cost.min(dim=1)
        pos = torch.isfinite(best_cost)
        matched = torch.where(pos, best, matched)

        pos_idx = pos.nonzero(as_tuple=True)[0]
        obj = best[pos_idx]
        if soft_target == "gaussian":
            # sigma = half the central half-extent: the region's edge sits at 2 sigma on each axis
            rel = offset[pos_idx, obj] / (half[obj] / 2)
            value = torch.exp(-0.5 * (rel**2).sum(-1))
        else:
            value = torch.ones_like(obj, dtype=dtype)
        score[gt_labels[obj], pos_idx] = value

    if ign_boxes.shape[0] > 0:
        in_ignored = (
            (centers[:, None, :] > ign_boxes[None, :, :2]).all(-1) & (centers[:, None, :] < ign_boxes[None, :, 2:]).all(-1)
        ).any(dim=1)
        weight = torch.where(in_ignored & (matched < 0), torch.zeros_like(weight), weight)

    if gt.shape[0] > 0:
        matched_boxes = gt[matched.clamp(min=0)] * (matched >= 0).unsqueeze(-1).to(dtype)
    else:
        matched_boxes = torch.zeros(num_loc, 4, device=device, dtype=dtype)
    return score, weight, matched, matched_boxes, gt


def assign_targets(
    targets: Sequence[dict[str, Tensor]],
    map_size: tuple[int, int],
    stride: int,
    num_classes: int,
    *,
    center_radius: float = 2.5,
    center_fraction: float = 0.5,
    soft_target: str = "hard",
    device: torch.device | str | None = None,
) -> DenseTargets:
    """Assign each image's GT to the ``map_size = (h, w)`` locations of a stride-``stride`` map.

    targets: one dict per image with "boxes" [N, 4] xyxy in network-input pixels, "labels" [N] int64
    (class index < num_classes) and optionally "ignore" [N] bool. soft_target: "hard" (1 at positives)
    or "gaussian" (exp(-d^2 / 2 sigma^2) of the offset to the GT center, sigma = half the central
    region's half-extent: a soft centre-ness that is ~1 at the center cell and ~0.14 at the region edge).
    """
    if soft_target not in SOFT_TARGETS:
        raise ValueError(f"soft_target={soft_target!r} is not one of {', '.join(SOFT_TARGETS)}")
    h, w = map_size
    if device is None:
        device = targets[0]["boxes"].device if len(targets) else "cpu"
    centers = grid_centers(h, w, stride, device=torch.device(device), dtype=torch.float32)
    per_image = []
    for k, t in enumerate(targets):
        boxes = torch.as_tensor(t["boxes"], dtype=torch.float32, device=device).reshape(-1, 4)
        labels = torch.as_tensor(t["labels"], dtype=torch.long, device=device).reshape(-1)
        ignore = t.get("ignore")
        ignore = (
            torch.zeros_like(labels, dtype=torch.bool)
            if ignore is None
            else torch.as_tensor(ignore, dtype=torch.bool, device=device).reshape(-1)
        )
        if not boxes.shape[0] == labels.shape[0] == ignore.shape[0]:
            raise ValueError(
                f"target {k}: boxes ({boxes.shape[0]}), labels ({labels.shape[0]}) and ignore "
                f"({ignore.shape[0]}) must have one entry per object"
            )
        bad = labels[~ignore]
        if bad.numel() and (bad.min() < 0 or bad.max() >= num_classes):
            raise ValueError(
                f"target {k}: label {int(bad.max())} is outside [0, {num_classes}): the dataset's class_names "
                "and model.class_names disagree"
            )
        labels = labels.clamp(0, num_classes - 1)  # ignored objects may carry any label
        per_image.append(
            _assign_image(
                boxes, labels, ignore, centers, (h, w), stride, num_classes, center_radius, center_fraction, soft_target
            )
        )
    score, weight, matched, matched_boxes, gt = zip(*per_image) if per_image else ((), (), (), (), ())
    return DenseTargets(
        score=torch.stack(score) if score else torch.zeros(0, num_classes, h * w, device=device),
        score_weight=torch.stack(weight) if weight else torch.zeros(0, h * w, device=device),
        matched_gt=torch.stack(matched) if matched else torch.zeros(0, h * w, dtype=torch.long, device=device),
        matched_boxes=torch.stack(matched_boxes) if matched_boxes else torch.zeros(0, h * w, 4, device=device),
        gt_boxes=list(gt),
        centers=centers,
    )
