"""KAIST evaluation annotations: the COCO-style JSON of the benchmark, flattened into numpy arrays.

Schema (the KAIST test annotation file, and what ``lsi_perception.data.synthetic`` writes)::

    {"images": [{"id": 0, "im_name": "set06/V000/I00019", "width": 640, "height": 512,
                 "time_of_day": "day"}, ...],           # width/height/time_of_day optional
     "annotations": [{"id": 0, "image_id": 0, "bbox": [x, y, w, h], "height": 50, "occlusion": 0,
                      "ignore": 0, "category_id": 1, "track_id": 7}, ...],  # all but image_id/bbox optional
     "categories": [{"id": 1, "name": "person"}, ...]}       # optional

Images keep the file's order: that order is what the 1-based image ids of txt result files count.
Day or night comes from ``time_of_day`` when present, else from the KAIST set number in ``im_name``
(set00-02 and set06-08 day, set03-05 and set09-11 night).
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .files import read_text
from .settings import BORDER_MARGIN, DEFAULT_IMAGE_SIZE

DAY, NIGHT, UNKNOWN_TIME = "day", "night", "unknown"
_DAY_SETS = frozenset({0, 1, 2, 6, 7, 8})
_NIGHT_SETS = frozenset({3, 4, 5, 9, 10, 11})
_SET_PATTERN = re.compile(r"(?:^|/)set(\d+)(?:/|$)")
_PERSON = "person"


class AnnotationFormatError(ValueError):
    """The annotation file does not have the KAIST COCO-style shape; the message names file and element."""


@dataclass(frozen=True, eq=False)
class KaistAnnotations:
    """Ground truth of one evaluation set. Ground truths are sorted by image (file order within an image).

    Attributes (I images, M ground-truth boxes):
        source: where the annotations came from (a path, or "<memory>"), for error messages.
        image_ids: [I] int64, the COCO ``images[].id`` (what COCO result JSON refers to).
        im_names: I names such as ``set06/V000/I00019``.
        time_of_day: I of "day" / "night" / "unknown".
        image_sizes: [I, 2] float64 (width, height), for the border test.
        gt_start: [I + 1] int64 offsets: the boxes of image i are ``gt_start[i]:gt_start[i + 1]``.
        gt_image: [M] int64 image index of each box.
        gt_boxes: [M, 4] float64 x, y, w, h in pixels.
        gt_height: [M] float64 the annotated height (the box height when the file has none).
        gt_occlusion: [M] int64 0 none, 1 partial, 2 heavy.
        gt_ignore: [M] bool ignore regions (``ignore`` flag, or a category other than person).
        gt_ids: [M] int64 the annotation ``id`` (-1 where the file gives none); only the reference
            protocol looks at it (see protocol.py).
        gt_track_ids: [M] int64 the person's identity across a sequence, ``track_id`` (-1 where the file
            gives none; KAIST gives none, the synthetic world does); only tracking scores (mot.py) use it.
    """

    source: str
    image_ids: np.ndarray
    im_names: tuple[str, ...]
    time_of_day: tuple[str, ...]
    image_sizes: np.ndarray
    gt_start: np.ndarray
    gt_image: np.ndarray
    gt_boxes: np.ndarray
    gt_height: np.ndarray
    gt_occlusion: np.ndarray
    gt_ignore: np.ndarray
    gt_ids: np.ndarray
    gt_track_ids: np.ndarray

    @property
    def num_images(self) -> int:
        return len(self.im_names)

    @property
    def is_day(self) -> np.ndarray:
        """[I] bool, True for day images (night and unknown are False; see ``time_mask``)."""
        return np.array([t == DAY for t in self.time_of_day], dtype=bool)

    def time_mask(self, time: str) -> np.ndarray:
        """[I] bool: the images of one time subset, "all", "day" or "night"."""
        if time == "all":
            return np.ones(self.num_images, dtype=bool)
        if time not in (DAY, NIGHT):
            raise ValueError(f"time subset {time!r} is not one of 'all', 'day', 'night'")
        return np.array([t == time for t in self.time_of_day], dtype=bool)

    def gt_crosses_border(self, margin: float = BORDER_MARGIN) -> np.ndarray:
        """[M] bool: boxes reaching within ``margin`` px of an image edge (ignored by every setting)."""
        x, y, w, h = self.gt_boxes.T
        width, height = self.image_sizes[self.gt_image].T
        return (x < margin) | (y < margin) | (x + w > width - margin) | (y + h > height - margin)

    def index_of(self, key: str | int) -> int:
        """Image index of an ``im_name`` (str) or of a 0-based position (int)."""
        if isinstance(key, str):
            index = self._name_to_index.get(key)
            if index is None:
                raise KeyError(f"image {key!r} is not in the annotations {self.source}")
            return index
        index = int(key)
        if not 0 <= index < self.num_images:
            raise KeyError(f"image index {index} is outside 0..{self.num_images - 1} of the annotations {self.source}")
        return index

    @cached_property
    def _name_to_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.im_names)}


def load_annotations(path: str | Path) -> KaistAnnotations:
    """Read a KAIST COCO-style annotation JSON file (see the module docstring; ``.gz``/``.xz``/``.bz2`` too)."""
    path = Path(path)
    text = read_text(path, "annotation file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnnotationFormatError(f"{path}: line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})") from exc
    return annotations_from_coco(data, source=str(path))


def annotations_from_coco(data: Any, source: str = "<memory>") -> KaistAnnotations:
    """Build KaistAnnotations from an already-parsed COCO-style mapping (same schema as the file)."""

    def fail(where: str, problem: str) -> AnnotationFormatError:
        return AnnotationFormatError(f"{source}: {where}: {problem}")

    if not isinstance(data, Mapping):
        raise fail("top level", f"expected a JSON object with 'images' and 'annotations', got {type(data).__name__}")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise fail("top level", f"'{key}' is missing or not a list; a KAIST COCO-style file has 'images' and 'annotations' lists")

    image_ids, im_names, times, sizes = _parse_images(data["images"], fail)
    id_to_index = {image_id: i for i, image_id in enumerate(image_ids)}
    non_person = _non_person_categories(data.get("categories"), fail)
    gt = _parse_annotations(data["annotations"], id_to_index, non_person, fail)

    order = np.argsort(gt["image"], kind="stable")
    gt = {key: value[order] for key, value in gt.items()}
    counts = np.bincount(gt["image"], minlength=len(im_names))
    gt_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return KaistAnnotations(
        source=source,
        image_ids=np.asarray(image_ids, dtype=np.int64),
        im_names=tuple(im_names),
        time_of_day=tuple(times),
        image_sizes=np.asarray(sizes, dtype=np.float64).reshape(-1, 2),
        gt_start=gt_start,
        gt_image=gt["image"],
        gt_boxes=gt["boxes"],
        gt_height=gt["height"],
        gt_occlusion=gt["occlusion"],
        gt_ignore=gt["ignore"],
        gt_ids=gt["ids"],
        gt_track_ids=gt["track_ids"],
    )


def time_of_day_from_name(im_name: str) -> str:
    """KAIST set-number rule: set00-02 and set06-08 are day, set03-05 and set09-11 night, others unknown."""
    match = _SET_PATTERN.search(im_name)
    if match is None:
        return UNKNOWN_TIME
    number = int(match.group(1))
    return DAY if number in _DAY_SETS else NIGHT if number in _NIGHT_SETS else UNKNOWN_TIME


def _parse_images(images: Sequence[Any], fail) -> tuple[list[int], list[str], list[str], list[tuple[float, float]]]:
    image_ids: list[int] = []
    im_names: list[str] = []
    times: list[str] = []
    sizes: list[tuple[float, float]] = []
    seen: set[int] = set()
    for k, image in enumerate(images):
        where = f"images[{k}]"
        if not isinstance(image, Mapping):
            raise fail(where, f"expected an object with 'id' and 'im_name', got {type(image).__name__}")
        image_id = image.get("id")
        if not _is_int(image_id):
            raise fail(where, f"'id' must be an integer, got {image_id!r}")
        if image_id in seen:
            raise fail(where, f"duplicate image id {image_id}")
        seen.add(image_id)
        name = image.get("im_name", image.get("file_name"))
        if not isinstance(name, str) or not name:
            raise fail(where, "'im_name' (e.g. 'set06/V000/I00019') is missing")
        time = image.get("time_of_day")
        if time is None:
            time = time_of_day_from_name(name)
        elif time not in (DAY, NIGHT):
            raise fail(where, f"'time_of_day' must be 'day' or 'night', got {time!r}")
        width, height = image.get("width", DEFAULT_IMAGE_SIZE[0]), image.get("height", DEFAULT_IMAGE_SIZE[1])
        if not (_is_number(width) and _is_number(height) and width > 0 and height > 0):
            raise fail(where, f"'width' and 'height' must be positive numbers, got {width!r} x {height!r}")
        image_ids.append(int(image_id))
        im_names.append(name)
        times.append(time)
        sizes.append((float(width), float(height)))
    return image_ids, im_names, times, sizes


def _non_person_categories(categories: Any, fail) -> frozenset[int]:
    """Category ids that are ignore regions (people, cyclist, person?, ...): every named one but 'person'."""
    if categories is None:
        return frozenset()
    if not isinstance(categories, list):
        raise fail("categories", f"expected a list of {{'id', 'name'}} objects, got {type(categories).__name__}")
    ids = set()
    for k, category in enumerate(categories):
        if not (isinstance(category, Mapping) and _is_int(category.get("id")) and isinstance(category.get("name"), str)):
            raise fail(f"categories[{k}]", "expected an object with an integer 'id' and a string 'name'")
        if category["name"] != _PERSON:
            ids.add(int(category["id"]))
    return frozenset(ids)


def _parse_annotations(annotations: Sequence[Any], id_to_index: dict[int, int], non_person: frozenset[int], fail):
    n = len(annotations)
    image = np.empty(n, dtype=np.int64)
    boxes = np.empty((n, 4), dtype=np.float64)
    height = np.empty(n, dtype=np.float64)
    occlusion = np.empty(n, dtype=np.int64)
    ignore = np.empty(n, dtype=bool)
    ids = np.full(n, -1, dtype=np.int64)
    track_ids = np.full(n, -1, dtype=np.int64)
    for k, ann in enumerate(annotations):
        where = f"annotations[{k}]"
        if not isinstance(ann, Mapping):
            raise fail(where, f"expected an object with 'image_id' and 'bbox', got {type(ann).__name__}")
        image_id = ann.get("image_id")
        if image_id not in id_to_index or not _is_int(image_id):
            raise fail(where, f"'image_id' {image_id!r} is not the id of any entry in 'images'")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
            raise fail(where, f"'bbox' must be [x, y, w, h] numbers, got {bbox!r}")
        box_height = ann.get("height", bbox[3])
        occ = ann.get("occlusion", 0)
        flag = ann.get("ignore", 0)
        if not _is_number(box_height):
            raise fail(where, f"'height' must be a number, got {box_height!r}")
        if occ not in (0, 1, 2) or not _is_int(occ):
            raise fail(where, f"'occlusion' must be 0 (none), 1 (partial) or 2 (heavy), got {occ!r}")
        if flag not in (0, 1):
            raise fail(where, f"'ignore' must be 0 or 1, got {flag!r}")
        annotation_id = ann.get("id")
        if annotation_id is not None:
            if not _is_int(annotation_id) or annotation_id < 0:
                raise fail(where, f"'id' must be a non-negative integer, got {annotation_id!r}")
            ids[k] = annotation_id
        track_id = ann.get("track_id")
        if track_id is not None:
            if not _is_int(track_id) or track_id < 0:
                raise fail(where, f"'track_id' must be a non-negative integer, got {track_id!r}")
            track_ids[k] = track_id
        image[k] = id_to_index[image_id]
        boxes[k] = bbox
        height[k] = box_height
        occlusion[k] = occ
        ignore[k] = bool(flag) or ann.get("category_id") in non_person
    return {"image": image, "boxes": boxes, "height": height, "occlusion": occlusion, "ignore": ignore, "ids": ids,
            "track_ids": track_ids}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
