"""Dense maps -> detections: joint ranking score, top-k, class-wise NMS (torchvision).

Split in two so an exported network can stop before NMS and reuse the same selection code:

* ``dense_predictions(outputs, iou_map_power)`` -> per-location ranking scores [B, h*w, C] and boxes
  [B, h*w, 4] (xyxy, network-input pixels). Pure tensor math, ONNX friendly.
* ``select_detections(scores, boxes, cfg)`` -> per-image dicts: threshold, top-k, NMS, max count.

``decode(outputs, cfg)`` chains them. The ranking score is ``score^(1-p) * iou^p`` with ``p =
cfg.iou_map_power``: the classification score tempered by the predicted localization quality, so of
two overlapping boxes NMS keeps the better-localized one. It is also the reported detection score.
"""
from __future__ import annotations

import torch
from torchvision.ops import batched_nms

from lsi_perception.config import InferenceConfig
from lsi_perception.model.boxes import grid_centers, ltrb_to_xyxy


def ranking_scores(score_logits: torch.Tensor, iou_logits: torch.Tensor, iou_map_power: float) -> torch.Tensor:
    """[B, C, h, w] + [B, 1, h, w] logits -> [B, C, h, w] joint score in [0, 1]."""
    score = torch.sigmoid(score_logits.float())
    if iou_map_power <= 0.0:
        return score
    iou = torch.sigmoid(iou_logits.float())
    if iou_map_power >= 1.0:
        return iou.expand_as(score)
    # score^(1-p) * iou^p, computed in log space for stability.
    return torch.exp((1.0 - iou_map_power) * torch.log(score.clamp_min(1e-12))
                     + iou_map_power * torch.log(iou.clamp_min(1e-12)))


def dense_predictions(outputs: dict[str, torch.Tensor], iou_map_power: float,
                      stride: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Network outputs -> (scores [B, h*w, C], boxes [B, h*w, 4] xyxy in network-input pixels).

    ``stride`` defaults to ``outputs["stride"]`` when present (the model adds it).
    """
    score_logits, iou_logits, ltrb = outputs["score_logits"], outputs["iou_logits"], outputs["box_ltrb"]
    if stride is None:
        if "stride" not in outputs:
            raise ValueError("dense_predictions needs the output stride: pass stride= or include outputs['stride']")
        stride = int(outputs["stride"])
    b, c, h, w = score_logits.shape
    scores = ranking_scores(score_logits, iou_logits, iou_map_power).flatten(2).transpose(1, 2)
    centers = grid_centers(h, w, stride, device=ltrb.device, dtype=torch.float32)
    boxes = ltrb_to_xyxy(centers.unsqueeze(0), ltrb.float().flatten(2).transpose(1, 2))
    return scores, boxes


def select_detections(scores: torch.Tensor, boxes: torch.Tensor, cfg: InferenceConfig) -> list[dict[str, torch.Tensor]]:
    """scores [B, N, C], boxes [B, N, 4] -> per image {"boxes" [K,4], "scores" [K], "labels" [K] int64}.

    Keeps (location, class) pairs with score >= cfg.score_threshold, the best cfg.pre_nms_topk of
    them, applies class-wise NMS at cfg.nms_iou and returns at most cfg.max_detections, best first.
    """
    results = []
    num_classes = scores.shape[2]
    for img_scores, img_boxes in zip(scores, boxes):
        flat = img_scores.reshape(-1)
        keep = torch.nonzero(flat >= cfg.score_threshold).squeeze(1)
        cand = flat[keep]
        if cand.numel() > cfg.pre_nms_topk:
            cand, order = cand.topk(cfg.pre_nms_topk)
            keep = keep[order]
        loc = torch.div(keep, num_classes, rounding_mode="floor")
        labels = keep % num_classes
        cand_boxes = img_boxes[loc]
        kept = batched_nms(cand_boxes, cand, labels, cfg.nms_iou)[: cfg.max_detections]
        results.append({"boxes": cand_boxes[kept], "scores": cand[kept], "labels": labels[kept].to(torch.int64)})
    return results


def decode(outputs: dict[str, torch.Tensor], cfg: InferenceConfig,
           stride: int | None = None) -> list[dict[str, torch.Tensor]]:
    """Network outputs -> per-image detections (boxes xyxy in network-input pixels, scores, labels)."""
    scores, boxes = dense_predictions(outputs, cfg.iou_map_power, stride)
    return select_detections(scores, boxes, cfg)
