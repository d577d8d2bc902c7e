"""What ``lsi predict`` writes: the benchmark's results files and overlay images.

* ``results.txt``: KAIST results (``image_id,x,y,w,h,score``, 1-based positions in the image index);
* ``results.json``: COCO results (``image_id`` = the index's 0-based ``images[].id``, ``category_id`` =
  class index + 1, ``bbox`` x, y, w, h, ``score``);
* ``images.json``: the image index in the KAIST evaluation schema (``images[]`` with ``im_name`` = the
  pair's key, width, height; no annotations) when no annotation file was given, so both results files
  say which image each id is. With ``--annotations FILE`` the ids are FILE's and ``lsi eval
  --annotations FILE --results results.txt`` scores them directly;
* ``overlays/<key>.jpg``: the node's overlay (boxes, classes, scores) on the RGB image.

Each writer is a sink: ``add(key, outcome)`` per detected pair, ``close()`` at the end.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from lsi_perception.eval import KaistAnnotations, annotations_from_coco, write_results_txt
from lsi_perception.pipeline.processor import PairOutcome, draw_outcome

RESULTS_TXT = "results.txt"
RESULTS_JSON = "results.json"
IMAGE_INDEX = "images.json"
OVERLAY_DIR = "overlays"


def match_keys(keys: list[str], ann: KaistAnnotations) -> dict[str, str]:
    """Pair key -> the annotation file's ``im_name``: the same name, else the one name ending in ``/key``.

    A key that matches nothing, or more than one name, is a ValueError naming it and the fix."""
    names = set(ann.im_names)
    by_last: dict[str, list[str]] = {}
    for name in ann.im_names:
        parts = name.split("/")
        for i in range(1, len(parts)):
            by_last.setdefault("/".join(parts[i:]), []).append(name)
    out: dict[str, str] = {}
    for key in keys:
        if key in names:
            out[key] = key
            continue
        found = by_last.get(key, [])
        if len(found) != 1:
            problem = "no image of" if not found else f"{len(found)} images ({', '.join(found[:3])}) of"
            raise ValueError(f"pair {key!r} matches {problem} the annotation file {ann.source}; point the image "
                             "folders where the pair names read as the file's im_name (e.g. KAIST: the images/ "
                             "folder with --naming kaist gives setXX/VYYY/IZZZZZ)")
        out[key] = found[0]
    return out


class ResultsWriter:
    """Collects every detected pair and writes results.txt, results.json (and images.json) on ``close``."""

    def __init__(self, out_dir: Path, class_names: tuple[str, ...], annotations: KaistAnnotations | None = None,
                 keys: list[str] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.class_names = tuple(class_names)
        self.annotations = annotations
        self.names = match_keys(keys, annotations) if annotations is not None and keys is not None else None
        self.detections: dict[str, np.ndarray] = {}
        self.class_ids: dict[str, np.ndarray] = {}
        self.sizes: dict[str, tuple[int, int]] = {}

    def add(self, key: str, outcome: PairOutcome) -> None:
        dets = outcome.detections
        self.detections[key] = np.concatenate([dets.to_xywh(), dets.scores[:, None]], 1).astype(np.float64)
        self.class_ids[key] = dets.class_ids.copy()
        height, width = outcome.rgb.shape[:2] if outcome.rgb is not None else outcome.thermal.shape[:2]
        self.sizes[key] = (int(width), int(height))

    def index(self) -> tuple[KaistAnnotations, dict[str, str]]:
        """The annotations the ids refer to, and key -> im_name."""
        if self.annotations is not None:
            names = self.names if self.names is not None else match_keys(sorted(self.detections), self.annotations)
            return self.annotations, names
        images = [{"id": i, "im_name": key, "width": w, "height": h}
                  for i, (key, (w, h)) in enumerate(sorted(self.sizes.items()))]
        doc = {"images": images, "annotations": [], "categories": [{"id": 1, "name": self.class_names[0]}]}
        path = self.out_dir / IMAGE_INDEX
        path.write_text(json.dumps(doc, indent=1) + "\n")
        return annotations_from_coco(doc, str(path)), {key: key for key in self.sizes}

    def close(self) -> dict[str, Path]:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        ann, names = self.index()
        by_name = {names[k]: v for k, v in self.detections.items()}
        written = {"txt": write_results_txt(self.out_dir / RESULTS_TXT, ann, by_name)}
        records = []
        for key in sorted(self.detections, key=lambda k: ann.index_of(names[k])):
            image_id = int(ann.image_ids[ann.index_of(names[key])])
            for (x, y, w, h, score), cls in zip(self.detections[key], self.class_ids[key]):
                records.append({"image_id": image_id, "category_id": int(cls) + 1,
                                "bbox": [round(float(v), 4) for v in (x, y, w, h)], "score": round(float(score), 8)})
        path = self.out_dir / RESULTS_JSON
        path.write_text(json.dumps(records) + "\n")
        written["json"] = path
        if self.annotations is None:
            written["index"] = self.out_dir / IMAGE_INDEX
        return written


class OverlayWriter:
    """One JPEG per detected pair under ``<out>/overlays/``, the key's ``/`` kept as sub-folders."""

    def __init__(self, out_dir: Path, quality: int = 90) -> None:
        self.folder = Path(out_dir) / OVERLAY_DIR
        self.quality = int(quality)
        self.count = 0

    def add(self, key: str, outcome: PairOutcome) -> None:
        path = self.folder / f"{key}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image = cv2.cvtColor(draw_outcome(outcome), cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, self.quality]):
            raise OSError(f"cannot write overlay {path}")
        self.count += 1

    def close(self) -> dict[str, Path]:
        return {"overlays": self.folder} if self.count else {}
