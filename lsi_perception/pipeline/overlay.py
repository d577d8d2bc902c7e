"""The debug overlay published on ``detections/image``: boxes, track ids, labels, scores and FPS on the RGB image."""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

_BOX_COLOR = (255, 64, 0)  # RGB
_TEXT_COLOR = (255, 255, 255)


def draw_overlay(rgb: np.ndarray, boxes: np.ndarray, scores: np.ndarray, labels: Sequence[str],
                 fps: float | None = None, note: str | None = None, ids: Sequence[str] | None = None) -> np.ndarray:
    """A copy of ``rgb`` (HxWx3 uint8) with ``boxes`` [N,4] xyxy, ``labels`` and ``scores`` [N] drawn on it.

    ``ids``: each box's ``Detection2D.id`` (the track id with tracking on), drawn as ``#id`` before the label
    where not empty. ``fps`` (pairs/s) and ``note`` (e.g. "thermal missing") go in the top-left corner.
    """
    out = np.ascontiguousarray(rgb).copy()
    thickness = max(1, round(min(out.shape[:2]) / 320))
    scale = max(0.35, min(out.shape[:2]) / 1000)
    ids = ids if ids is not None else [""] * len(labels)
    for (x1, y1, x2, y2), score, label, box_id in zip(np.asarray(boxes, dtype=np.float64), scores, labels, ids):
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(out, p1, p2, _BOX_COLOR, thickness)
        text = f"#{box_id} {label} {float(score):.2f}" if box_id else f"{label} {float(score):.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = max(p1[1], th + base)
        cv2.rectangle(out, (p1[0], ty - th - base), (p1[0] + tw, ty), _BOX_COLOR, -1)
        cv2.putText(out, text, (p1[0], ty - base), cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT_COLOR, 1, cv2.LINE_AA)
    header = " | ".join(s for s in (f"{fps:.1f} FPS" if fps else None, note) if s)
    if header:
        (tw, th), base = cv2.getTextSize(header, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.rectangle(out, (0, 0), (tw + 4, th + base + 4), (0, 0, 0), -1)
        cv2.putText(out, header, (2, th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT_COLOR, 1, cv2.LINE_AA)
    return out
