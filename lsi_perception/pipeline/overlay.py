"""The debug overlay published on ``detections/image``: boxes, track ids, labels, scores and FPS on the RGB image.

Labels never cover one another: every box is drawn first, then the labels from the highest score down, each
at the first free place of: above the box, inside its top edge, inside its bottom edge, below it (each
left-aligned, then right-aligned). Where none is free (a crowd) the label shrinks to the score alone (with
the track id), and where even that finds no place it is left out: the box stays. The header (FPS, note) keeps the top-left corner.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

_BOX_COLOR = (255, 64, 0)  # RGB
_TEXT_COLOR = (255, 255, 255)
_FONT = cv2.FONT_HERSHEY_SIMPLEX

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _label_places(box: Rect, size: tuple[int, int], image_hw: tuple[int, int]) -> list[Rect]:
    """Where a ``size`` (w, h) label may go for ``box``, in order of preference, each inside the image."""
    (w, h), (H, W) = size, image_hw
    left = min(max(box[0], 0), max(W - w, 0))
    right = min(max(box[2] - w, 0), max(W - w, 0))
    places = [(x, y) for y in (box[1] - h, box[1], box[3] - h, box[3]) for x in (left, right)]  # above, inside
    return [(x, y, x + w, y + h) for x, y in places if 0 <= y and y + h <= H]  # the top, bottom, below


def layout_labels(rects: Sequence[Rect], scores: Sequence[float], texts: Sequence[tuple[str, str]],
                  image_hw: tuple[int, int], scale: float, reserved: Rect | None = None) -> list[tuple[int, str, Rect, int]]:
    """Where each box's label goes: (box index, text, rectangle, text baseline) for the labels that found a
    free place, highest score first. ``texts[i]`` is box i's (full, short) label; ``reserved`` (the header)
    is kept free. No two rectangles returned overlap."""
    taken: list[Rect] = [reserved] if reserved is not None else []
    placed = []
    for i in sorted(range(len(rects)), key=lambda k: -float(scores[k])):
        for text in texts[i]:
            (tw, th), base = cv2.getTextSize(text, _FONT, scale, 1)
            place = next((p for p in _label_places(rects[i], (tw, th + base), image_hw)
                          if not any(_overlaps(p, t) for t in taken)), None)
            if place is not None:
                taken.append(place)
                placed.append((i, text, place, base))
                break
    return placed


def draw_overlay(rgb: np.ndarray, boxes: np.ndarray, scores: np.ndarray, labels: Sequence[str],
                 fps: float | None = None, note: str | None = None, ids: Sequence[str] | None = None) -> np.ndarray:
    """A copy of ``rgb`` (HxWx3 uint8) with ``boxes`` [N,4] xyxy, ``labels`` and ``scores`` [N] drawn on it.

    ``ids``: each box's ``Detection2D.id`` (the track id with tracking on), drawn as ``#id`` before the label
    where not empty. ``fps`` (pairs/s) and ``note`` (e.g. "thermal missing") go in the top-left corner.
    Labels are placed so that none covers another (module text).
    """
    out = np.ascontiguousarray(rgb).copy()
    H, W = out.shape[:2]
    thickness = max(1, round(min(H, W) / 320))
    scale = max(0.35, min(H, W) / 1000)
    ids = ids if ids is not None else [""] * len(labels)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    rects = [(int(round(x1)), int(round(y1)), int(round(x2)), int(round(y2))) for x1, y1, x2, y2 in boxes]
    for r in rects:
        cv2.rectangle(out, r[:2], r[2:], _BOX_COLOR, thickness)
    header = " | ".join(s for s in (f"{fps:.1f} FPS" if fps else None, note) if s)
    header_rect = None
    if header:
        (tw, th), base = cv2.getTextSize(header, _FONT, scale, 1)
        header_rect = (0, 0, tw + 4, th + base + 4)
    prefixes = [f"#{box_id} " if box_id else "" for box_id in ids]
    texts = [(f"{p}{label} {float(s):.2f}", f"{p}{float(s):.2f}") for p, label, s in zip(prefixes, labels, scores)]
    for _, text, place, base in layout_labels(rects, scores, texts, (H, W), scale, header_rect):
        cv2.rectangle(out, place[:2], (place[2] - 1, place[3] - 1), _BOX_COLOR, -1)
        cv2.putText(out, text, (place[0], place[3] - base), _FONT, scale, _TEXT_COLOR, 1, cv2.LINE_AA)
    if header_rect is not None:
        cv2.rectangle(out, header_rect[:2], header_rect[2:], (0, 0, 0), -1)
        cv2.putText(out, header, (2, th + 2), _FONT, scale, _TEXT_COLOR, 1, cv2.LINE_AA)
    return out
