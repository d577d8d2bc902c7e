"""Log-average miss rate (MR^-2) of the KAIST benchmark for every setting and day / night subset.

For one setting and image subset, the counted detections (true and false positives, see matching.py)
are pooled over the subset's images and sorted by descending score; walking down the list gives the
false positives per image (FPPI, over *every* image of the subset, with or without detections or
pedestrians) and the miss rate (1 - recall over the subset's counted pedestrians: every non-ignored one in
the strict protocol, those on images with a detection in the reference protocol, see protocol.py). MR^-2 samples the
miss rate at 9 FPPI points log-spaced over [1e-2, 1e0] (settings.FPPI_POINTS), taking at each the recall reached by the last
detection whose FPPI does not exceed it, and averages them in log space.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .annotations import KaistAnnotations
from .matching import MatchResult, match_detections, overlap_pairs
from .protocol import DEFAULT_PROTOCOL, Protocol, get_protocol
from .results import DetectionsByImage, DetectionTable
from .settings import FPPI_POINTS, SETTINGS, TIMES, Setting


@dataclass(frozen=True)
class Curve:
    """The FPPI / miss-rate curve of one setting and subset, and its MR^-2.

    Attributes (D counted detections): fppi [D] and miss_rate [D], after each detection in descending
    score; sampled_miss_rate [9] at FPPI_POINTS; mr the log-average miss rate in percent (NaN when the
    subset has no pedestrian to find); num_images and num_pedestrians the denominators.
    """

    fppi: np.ndarray
    miss_rate: np.ndarray
    sampled_miss_rate: np.ndarray
    mr: float
    num_images: int
    num_pedestrians: int


@dataclass
class EvalResult:
    """MR^-2 in percent as ``mr[setting][time]`` (settings: see SETTINGS; time: all, day, night), and the
    name of the protocol that counted the ground truths ("reference" or "strict", see protocol.py)."""

    mr: dict[str, dict[str, float]] = field(default_factory=dict)
    curves: dict[str, dict[str, Curve]] = field(default_factory=dict)
    protocol: str = DEFAULT_PROTOCOL

    def to_json(self) -> dict[str, dict[str, float | None]]:
        """``{setting: {time: MR percent}}``, JSON-ready (NaN, an empty subset, becomes None)."""
        return {s: {t: (None if np.isnan(v) else float(v)) for t, v in times.items()} for s, times in self.mr.items()}


def evaluate(
    ann: KaistAnnotations,
    detections: DetectionsByImage | DetectionTable,
    settings: Iterable[Setting] = SETTINGS,
    times: Iterable[str] = TIMES,
    detection_height_expansion: float | None = None,
    protocol: str | Protocol = DEFAULT_PROTOCOL,
) -> EvalResult:
    """Evaluate detections (``{im_name or 0-based index: (N, 5) x,y,w,h,score}``) against ``ann``.

    ``protocol``: "reference" (the KAIST reference evaluator, published figures) or "strict" (every
    ground truth counts); see protocol.py. ``detection_height_expansion`` (e.g. 1.25,
    CALTECH_DETECTION_HEIGHT_EXPANSION) ignores unmatched detections far outside each setting's height
    range, as the Caltech toolbox does; the default None counts them all, as the KAIST reference does.
    """
    protocol = get_protocol(protocol)
    dets = detections if isinstance(detections, DetectionTable) else DetectionTable.from_mapping(ann, detections)
    pairs = overlap_pairs(dets, ann)
    border = ann.gt_crosses_border()
    gt_counted = np.ones(len(ann.gt_image), dtype=bool)
    if protocol.skip_images_without_detections:
        gt_counted = (np.diff(dets.start) > 0)[ann.gt_image]
    gt_uncredited = (ann.gt_ids == 0) if protocol.annotation_id_zero_unmatched else None
    time_masks = {t: ann.time_mask(t) for t in times}
    result = EvalResult(protocol=protocol.name)
    for setting in settings:
        gt_ignored = ann.gt_ignore | border | ~setting.gt_in_scope(ann.gt_height, ann.gt_occlusion)
        match = match_detections(dets, pairs, gt_ignored, setting.detection_height_range(detection_height_expansion),
                                 gt_uncredited=gt_uncredited)
        result.curves[setting.name] = {t: miss_rate_curve(ann, dets, match, mask, gt_counted)
                                       for t, mask in time_masks.items()}
        result.mr[setting.name] = {t: curve.mr for t, curve in result.curves[setting.name].items()}
    return result


def miss_rate_curve(
    ann: KaistAnnotations, dets: DetectionTable, match: MatchResult, image_mask: np.ndarray,
    gt_counted: np.ndarray | None = None,
) -> Curve:
    """The FPPI / miss-rate curve and MR^-2 over the images in ``image_mask`` ([I] bool).

    ``gt_counted`` [M] bool limits the pedestrians the miss rate is taken over (None: all non-ignored).
    """
    counted = image_mask[dets.image] & ~match.ignored
    order = np.argsort(-dets.scores[counted], kind="stable")  # stable: ties keep image order, as the reference
    true_positive = match.true_positive[counted][order]
    num_images = int(image_mask.sum())
    gt_mask = image_mask[ann.gt_image] & ~match.gt_ignored
    if gt_counted is not None:
        gt_mask &= gt_counted
    num_pedestrians = int(gt_mask.sum())

    fppi = np.cumsum(~true_positive) / max(num_images, 1)
    recall = np.cumsum(true_positive) / num_pedestrians if num_pedestrians else np.zeros(len(true_positive))
    miss_rate = 1.0 - recall
    sampled, mr = log_average_miss_rate(fppi, miss_rate)
    if not num_pedestrians:
        mr = float("nan")
    return Curve(fppi=fppi, miss_rate=miss_rate, sampled_miss_rate=sampled, mr=mr,
                 num_images=num_images, num_pedestrians=num_pedestrians)


def log_average_miss_rate(
    fppi: np.ndarray, miss_rate: np.ndarray, points: np.ndarray = FPPI_POINTS
) -> tuple[np.ndarray, float]:
    """Sample the curve at ``points`` and return (sampled miss rates [len(points)], MR^-2 in percent).

    At each point the miss rate is that of the last detection whose FPPI does not exceed it (1.0 when no
    detection is that confident). ``fppi`` must be non-decreasing. The average is geometric, so one
    sampled miss rate of 0 makes MR^-2 exactly 0, as in the reference evaluator.
    """
    last = np.searchsorted(fppi, points, side="right") - 1
    sampled = np.where(last >= 0, miss_rate[np.clip(last, 0, None)] if len(miss_rate) else 1.0, 1.0)
    with np.errstate(divide="ignore"):  # log(0) = -inf, whose exp is the 0 a geometric mean with a 0 is
        mr = float(np.exp(np.mean(np.log(sampled))))
    return sampled, 100.0 * mr
