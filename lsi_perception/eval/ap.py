"""COCO-style average precision (AP50, AP50:95, AP75) of detections, computed by pycocotools' COCOeval.

LLVIP, FLIR-aligned and most RGB-T detection papers outside KAIST report these instead of MR^-2:

    result = average_precision(load_annotations("llvip_test.json"), load_results("results.json", ann))
    result.ap["all"]["ap50"]   # percent

The ground truth is the evaluator's own ``KaistAnnotations`` (the same file ``lsi eval`` reads for MR):
every box is the ``person`` class; an ignore region (``ignore: 1`` or a non-person category) becomes a COCO
crowd region (``iscrowd: 1``), which a detection may overlap without counting as a false positive.
Nothing else is filtered (no height, occlusion or border rule: those belong to the KAIST settings).
Detections are pooled per image as COCOeval does, keeping each image's ``max_detections`` best
(COCO's 100). ``day`` / ``night`` evaluate on those images only, where the annotations say which.
"""
from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .annotations import KaistAnnotations
from .results import DetectionsByImage, DetectionTable
from .settings import TIMES

AP_METRICS = ("ap", "ap50", "ap75")  # COCOeval stats[0], stats[1], stats[2]: IoU 0.50:0.95, 0.50, 0.75
COCO_MAX_DETECTIONS = 100
PERSON_CATEGORY = 1


@dataclass
class APResult:
    """``ap[time][metric]`` in percent (NaN where the subset has no pedestrian), with the counts behind it."""

    ap: dict[str, dict[str, float]] = field(default_factory=dict)
    images: dict[str, int] = field(default_factory=dict)
    pedestrians: dict[str, int] = field(default_factory=dict)
    max_detections: int = COCO_MAX_DETECTIONS

    def to_json(self) -> dict[str, dict[str, float | int | None]]:
        return {t: {**{k: (None if math.isnan(v) else float(v)) for k, v in m.items()},
                    "images": self.images[t], "pedestrians": self.pedestrians[t]} for t, m in self.ap.items()}


def coco_ground_truth(ann: KaistAnnotations) -> dict:
    """``ann`` as a COCO ground-truth dataset (annotation ids 1.., as COCOeval treats id 0 as "no match")."""
    images = [{"id": int(i), "width": float(w), "height": float(h)} for i, (w, h) in zip(ann.image_ids, ann.image_sizes)]
    annotations = []
    for k, (image, box, ignore) in enumerate(zip(ann.gt_image, ann.gt_boxes, ann.gt_ignore)):
        x, y, w, h = (float(v) for v in box)
        annotations.append({"id": k + 1, "image_id": int(ann.image_ids[image]), "category_id": PERSON_CATEGORY,
                            "bbox": [x, y, w, h], "area": w * h, "iscrowd": int(bool(ignore))})
    return {"images": images, "annotations": annotations, "categories": [{"id": PERSON_CATEGORY, "name": "person"}]}


def coco_detections(ann: KaistAnnotations, detections: DetectionsByImage | DetectionTable) -> list[dict]:
    """Detections as COCO result records (every detection the ``person`` class)."""
    table = detections if isinstance(detections, DetectionTable) else DetectionTable.from_mapping(
        ann, detections, max_per_image=np.iinfo(np.int64).max)
    return [{"image_id": int(ann.image_ids[i]), "category_id": PERSON_CATEGORY,
             "bbox": [float(v) for v in box], "score": float(s)}
            for i, box, s in zip(table.image, table.boxes, table.scores)]


def average_precision(ann: KaistAnnotations, detections: DetectionsByImage | DetectionTable,
                      times: Iterable[str] = TIMES, max_detections: int = COCO_MAX_DETECTIONS) -> APResult:
    """AP50:95, AP50 and AP75 (percent) of ``detections`` against ``ann``, for each time subset."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt = COCO()
        gt.dataset = coco_ground_truth(ann)
        gt.createIndex()
        records = coco_detections(ann, detections)
        dt = gt.loadRes(records) if records else None
    result = APResult(max_detections=max_detections)
    counted = ~ann.gt_ignore
    for time in times:
        mask = ann.time_mask(time)
        image_ids = [int(i) for i in ann.image_ids[mask]]
        result.images[time] = len(image_ids)
        result.pedestrians[time] = int(np.count_nonzero(counted & mask[ann.gt_image]))
        if not result.pedestrians[time]:
            result.ap[time] = {k: math.nan for k in AP_METRICS}
            continue
        if dt is None:
            result.ap[time] = {k: 0.0 for k in AP_METRICS}
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            ev = COCOeval(gt, dt, "bbox")
            ev.params.imgIds = image_ids
            ev.params.maxDets = [1, 10, max_detections]
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        stats = [max(float(v), 0.0) for v in ev.stats[:3]]  # -1 (no GT) cannot happen here
        result.ap[time] = {k: 100.0 * v for k, v in zip(AP_METRICS, stats)}
    return result


def format_ap_table(results: dict[str, APResult], decimals: int = 2) -> str:
    """One row per results file and time subset: AP50:95, AP50, AP75 (percent, higher is better)."""
    header = ["method", "subset", "AP50:95", "AP50", "AP75", "images", "pedestrians"]
    rows = []
    for method, result in results.items():
        for i, (time, metrics) in enumerate(result.ap.items()):
            cells = ["n/a" if math.isnan(metrics[k]) else f"{metrics[k]:.{decimals}f}" for k in AP_METRICS]
            rows.append([method if i == 0 else "", time, *cells, str(result.images[time]), str(result.pedestrians[time])])
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    first = next(iter(results.values()), None)
    lines = [f"COCO average precision (%, higher is better; pycocotools COCOeval, person class, "
             f"{first.max_detections if first else COCO_MAX_DETECTIONS} detections per image; ignore regions are crowd regions)"]
    for row in [header, ["-" * w for w in widths], *rows]:
        lines.append("  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))).rstrip())
    return "\n".join(lines)
