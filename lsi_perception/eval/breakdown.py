"""Where a detector's errors come from, at one operating point: the diagnosis that MR alone does not give.

MR^-2 says how many pedestrians are missed across false-positive rates; it does not say why. At one score
threshold this module classes every in-scope ground truth (those the strict protocol counts: in the
setting, Reasonable by default, not ignore-flagged, not crossing the border margin) by the best IoU that
any kept detection reaches with it, and every kept detection by what it lands on:

* ground truths: ``found`` (matched at IoU >= 0.5 by the benchmark's greedy rule), ``loose`` (not found,
  but a detection overlaps it at IoU 0.3-0.5: located, boxed too badly to count) or ``missed``;
* detections: ``true`` (found a pedestrian), ``duplicate`` (IoU >= 0.5 with a pedestrian another,
  higher-scored detection already found: an NMS problem), ``loose`` (IoU 0.3-0.5 with an in-scope
  pedestrian: a localization problem), ``out_of_scope`` (covers a person the setting does not count:
  too small, heavily occluded, ``person?``/crowd regions; half its area or more inside such a box) or
  ``background``;
* box-size bias: the median of log(detected / true) height and width over ground truths with a
  detection at IoU >= 0.3, reported as a percentage. A bias that only crowded pedestrians show (their
  box overlaps another person's) points at an overlap-driven loss such as repulsion.

Rows are split by time of day and by crowding. The matching is the evaluator's (greedy by score, IoU >= 0.5,
best unmatched ground truth; out-of-scope people are its ignore regions) at one threshold: the counts
explain MR, they do not recompute it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .annotations import KaistAnnotations
from .matching import match_detections, overlap_pairs
from .results import DetectionTable
from .settings import IOU_THRESHOLD, SETTINGS_BY_NAME, Setting

LOOSE_IOU = 0.3
DETECTION_CLASSES = ("true", "duplicate", "loose", "out_of_scope", "background")
CROWDING = ("isolated", "crowded")
TIMES = ("day", "night", "all")
_NO_LIMIT = np.iinfo(np.int64).max


@dataclass
class GroundTruthRow:
    """In-scope ground truths of one (time, crowding) group and how they fared."""

    count: int
    found: int
    loose: int
    missed: int
    log_height_ratios: np.ndarray  # log(detected / true) of the best-IoU detection, where it reaches LOOSE_IOU
    log_width_ratios: np.ndarray

    def height_bias_percent(self) -> float:
        """Median relative error of the box height, percent (NaN when nothing was located)."""
        return _median_percent(self.log_height_ratios)

    def width_bias_percent(self) -> float:
        """Median relative error of the box width, percent (NaN when nothing was located)."""
        return _median_percent(self.log_width_ratios)


@dataclass
class Breakdown:
    """The diagnosis of one detections set: ``ground_truth[time][crowding]`` and ``detections[time][class]``.

    time is "day", "night" or "all"; crowding "isolated", "crowded" or "all".
    """

    setting: str
    score_threshold: float
    images: dict[str, int]
    ground_truth: dict[str, dict[str, GroundTruthRow]]
    detections: dict[str, dict[str, int]]

    def to_json(self) -> dict[str, Any]:
        """Plain numbers for a JSON report (biases in percent, NaN as null)."""
        def row(r: GroundTruthRow) -> dict[str, Any]:
            return {"count": r.count, "found": r.found, "loose": r.loose, "missed": r.missed,
                    "height_bias_percent": _none_if_nan(r.height_bias_percent()),
                    "width_bias_percent": _none_if_nan(r.width_bias_percent())}

        return {"setting": self.setting, "score_threshold": self.score_threshold, "images": self.images,
                "ground_truth": {t: {c: row(r) for c, r in rows.items()} for t, rows in self.ground_truth.items()},
                "detections": self.detections}


def error_breakdown(ann: KaistAnnotations, detections: Mapping[Any, np.ndarray], score_threshold: float,
                    setting: str | Setting = "reasonable") -> Breakdown:
    """Class the ground truths and the detections scoring >= ``score_threshold`` (see the module docstring).

    detections: ``{im_name or 0-based image index: (N, 5) x, y, w, h, score}`` as ``load_results`` returns.
    The matching is the evaluator's own (``matching.match_detections``), with every ground truth outside
    the scope ignored and no detection-height filter.
    """
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"score_threshold={score_threshold} must be in [0, 1]")
    scope = SETTINGS_BY_NAME[setting] if isinstance(setting, str) else setting
    table = DetectionTable.from_mapping(ann, detections)
    kept = table.scores >= score_threshold
    table = DetectionTable.from_arrays(ann.num_images, table.image[kept], table.boxes[kept], table.scores[kept])
    in_scope = scope.gt_in_scope(ann.gt_height, ann.gt_occlusion) & ~ann.gt_ignore & ~ann.gt_crosses_border()
    pairs = overlap_pairs(table, ann)
    match = match_detections(table, pairs, ~in_scope, (-np.inf, np.inf))

    # Detections: the best IoU each reaches with an in-scope pedestrian decides what an unmatched one is.
    scoped = in_scope[pairs.gt]
    det_best = np.zeros(len(table))
    np.maximum.at(det_best, pairs.det[scoped], pairs.iou[scoped])
    det_class = np.select(
        [match.true_positive, det_best >= IOU_THRESHOLD, det_best >= LOOSE_IOU, match.ignored],
        ["true", "duplicate", "loose", "out_of_scope"], "background")

    # Ground truths: found if matched, else loose or missed by the best IoU any detection reaches.
    found = np.zeros(len(in_scope), bool)
    found[match.matched_gt[match.matched_gt >= 0]] = True
    by_iou = np.lexsort((pairs.iou, pairs.gt))  # per ground truth, its best pair last
    last = by_iou[np.r_[pairs.gt[by_iou][1:] != pairs.gt[by_iou][:-1], True]] if len(by_iou) else by_iou
    gt_best_iou = np.zeros(len(in_scope))
    gt_best_det = np.zeros(len(in_scope), np.int64)
    gt_best_iou[pairs.gt[last]] = pairs.iou[last]
    gt_best_det[pairs.gt[last]] = pairs.det[last]
    located = gt_best_iou >= LOOSE_IOU
    log_h, log_w = np.full(len(in_scope), np.nan), np.full(len(in_scope), np.nan)
    det_boxes, gt_boxes = table.boxes[gt_best_det[located]], ann.gt_boxes[located]
    log_h[located] = np.log(det_boxes[:, 3] / gt_boxes[:, 3])  # IoU >= 0.3: both boxes have an area
    log_w[located] = np.log(det_boxes[:, 2] / gt_boxes[:, 2])
    crowded = _overlaps_another_ground_truth(ann)

    def gt_row(mask: np.ndarray) -> GroundTruthRow:
        m = mask & in_scope
        return GroundTruthRow(count=int(m.sum()), found=int((m & found).sum()), loose=int((m & ~found & located).sum()),
                              missed=int((m & ~found & ~located).sum()),
                              log_height_ratios=log_h[m & located], log_width_ratios=log_w[m & located])

    image_time = np.asarray(ann.time_of_day)
    ground_truth, det_counts, images = {}, {}, {}
    for time in TIMES:
        on_image = np.ones(ann.num_images, bool) if time == "all" else image_time == time
        gt_mask, det_mask = on_image[ann.gt_image], on_image[table.image]
        ground_truth[time] = {"isolated": gt_row(gt_mask & ~crowded), "crowded": gt_row(gt_mask & crowded),
                              "all": gt_row(gt_mask)}
        det_counts[time] = {name: int((det_mask & (det_class == name)).sum()) for name in DETECTION_CLASSES}
        images[time] = int(on_image.sum())
    return Breakdown(scope.name, float(score_threshold), images, ground_truth, det_counts)


def _overlaps_another_ground_truth(ann: KaistAnnotations) -> np.ndarray:
    """[M] bool: the ground-truth box overlaps another box of its image (any, ignored ones included).

    The ground truths are put through the evaluator's overlap search as if they were detections: with equal
    scores the table keeps file order, so table row k is ground truth k.
    """
    as_dets = DetectionTable.from_arrays(ann.num_images, ann.gt_image, ann.gt_boxes, np.zeros(len(ann.gt_image)),
                                         max_per_image=_NO_LIMIT)
    pairs = overlap_pairs(as_dets, ann)
    crowded = np.zeros(len(ann.gt_image), bool)
    crowded[pairs.det[pairs.det != pairs.gt]] = True
    return crowded


def _median_percent(log_ratios: np.ndarray) -> float:
    return float(np.expm1(np.median(log_ratios)) * 100.0) if len(log_ratios) else float("nan")


def _none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else round(value, 2)


def format_breakdown(name: str, b: Breakdown) -> str:
    """The breakdown as two small tables (ground truths by time and crowding; detections by time)."""
    label = SETTINGS_BY_NAME[b.setting].label if b.setting in SETTINGS_BY_NAME else b.setting
    lines = [f"{name}: {label} pedestrians, detections scoring >= {b.score_threshold:g}"]
    lines.append(f"  {'ground truth':<16}{'count':>7}{'found':>8}{'loose':>8}{'missed':>8}"
                 f"{'h bias':>9}{'w bias':>9}")
    for time in TIMES:
        for crowding in (*CROWDING, "all"):
            r = b.ground_truth[time][crowding]
            if r.count == 0:
                continue
            pct = [f"{100.0 * v / r.count:7.1f}%" for v in (r.found, r.loose, r.missed)]
            lines.append(f"  {time + ' ' + crowding:<16}{r.count:>7}{''.join(pct)}"
                         f"{_fmt_bias(r.height_bias_percent())}{_fmt_bias(r.width_bias_percent())}")
    lines.append(f"  {'detections':<16}{'images':>7}" + "".join(f"{c:>13}" for c in DETECTION_CLASSES))
    for time in TIMES:
        if b.images[time]:
            lines.append(f"  {time:<16}{b.images[time]:>7}" + "".join(f"{b.detections[time][c]:>13}" for c in DETECTION_CLASSES))
    return "\n".join(lines)


def _fmt_bias(value: float) -> str:
    return f"{'-':>9}" if np.isnan(value) else f"{value:+8.1f}%"
