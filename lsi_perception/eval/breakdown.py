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

Rows are split by time of day and by crowding. The matching here is the benchmark's (greedy by score,
IoU >= 0.5, best unmatched ground truth) but without its ignore-region bookkeeping: the counts explain
MR, they do not recompute it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .annotations import KaistAnnotations
from .settings import SETTINGS_BY_NAME, Setting

MATCH_IOU = 0.5
LOOSE_IOU = 0.3
OUT_OF_SCOPE_COVER = 0.5  # share of a detection's area inside an out-of-scope person box
GT_CLASSES = ("found", "loose", "missed")
DETECTION_CLASSES = ("true", "duplicate", "loose", "out_of_scope", "background")
CROWDING = ("isolated", "crowded")


@dataclass
class GroundTruthRow:
    """In-scope ground truths of one (time, crowding) group and how they fared."""

    count: int = 0
    found: int = 0
    loose: int = 0
    missed: int = 0
    log_height_ratios: list[float] = field(default_factory=list)
    log_width_ratios: list[float] = field(default_factory=list)

    def height_bias_percent(self) -> float:
        """Median relative error of the box height, percent (NaN when nothing was located)."""
        return _median_percent(self.log_height_ratios)

    def width_bias_percent(self) -> float:
        """Median relative error of the box width, percent (NaN when nothing was located)."""
        return _median_percent(self.log_width_ratios)

    def add(self, other: GroundTruthRow) -> None:
        self.count += other.count
        self.found += other.found
        self.loose += other.loose
        self.missed += other.missed
        self.log_height_ratios += other.log_height_ratios
        self.log_width_ratios += other.log_width_ratios


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
    """
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"score_threshold={score_threshold} must be in [0, 1]")
    scope = SETTINGS_BY_NAME[setting] if isinstance(setting, str) else setting
    by_index = {ann.index_of(key): np.asarray(rows, np.float64).reshape(-1, 5) for key, rows in detections.items()}
    in_scope_all = scope.gt_in_scope(ann.gt_height, ann.gt_occlusion) & ~ann.gt_ignore & ~ann.gt_crosses_border()

    times = ("day", "night", "all")
    gt_rows = {t: {c: GroundTruthRow() for c in (*CROWDING, "all")} for t in times}
    det_counts = {t: dict.fromkeys(DETECTION_CLASSES, 0) for t in times}
    images = dict.fromkeys(times, 0)
    for i in range(ann.num_images):
        time = ann.time_of_day[i] if ann.time_of_day[i] in ("day", "night") else None
        s, e = int(ann.gt_start[i]), int(ann.gt_start[i + 1])
        dets = by_index.get(i, np.zeros((0, 5)))
        dets = dets[dets[:, 4] >= score_threshold]
        dets = dets[np.argsort(-dets[:, 4], kind="stable")]
        gt_rows_i, det_classes = _image_breakdown(ann.gt_boxes[s:e], in_scope_all[s:e], dets)
        for t in (time, "all"):
            if t is None:
                continue
            images[t] += 1
            for crowding, row in gt_rows_i.items():
                gt_rows[t][crowding].add(row)
                gt_rows[t]["all"].add(row)
            for name in det_classes:
                det_counts[t][name] += 1
    return Breakdown(scope.name, float(score_threshold), images, gt_rows, det_counts)


def _image_breakdown(gt: np.ndarray, in_scope: np.ndarray, dets: np.ndarray
                     ) -> tuple[dict[str, GroundTruthRow], list[str]]:
    """One image: gt [M, 4] xywh, in_scope [M] bool, dets [N, 5] sorted by score (descending) ->
    (its ground-truth rows by crowding, the class of each detection)."""
    iou = _iou_xywh(dets[:, :4], gt)  # [N, M]
    scoped = np.flatnonzero(in_scope)
    matched = np.zeros(len(gt), bool)
    det_classes: list[str] = []
    for d in range(len(dets)):
        overlaps = np.where(in_scope & ~matched, iou[d], -1.0)
        j = int(overlaps.argmax()) if len(gt) else -1
        if j >= 0 and overlaps[j] >= MATCH_IOU:
            matched[j] = True
            det_classes.append("true")
            continue
        best_scoped = iou[d, scoped].max() if len(scoped) else 0.0
        if best_scoped >= MATCH_IOU:
            det_classes.append("duplicate")
        elif best_scoped >= LOOSE_IOU:
            det_classes.append("loose")
        elif (~in_scope).any() and _cover(dets[d, :4], gt[~in_scope]).max() >= OUT_OF_SCOPE_COVER:
            det_classes.append("out_of_scope")
        else:
            det_classes.append("background")

    crowded = (_iou_xywh(gt, gt) - np.eye(len(gt)) > 0).any(axis=1) if len(gt) else np.zeros(0, bool)
    rows = {c: GroundTruthRow() for c in CROWDING}
    for j in scoped:
        row = rows["crowded" if crowded[j] else "isolated"]
        row.count += 1
        best = int(iou[:, j].argmax()) if len(dets) else -1
        best_iou = iou[best, j] if best >= 0 else 0.0
        name = "found" if matched[j] else ("loose" if best_iou >= LOOSE_IOU else "missed")
        setattr(row, name, getattr(row, name) + 1)
        if best_iou >= LOOSE_IOU:
            row.log_height_ratios.append(float(np.log(dets[best, 3] / gt[j, 3])))
            row.log_width_ratios.append(float(np.log(dets[best, 2] / gt[j, 2])))
    return rows, det_classes


def _iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[N, 4] x [M, 4] xywh -> [N, M] IoU (0 for empty boxes)."""
    inter = _intersection(a, b)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _cover(det: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Share of the detection's area inside each of ``boxes``: [4], [K, 4] -> [K]."""
    area = max(det[2] * det[3], 1e-12)
    return _intersection(det[None], boxes)[0] / area


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    y2 = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    return np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)


def _median_percent(log_ratios: list[float]) -> float:
    return float(np.expm1(np.median(log_ratios)) * 100.0) if log_ratios else float("nan")


def _none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else round(value, 2)


def format_breakdown(name: str, b: Breakdown) -> str:
    """The breakdown as two small tables (ground truths by time and crowding; detections by time)."""
    label = SETTINGS_BY_NAME[b.setting].label if b.setting in SETTINGS_BY_NAME else b.setting
    lines = [f"{name}: {label} pedestrians, detections scoring >= {b.score_threshold:g}"]
    lines.append(f"  {'ground truth':<16}{'count':>7}{'found':>8}{'loose':>8}{'missed':>8}"
                 f"{'h bias':>9}{'w bias':>9}")
    for time in ("day", "night", "all"):
        for crowding in (*CROWDING, "all"):
            r = b.ground_truth[time][crowding]
            if r.count == 0:
                continue
            pct = [f"{100.0 * v / r.count:7.1f}%" for v in (r.found, r.loose, r.missed)]
            lines.append(f"  {time + ' ' + crowding:<16}{r.count:>7}{''.join(pct)}"
                         f"{_fmt_bias(r.height_bias_percent())}{_fmt_bias(r.width_bias_percent())}")
    lines.append(f"  {'detections':<16}{'images':>7}" + "".join(f"{c:>13}" for c in DETECTION_CLASSES))
    for time in ("day", "night", "all"):
        if b.images[time]:
            lines.append(f"  {time:<16}{b.images[time]:>7}" + "".join(f"{b.detections[time][c]:>13}" for c in DETECTION_CLASSES))
    return "\n".join(lines)


def _fmt_bias(value: float) -> str:
    return f"{'-':>9}" if np.isnan(value) else f"{value:+8.1f}%"
