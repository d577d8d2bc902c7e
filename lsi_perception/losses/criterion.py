"""DetectionCriterion: every detection loss term, unweighted, plus their weighted "total".

Like DETR's SetCriterion, the terms are named functions and the weights live in one table
(``criterion.weight_dict``), so the trainer logs every term both raw and weighted, and an extra term
computed elsewhere (the LSI regularizer needs the network, not just its outputs) joins the same total.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from lsi_perception.model.boxes import ltrb_to_xyxy

from .box import box_iou_loss, iou_map_loss
from .config import LossConfig
from .repulsion import rep_box_loss, rep_gt_loss
from .score import score_map_loss
from .targets import DenseTargets, assign_targets

OUTPUT_KEYS = ("score_logits", "iou_logits", "box_ltrb")


class DetectionCriterion(nn.Module):
    """Losses of the dense detector against per-image GT.

    ``criterion(outputs, targets, extra_terms={"lsi": R})`` returns a dict of scalar tensors:
      "score"     score-map focal/BCE loss
      "iou"       GIoU (or DIoU/CIoU) loss of the predicted boxes at positive locations
      "iou_map"   BCE of the IoU map against the actual IoU of each positive location's predicted box
      "repulsion" rep_gt_weight * RepGT + rep_box_weight * RepBox, with "rep_gt", "rep_box" for logs
      any ``extra_terms`` passed in (must be keys of weight_dict, e.g. "lsi")
      "total"     sum of weight_dict[k] * term[k]
    Dense terms are divided by the batch's number of positive locations (>= 1).

    outputs: the model's dict, "score_logits" [B, C, h, w], "iou_logits" [B, 1, h, w], "box_ltrb"
    [B, 4, h, w] (non-negative side distances in input pixels). targets: B dicts with "boxes" [N, 4]
    xyxy input pixels, "labels" [N], optional "ignore" [N] bool.
    """

    def __init__(self, cfg: LossConfig, num_classes: int, stride: int) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.num_classes = num_classes
        self.stride = stride
        self.weight_dict: dict[str, float] = {
            "score": cfg.alpha,
            "iou": cfg.beta,
            "iou_map": cfg.gamma,
            "repulsion": cfg.repulsion_weight,
            "lsi": cfg.delta,
        }

    def assign(self, targets: Sequence[Mapping[str, Tensor]], map_size: tuple[int, int], device: torch.device) -> DenseTargets:
        """Dense targets for a ``map_size = (h, w)`` map (exposed for visualisation and debugging)."""
        return assign_targets(
            targets,
            map_size,
            self.stride,
            self.num_classes,
            center_radius=self.cfg.center_radius,
            center_fraction=self.cfg.center_fraction,
            soft_target=self.cfg.score_target,
            device=device,
        )

    def _check(self, outputs: Mapping[str, Tensor], targets: Sequence[Mapping[str, Tensor]]) -> None:
        missing = [k for k in OUTPUT_KEYS if k not in outputs]
        if missing:
            raise KeyError(f"model outputs lack {missing}; DetectionCriterion needs {list(OUTPUT_KEYS)}")
        b, c = outputs["score_logits"].shape[:2]
        if c != self.num_classes:
            raise ValueError(
                f"score_logits has {c} classes but the criterion was built for {self.num_classes}: "
                "build both from the same model.class_names"
            )
        if len(targets) != b:
            raise ValueError(f"got {len(targets)} target dicts for a batch of {b} images")

    def forward(
        self,
        outputs: Mapping[str, Tensor],
        targets: Sequence[Mapping[str, Tensor]],
        extra_terms: Mapping[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        self._check(outputs, targets)
        cfg = self.cfg
        score_logits = outputs["score_logits"]
        h, w = score_logits.shape[-2:]
        dense = self.assign(targets, (h, w), score_logits.device)
        num_pos = dense.num_positives
        pos = dense.positive  # [B, L]

        losses: dict[str, Tensor] = {}
        losses["score"] = score_map_loss(
            score_logits.flatten(2),
            dense.score,
            dense.score_weight,
            num_pos,
            kind=cfg.score_loss,
            focal_alpha=cfg.focal_alpha,
            focal_gamma=cfg.focal_gamma,
        )

        ltrb = outputs["box_ltrb"].flatten(2).transpose(1, 2).float()  # [B, L, 4]
        pred_boxes = ltrb_to_xyxy(dense.centers.unsqueeze(0), ltrb)  # [B, L, 4]
        pred_pos = pred_boxes[pos]  # [P, 4]
        target_pos = dense.matched_boxes[pos]
        losses["iou"] = box_iou_loss(pred_pos, target_pos, cfg.box_loss).sum() / num_pos
        iou_logits = outputs["iou_logits"].flatten(1)[pos]  # [P]
        losses["iou_map"] = iou_map_loss(iou_logits, pred_pos, target_pos).sum() / num_pos

        rep_gt, rep_box = self._repulsion(pred_boxes, dense, num_pos)
        losses["rep_gt"] = rep_gt
        losses["rep_box"] = rep_box
        losses["repulsion"] = cfg.rep_gt_weight * rep_gt + cfg.rep_box_weight * rep_box

        for name, value in (extra_terms or {}).items():
            if name not in self.weight_dict or name in losses:
                raise KeyError(f"extra term {name!r} has no weight: expected one of "
                               f"{sorted(set(self.weight_dict) - set(losses))}")
            losses[name] = value
        losses["total"] = sum(self.weight_dict[k] * losses[k] for k in self.weight_dict if k in losses)
        return losses

    def _repulsion(self, pred_boxes: Tensor, dense: DenseTargets, num_pos: Tensor) -> tuple[Tensor, Tensor]:
        """(RepGT, RepBox) over the batch; both zero (and not computed) when repulsion_weight is 0."""
        zero = pred_boxes.sum() * 0
        if self.cfg.repulsion_weight == 0:
            return zero, zero
        gt_sum, box_sum, box_pairs = zero, zero, zero.detach()
        for b, gt in enumerate(dense.gt_boxes):
            pos = dense.positive[b]
            pred, matched = pred_boxes[b, pos], dense.matched_gt[b, pos]
            if self.cfg.rep_gt_weight > 0:
                gt_sum = gt_sum + rep_gt_loss(pred, matched, gt, self.cfg.rep_gt_sigma)
            if self.cfg.rep_box_weight > 0:
                s, n = rep_box_loss(pred, matched, self.cfg.rep_box_sigma, self.cfg.rep_box_max_boxes)
                box_sum, box_pairs = box_sum + s, box_pairs + n
        return gt_sum / num_pos, box_sum / box_pairs.clamp(min=1)


def build_criterion(cfg: LossConfig, num_classes: int, stride: int) -> DetectionCriterion:
    """Factory matching the model's ``build_model``: ``build_criterion(cfg.loss, model_cfg.num_classes, net.stride)``."""
    return DetectionCriterion(cfg, num_classes, stride)
