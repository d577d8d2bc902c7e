"""A training config's synthetic test split, generated in memory, and how two detectors' boxes agree.

``synthetic_test_split("config/train_synthetic.yaml")`` returns the frames and KAIST-style annotations of
the test drives that ``lsi train`` writes under ``data.root`` for that config (``data.synthetic``; the
shipped model's 40-drive test split, see models/README.md) without writing the training drives: the
generator is deterministic per drive, and each frame goes through the same JPEG encoding as the files on
disk, so the images are those ``lsi train`` scores ``best.safetensors`` on. A retrained model with a new
synthetic world (a new config) gets its own split from its own config.

``box_agreement(reference, other)`` matches two detectors' outputs on the same images (greedy by score,
IoU >= 0.5, one to one) and reports how many of the reference's boxes are found, their IoU, and the
score differences.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lsi_perception.data.synthetic import KAIST_CATEGORIES, SyntheticConfig, generate_drive, plan_drives
from lsi_perception.eval.annotations import KaistAnnotations, annotations_from_coco


@dataclass
class SyntheticSplit:
    """Frames (im_name, rgb uint8 HxWx3, thermal uint8 HxW) and their annotations."""

    config: Path
    frames: list[tuple[str, np.ndarray, np.ndarray]]
    annotations: KaistAnnotations
    drives: int
    image_height: int  # the frames' height, for the Reasonable floor (55 px at 512 rows)


def _as_stored(img: np.ndarray, cfg: SyntheticConfig, flags: int) -> np.ndarray:
    """``img`` after the encoding ``generate_dataset`` writes it with (JPEG at cfg.jpeg_quality, or PNG)."""
    ext = ".jpg" if cfg.image_format == "jpg" else ".png"
    params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise RuntimeError(f"could not encode a synthetic frame as {ext}")
    return cv2.imdecode(buf, flags)


def synthetic_test_split(train_config: str | Path, max_drives: int | None = None) -> SyntheticSplit:
    """The test drives of ``train_config`` (a ``config/train_*.yaml`` with ``data.kind: synthetic``),
    at most ``max_drives`` of them (day and night alternate in the drive plan)."""
    from lsi_perception.train.config import load_train_config

    train_config = Path(train_config)
    cfg = load_train_config(train_config)
    if cfg.data.kind != "synthetic":
        raise ValueError(f"{train_config}: data.kind is {cfg.data.kind!r}; the synthetic test split needs a "
                         "config with data.kind: synthetic (e.g. config/train_synthetic.yaml)")
    syn = cfg.data.synthetic
    plans = [p for p in plan_drives(syn) if p.split == "test"]
    if not plans:
        raise ValueError(f"{train_config}: data.synthetic has no test drives (test_fraction {syn.test_fraction})")
    if max_drives:
        plans = plans[:max_drives]
    frames, images, annotations = [], [], []
    for plan in plans:
        for frame in generate_drive(syn, plan):
            name = plan.image_name(frame.index)
            rgb = cv2.cvtColor(_as_stored(frame.rgb[..., ::-1], syn, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            thermal = _as_stored(frame.thermal, syn, cv2.IMREAD_GRAYSCALE)
            frames.append((name, rgb, thermal))
            image_id = len(images)
            images.append({"id": image_id, "im_name": name, "height": syn.height, "width": syn.width,
                           "time_of_day": plan.time_of_day})
            for o in frame.objects:
                x1, y1, x2, y2 = (round(float(v), 2) for v in o.box)
                annotations.append({"id": len(annotations), "image_id": image_id, "category_id": 1,
                                    "bbox": [x1, y1, round(x2 - x1, 2), round(y2 - y1, 2)], "height": round(y2 - y1, 2),
                                    "occlusion": o.occlusion, "ignore": int(o.ignore)})
    coco = {"images": images, "annotations": annotations, "categories": KAIST_CATEGORIES}
    return SyntheticSplit(train_config, frames, annotations_from_coco(coco, source=f"{train_config} test split"),
                          len(plans), syn.height)


def box_agreement(reference: list[Any], other: list[Any], iou_threshold: float = 0.5) -> dict[str, float]:
    """How ``other``'s detections (a list of ``Detections`` per image) reproduce ``reference``'s: the share of
    reference boxes matched one to one (greedy by reference score, IoU >= ``iou_threshold``), the median and
    5th-percentile IoU of the matches, the median absolute score difference, and both counts."""
    import torch
    from torchvision.ops import box_iou

    matched, ious, d_scores, n_ref, n_other = 0, [], [], 0, 0
    for a, b in zip(reference, other):
        n_ref, n_other = n_ref + len(a), n_other + len(b)
        if not len(a) or not len(b):
            continue
        iou = box_iou(torch.from_numpy(a.boxes), torch.from_numpy(b.boxes)).numpy()
        taken = np.zeros(len(b), dtype=bool)
        for i in np.argsort(-a.scores):
            candidates = np.where(~taken & (iou[i] >= iou_threshold))[0]
            if len(candidates):
                j = candidates[np.argmax(iou[i, candidates])]
                taken[j] = True
                matched += 1
                ious.append(float(iou[i, j]))
                d_scores.append(abs(float(a.scores[i]) - float(b.scores[j])))
    return {"reference_detections": n_ref, "detections": n_other, "matched_fraction": matched / n_ref if n_ref else 1.0,
            "median_iou": float(np.median(ious)) if ious else float("nan"),
            "p5_iou": float(np.percentile(ious, 5)) if ious else float("nan"),
            "median_abs_score_diff": float(np.median(d_scores)) if d_scores else float("nan")}
