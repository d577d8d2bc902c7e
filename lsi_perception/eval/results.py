"""Detection results: reading and writing the benchmark's result files, and the flat table the matcher uses.

Two file formats are in use by published KAIST methods:

* txt, one detection a line: ``image_id,x,y,w,h,score`` with ``image_id`` the 1-based position of the
  image in the (sorted) test list, i.e. in the annotation file's ``images`` order;
* COCO result JSON: ``[{"image_id": 0, "bbox": [x, y, w, h], "score": 0.9, ...}, ...]`` with
  ``image_id`` the annotation's 0-based ``images[].id``.

In memory, detections are a mapping from image (``im_name`` str or 0-based index int) to an ``(N, 5)``
array of ``x, y, w, h, score`` in pixels.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .annotations import KaistAnnotations
from .files import read_text
from .settings import MAX_DETECTIONS_PER_IMAGE

DetectionsByImage = Mapping[Any, np.ndarray]  # im_name (str) or 0-based image index (int) -> (N, 5) x,y,w,h,score

_FIELD_SEPARATOR = re.compile(r"[,\s]+")


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """[..., 4] (x1, y1, x2, y2) -> (x, y, width, height) with (x, y) the top-left corner, the results
    files' box format (a copy, same dtype)."""
    out = np.array(boxes, copy=True)
    out[..., 2:] -= out[..., :2]
    return out


class ResultsFormatError(ValueError):
    """A results file line (or JSON element) is malformed or names an unknown image."""


@dataclass(frozen=True, eq=False)
class DetectionTable:
    """All detections of a results set, sorted by image then by descending score (stable), flattened.

    Attributes (K detections):
        image: [K] int64 image index into the annotations.
        boxes: [K, 4] float64 x, y, w, h.
        scores: [K] float64.
        start: [I + 1] int64 offsets: image i's detections are ``start[i]:start[i + 1]``.
    """

    image: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    start: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def from_mapping(
        cls, ann: KaistAnnotations, detections: DetectionsByImage, max_per_image: int = MAX_DETECTIONS_PER_IMAGE
    ) -> DetectionTable:
        """Flatten ``{image: (N, 5) array}``, keep each image's ``max_per_image`` best, sort as documented."""
        images, arrays = [], []
        for key, array in detections.items():
            try:
                index = ann.index_of(key)
            except KeyError as exc:
                raise ValueError(f"detections: {exc.args[0]}") from None
            array = np.asarray(array, dtype=np.float64)
            if array.size == 0:
                continue
            if array.ndim != 2 or array.shape[1] != 5:
                raise ValueError(f"detections for image {key!r}: expected an (N, 5) array of x, y, w, h, score, got shape {array.shape}")
            if not np.isfinite(array).all():
                raise ValueError(f"detections for image {key!r}: contain NaN or infinite values")
            images.append(np.full(len(array), index, dtype=np.int64))
            arrays.append(array)
        image = np.concatenate(images) if images else np.zeros(0, dtype=np.int64)
        rows = np.concatenate(arrays) if arrays else np.zeros((0, 5))
        return cls.from_arrays(ann.num_images, image, rows[:, :4], rows[:, 4], max_per_image)

    @classmethod
    def from_arrays(
        cls, num_images: int, image: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
        max_per_image: int = MAX_DETECTIONS_PER_IMAGE,
    ) -> DetectionTable:
        # lexsort is stable: equal scores keep their input order, as the reference evaluator does.
        order = np.lexsort((-scores, image))
        image, boxes, scores = image[order], boxes[order], scores[order]
        counts = np.bincount(image, minlength=num_images)
        start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        rank = np.arange(len(image)) - start[image]
        if len(image) and rank.max() >= max_per_image:
            keep = rank < max_per_image
            image, boxes, scores = image[keep], boxes[keep], scores[keep]
            counts = np.minimum(counts, max_per_image)
            start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(image=image, boxes=boxes, scores=scores, start=start)


def load_results(path: str | Path, ann: KaistAnnotations) -> dict[int, np.ndarray]:
    """Read a txt (1-based image ids) or COCO-JSON (0-based ``images[].id``) results file.

    Returns ``{image_index: (N, 5) float64 x, y, w, h, score}`` for the images that have detections.
    The format is chosen from the content: a file starting with ``[`` is JSON. ``.gz``/``.xz``/``.bz2`` files
    are decompressed on the fly.
    """
    path = Path(path)
    text = read_text(path, "results file")
    if text.lstrip().startswith("["):
        image, rows = _parse_coco_json(text, path, ann)
    else:
        image, rows = _parse_txt(text, path, ann)
    if not len(image):
        return {}
    order = np.argsort(image, kind="stable")
    image, rows = image[order], rows[order]
    split = np.flatnonzero(np.diff(image)) + 1
    return {int(chunk_image[0]): chunk for chunk_image, chunk in zip(np.split(image, split), np.split(rows, split))}


def write_results_txt(path: str | Path, ann: KaistAnnotations, detections: DetectionsByImage) -> Path:
    """Write detections as a benchmark txt file (``image_id,x,y,w,h,score``, 1-based image ids)."""
    table = DetectionTable.from_mapping(ann, detections, max_per_image=np.iinfo(np.int64).max)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for i, (x, y, w, h), s in zip(table.image, table.boxes, table.scores):
            f.write(f"{i + 1},{x:.4f},{y:.4f},{w:.4f},{h:.4f},{s:.8f}\n")
    return path


def _parse_txt(text: str, path: Path, ann: KaistAnnotations) -> tuple[np.ndarray, np.ndarray]:
    images: list[int] = []
    rows: list[list[float]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = _FIELD_SEPARATOR.split(line)
        if len(fields) != 6:
            raise ResultsFormatError(
                f"{path}:{lineno}: expected 6 comma-separated fields image_id,x,y,w,h,score, got {len(fields)}: {line!r}"
            )
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise ResultsFormatError(f"{path}:{lineno}: non-numeric field in {line!r}") from None
        image_id = values[0]
        if not (math.isfinite(image_id) and image_id == int(image_id)):
            raise ResultsFormatError(f"{path}:{lineno}: image id {fields[0]!r} is not an integer")
        if not 1 <= image_id <= ann.num_images:
            raise ResultsFormatError(
                f"{path}:{lineno}: image id {int(image_id)} is outside 1..{ann.num_images} "
                f"(txt ids are 1-based positions in {ann.source}'s image list)"
            )
        _check_box(values[1:], f"{path}:{lineno}")
        images.append(int(image_id) - 1)
        rows.append(values[1:])
    return np.asarray(images, dtype=np.int64), np.asarray(rows, dtype=np.float64).reshape(-1, 5)


def _parse_coco_json(text: str, path: Path, ann: KaistAnnotations) -> tuple[np.ndarray, np.ndarray]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsFormatError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from exc
    if not isinstance(data, list):
        raise ResultsFormatError(f"{path}:1: COCO results must be a JSON list of detections, got {type(data).__name__}")
    id_to_index = {int(image_id): i for i, image_id in enumerate(ann.image_ids)}
    images: list[int] = []
    rows: list[list[float]] = []
    for k, det in enumerate(data):
        where = f"{path}: element [{k}]"
        if not isinstance(det, Mapping):
            raise ResultsFormatError(f"{where}: expected an object with image_id, bbox, score, got {type(det).__name__}")
        image_id, bbox, score = det.get("image_id"), det.get("bbox"), det.get("score")
        if image_id not in id_to_index or isinstance(image_id, bool):
            raise ResultsFormatError(f"{where}: image_id {image_id!r} is not an image id of {ann.source} (COCO results use its 0-based images[].id)")
        if not (isinstance(bbox, list) and len(bbox) == 4):
            raise ResultsFormatError(f"{where}: 'bbox' must be [x, y, w, h], got {bbox!r}")
        values = [*bbox, score]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ResultsFormatError(f"{where}: bbox and score must be numbers, got bbox={bbox!r} score={score!r}")
        _check_box(values, where)
        images.append(id_to_index[image_id])
        rows.append([float(v) for v in values])
    return np.asarray(images, dtype=np.int64), np.asarray(rows, dtype=np.float64).reshape(-1, 5)


def _check_box(values: list[float], where: str) -> None:
    """values = [x, y, w, h, score]."""
    if not all(math.isfinite(v) for v in values):
        raise ResultsFormatError(f"{where}: NaN or infinite value in {values}")
    if values[2] < 0 or values[3] < 0:
        raise ResultsFormatError(f"{where}: negative box size w={values[2]} h={values[3]} (boxes are x, y, w, h)")
