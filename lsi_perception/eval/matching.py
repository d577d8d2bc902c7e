"""Greedy detection-to-ground-truth matching of the KAIST / Caltech protocol, vectorized over images.

Per image, detections are taken in descending score. Each one matches the still-unmatched,
non-ignored ground truth it overlaps most (IoU >= 0.5; on equal IoU the later box in file order, as the
reference evaluator does); a ground truth matches once. A detection that matches none of them but covers
an ignored ground truth (intersection / *detection* area >= 0.5) is ignored: ignore regions such as
"people" groups absorb any number of detections. Everything else is a false positive, unless it is an
unmatched detection whose height is far outside the setting's range (see ``Setting.detection_height_range``).
A match to an *uncredited* ground truth (the reference protocol's annotation id 0, see protocol.py) uses
that ground truth up but counts as a false positive.

The greedy pass is sequential only within an image, so it runs in rounds: round r handles, in every image
at once, the r-th detection that has any candidate match. The number of rounds is the largest number of
candidate detections in one image (tens on KAIST), not the number of detections.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .annotations import KaistAnnotations
from .results import DetectionTable
from .settings import IOU_THRESHOLD


@dataclass(frozen=True)
class OverlapPairs:
    """Every (detection, ground truth) pair of the same image that overlaps at all, sorted by detection.

    Attributes (P pairs): det [P] int64 detection index; gt [P] int64 ground-truth index;
    iou [P] float64 intersection over union; ioa [P] float64 intersection over the detection's area.
    """

    det: np.ndarray
    gt: np.ndarray
    iou: np.ndarray
    ioa: np.ndarray


@dataclass(frozen=True)
class MatchResult:
    """Per-detection outcome for one setting: a counted detection is a true positive or a false positive.

    Attributes (K detections, M ground truths): true_positive [K] bool; ignored [K] bool (on an ignore
    region, or an unmatched detection out of the height range); gt_ignored [M] bool; matched_gt [K] int64
    the ground truth each detection matched (-1: none).
    """

    true_positive: np.ndarray
    ignored: np.ndarray
    gt_ignored: np.ndarray
    matched_gt: np.ndarray


def overlap_pairs(dets: DetectionTable, ann: KaistAnnotations) -> OverlapPairs:
    """All same-image (detection, ground truth) pairs with a non-empty intersection; one pass, no Python loop."""
    gt_count = np.diff(ann.gt_start)[dets.image]  # [K] ground truths on each detection's image
    det = np.repeat(np.arange(len(dets), dtype=np.int64), gt_count)
    first_pair_of_det = np.repeat(np.cumsum(gt_count) - gt_count, gt_count)
    gt = ann.gt_start[dets.image][det] + (np.arange(len(det), dtype=np.int64) - first_pair_of_det)

    d, g = dets.boxes[det], ann.gt_boxes[gt]
    inter_w = np.minimum(d[:, 0] + d[:, 2], g[:, 0] + g[:, 2]) - np.maximum(d[:, 0], g[:, 0])
    inter_h = np.minimum(d[:, 1] + d[:, 3], g[:, 1] + g[:, 3]) - np.maximum(d[:, 1], g[:, 1])
    inter = np.clip(inter_w, 0.0, None) * np.clip(inter_h, 0.0, None)
    keep = inter > 0
    det, gt, inter, d, g = det[keep], gt[keep], inter[keep], d[keep], g[keep]
    det_area = d[:, 2] * d[:, 3]
    union = det_area + g[:, 2] * g[:, 3] - inter
    return OverlapPairs(det=det, gt=gt, iou=inter / union, ioa=inter / det_area)


def match_detections(
    dets: DetectionTable,
    pairs: OverlapPairs,
    gt_ignored: np.ndarray,
    det_height_range: tuple[float, float],
    iou_threshold: float = IOU_THRESHOLD,
    gt_uncredited: np.ndarray | None = None,
) -> MatchResult:
    """Run the greedy matching for one setting (``gt_ignored`` [M] says which ground truths it ignores).

    ``gt_uncredited`` [M] bool: ground truths a detection can match (and use up) without being a true positive.
    """
    matched_gt = _greedy_match(dets, pairs, gt_ignored, iou_threshold)
    matched = matched_gt >= 0
    true_positive = matched.copy()
    if gt_uncredited is not None:
        true_positive[matched] = ~gt_uncredited[matched_gt[matched]]

    on_ignore_region = np.zeros(len(dets), dtype=bool)
    covers_ignored = gt_ignored[pairs.gt] & (pairs.ioa >= iou_threshold)
    on_ignore_region[pairs.det[covers_ignored]] = True

    height = dets.boxes[:, 3]
    low, high = det_height_range
    out_of_range = (height < low) | (height > high)
    ignored = ~matched & (on_ignore_region | out_of_range)
    return MatchResult(true_positive=true_positive, ignored=ignored, gt_ignored=gt_ignored, matched_gt=matched_gt)


def _greedy_match(dets: DetectionTable, pairs: OverlapPairs, gt_ignored: np.ndarray, iou_threshold: float) -> np.ndarray:
    """[K] int64: the non-ignored ground truth each detection matches in the per-image greedy pass, or -1."""
    matched_det = np.full(len(dets), -1, dtype=np.int64)
    candidate = ~gt_ignored[pairs.gt] & (pairs.iou >= iou_threshold)
    det, gt, iou = pairs.det[candidate], pairs.gt[candidate], pairs.iou[candidate]
    if not len(det):
        return matched_det
    matched_gt = np.zeros(len(gt_ignored), dtype=bool)

    # Rank of each candidate detection among its image's candidates (dets are sorted by image, then score).
    new_det = np.r_[True, det[1:] != det[:-1]]
    cand_det = det[new_det]
    cand_image = dets.image[cand_det]
    new_image = np.r_[True, cand_image[1:] != cand_image[:-1]]
    positions = np.arange(len(cand_det))
    rank = positions - np.maximum.accumulate(np.where(new_image, positions, 0))
    pair_round = rank[np.cumsum(new_det) - 1]

    order = np.argsort(pair_round, kind="stable")
    det, gt, iou, pair_round = det[order], gt[order], iou[order], pair_round[order]
    bounds = np.searchsorted(pair_round, np.arange(pair_round[-1] + 2))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        d, g, v = det[lo:hi], gt[lo:hi], iou[lo:hi]
        free = ~matched_gt[g]
        d, g, v = d[free], g[free], v[free]
        if not len(d):
            continue
        # Per detection, the best free ground truth: sort by (det, iou, gt) and take each det's last row.
        best = np.lexsort((g, v, d))
        d, g = d[best], g[best]
        last = np.r_[d[1:] != d[:-1], True]
        matched_det[d[last]] = g[last]
        matched_gt[g[last]] = True
    return matched_det
