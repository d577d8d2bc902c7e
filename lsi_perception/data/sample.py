"""The Sample dict every dataset returns and every transform takes, plus the label vocabulary.

A Sample is a plain dict (cheap to copy, easy to extend) with these keys:

- ``rgb``: uint8 HxWx3, RGB channel order.
- ``thermal``: HxW uint8 (or uint16 for radiometric data), registered to the RGB image.
- ``boxes``: float32 [N, 4] xyxy pixels in the RGB image.
- ``labels``: int64 [N], index into the dataset's ``class_names``.
- ``ignore``: bool [N]; True marks an ignore region (crowds ``people``, ``person?``, ``cyclist``,
  boxes too small or too clipped): a detection there is neither a hit nor a false positive.
- ``occlusion``: int64 [N], 0 none / 1 partial / 2 heavy (0 where the labels do not say).
- ``image_id``: str, the KAIST-style name (e.g. ``set06/V000/I00019``).
- ``index``: int, position in the dataset.
"""
from __future__ import annotations

from typing import Any

import numpy as np

Sample = dict[str, Any]

# KAIST labels that are ignore regions, never positives (Hwang et al. CVPR 2015 protocol).
KAIST_IGNORE_LABELS = frozenset({"people", "person?", "cyclist", "person?a"})


def empty_targets() -> dict[str, np.ndarray]:
    """Zero-length boxes/labels/ignore arrays with the right dtypes and shapes."""
    return {
        "boxes": np.zeros((0, 4), np.float32),
        "labels": np.zeros((0,), np.int64),
        "ignore": np.zeros((0,), bool),
        "occlusion": np.zeros((0,), np.int64),
    }


PER_BOX_KEYS = ("labels", "ignore", "occlusion")  # per-box arrays beside ``boxes``: a transform that drops
#                                                   boxes drops their entries too


def make_targets(boxes: list[list[float]] | np.ndarray, labels: list[int], ignore: list[bool],
                 occlusion: list[int] | None = None) -> dict[str, np.ndarray]:
    """Pack per-object lists into the Sample's target arrays (occlusion 0 when not given)."""
    if len(labels) == 0:
        return empty_targets()
    return {
        "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
        "labels": np.asarray(labels, np.int64),
        "ignore": np.asarray(ignore, bool),
        "occlusion": np.asarray(occlusion if occlusion is not None else [0] * len(labels), np.int64),
    }


# Spellings of the training classes in other datasets' label files (matched case-insensitively).
CLASS_ALIASES = {"pedestrian": "person", "bicycle": "bike"}


def canonical_class(name: str) -> str:
    """A label file's class name in this package's spelling (lower case, ``CLASS_ALIASES`` applied)."""
    lower = name.strip().lower()
    return CLASS_ALIASES.get(lower, lower)


def targets_from_xyxy(objects: list[tuple[str, tuple[float, float, float, float], bool]], class_names: tuple[str, ...],
                      image_size: tuple[int, int] | None = None, min_height: float = 0.0) -> dict[str, np.ndarray]:
    """Sample targets from ``(class name, xyxy, ignore)`` objects of a dataset whose other classes are not
    people (cars, cones, dogs): those are dropped, not ignore regions. Boxes are clipped to ``image_size``
    (width, height) when given; empty boxes are dropped; boxes under ``min_height`` become ignore regions."""
    wanted = [canonical_class(c) for c in class_names]
    boxes, labels, ignore = [], [], []
    for name, (x1, y1, x2, y2), ign in objects:
        cls = canonical_class(name)
        if cls not in wanted:
            continue
        if image_size is not None:
            x1, x2 = float(np.clip(x1, 0, image_size[0])), float(np.clip(x2, 0, image_size[0]))
            y1, y2 = float(np.clip(y1, 0, image_size[1])), float(np.clip(y2, 0, image_size[1]))
        if not (x2 > x1 and y2 > y1):
            continue
        boxes.append([x1, y1, x2, y2])
        labels.append(wanted.index(cls))
        ignore.append(bool(ign) or (y2 - y1) < min_height)
    return make_targets(boxes, labels, ignore)
