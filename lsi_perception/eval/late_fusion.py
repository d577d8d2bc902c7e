"""Late fusion of two single-modality detectors' boxes (ProbEn-style: Chen et al., ECCV 2022).

No training: the RGB-only and the thermal-only detector run separately and their final (post-NMS)
detections are merged per image. Boxes of the two detectors that overlap (IoU >= ``iou_threshold``)
are paired one to one, most-overlapping pairs first, and each pair becomes one detection whose score
is the Bayesian fusion of the two under conditional independence and a uniform class prior,

    p = p_a p_b / (p_a p_b + (1 - p_a)(1 - p_b)),

and whose box is the score-weighted mean of the two (ProbEn's box fusion). A detection without a
partner keeps its box and score: the other modality's silence is not counted as evidence against it.
The deployed cost is two detectors instead of one.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

_EPS = 1e-6


def box_iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[Na, Nb] IoU of x, y, w, h boxes."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def fuse_scores(p_a: np.ndarray, p_b: np.ndarray) -> np.ndarray:
    """Bayesian fusion of two independent probabilities of the same event (uniform prior)."""
    pa, pb = np.clip(p_a, _EPS, 1 - _EPS), np.clip(p_b, _EPS, 1 - _EPS)
    num = pa * pb
    return num / (num + (1 - pa) * (1 - pb))


def fuse_image(a: np.ndarray, b: np.ndarray, iou_threshold: float = 0.5) -> np.ndarray:
    """One image: [Na, 5] and [Nb, 5] (x, y, w, h, score) -> fused [N, 5] float32."""
    a = np.asarray(a, np.float64).reshape(-1, 5)
    b = np.asarray(b, np.float64).reshape(-1, 5)
    if len(a) == 0 or len(b) == 0:
        return np.concatenate([a, b]).astype(np.float32)
    iou = box_iou_xywh(a[:, :4], b[:, :4])
    ia, ib = np.nonzero(iou >= iou_threshold)
    order = np.argsort(-iou[ia, ib], kind="stable")
    used_a, used_b = np.zeros(len(a), bool), np.zeros(len(b), bool)
    fused = []
    for k in order:
        i, j = ia[k], ib[k]
        if used_a[i] or used_b[j]:
            continue
        used_a[i] = used_b[j] = True
        wa, wb = a[i, 4], b[j, 4]
        box = (wa * a[i, :4] + wb * b[j, :4]) / max(wa + wb, 1e-12)
        fused.append([*box, float(fuse_scores(np.array(wa), np.array(wb)))])
    rows = [np.asarray(fused, np.float64).reshape(-1, 5), a[~used_a], b[~used_b]]
    out = np.concatenate(rows)
    return out[np.argsort(-out[:, 4], kind="stable")].astype(np.float32)


def fuse_detections(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], iou_threshold: float = 0.5
                    ) -> dict[str, np.ndarray]:
    """Per-image late fusion of two detection mappings ({image name: [N, 5] x, y, w, h, score})."""
    empty = np.zeros((0, 5), np.float32)
    return {name: fuse_image(a.get(name, empty), b.get(name, empty), iou_threshold) for name in sorted({*a, *b})}
