"""Score ``lsi bag detect``'s detections against the bag's ``/ground_truth`` with the KAIST evaluator.

Ground truth and detections are both Detection2DArray per frame, keyed by the RGB stamp (ns); the
ground-truth convention (category in ``class_id``, attributes in ``id``) is
``pipeline.detection_codec``'s. Image names and day/night come from the frame index that
``lsi bag from-dataset`` stores in the bag's metadata (``FRAMES_KEY``). With tracks (``lsi bag detect
--track``) and ground-truth identities (``track=`` in the attributes), tracking scores too (``eval.mot``).
"""
from __future__ import annotations

import json

import numpy as np

from lsi_perception.eval import KaistAnnotations, annotations_from_coco
from lsi_perception.pipeline.detection_codec import BoxArray

from .from_dataset import FRAMES_KEY

# A bag is scored at the detector's operating threshold: a frame without detections misses its pedestrians
# (lsi_perception.eval.protocol; the reference protocol would not count them).
BAG_EVAL_PROTOCOL = "strict"


def frames_index(custom_data: dict[str, str]) -> list[tuple[int, str, str]]:
    """(stamp ns, image name, time of day) per frame from a bag written by ``bag from-dataset`` ([] if absent)."""
    raw = custom_data.get(FRAMES_KEY)
    if not raw:
        return []
    try:
        return [(int(s), str(n), str(t)) for s, n, t in json.loads(raw)]
    except (ValueError, TypeError):
        return []


def ground_truth_annotations(ground_truth: dict[int, BoxArray], frames: list[tuple[int, str, str]] | None = None,
                             image_size: tuple[int, int] | None = None) -> KaistAnnotations:
    """The bag's ground truth as evaluator annotations, one image per ground-truth stamp in stamp order.

    Image names and day/night come from ``frames`` when present, else every frame is one image of
    unknown time of day (only the "all" column is then meaningful).
    """
    names = {stamp: (name, tod) for stamp, name, tod in (frames or [])}
    images, annotations = [], []
    for image_id, stamp in enumerate(sorted(ground_truth)):
        name, tod = names.get(stamp, (f"frame_{stamp}", None))
        image = {"id": image_id, "im_name": name}
        if image_size is not None:
            image["width"], image["height"] = image_size
        if tod in ("day", "night"):
            image["time_of_day"] = tod
        images.append(image)
        gt = ground_truth[stamp]
        for (x, y, w, h, _), label, attrs in zip(gt.to_xywh_score(), gt.labels, gt.attributes):
            annotations.append({
                "id": len(annotations), "image_id": image_id, "bbox": [float(x), float(y), float(w), float(h)],
                "category_id": 1 if label == "person" else 2,
                "height": float(attrs.get("height", h)), "occlusion": int(attrs.get("occlusion", 0)),
                "ignore": int(attrs.get("ignore", 0)),
                **({"track_id": int(attrs["track"])} if "track" in attrs else {}),
            })
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "ignore-region"}]}
    return annotations_from_coco(coco, source="the bag's /ground_truth")


def detections_by_image(ground_truth: dict[int, BoxArray], detections: dict[int, BoxArray]) -> dict:
    """{0-based image index (ground-truth stamp order): (N, 5) x, y, w, h, score} for the evaluator."""
    return {i: detections[s].to_xywh_score() for i, s in enumerate(sorted(ground_truth)) if s in detections}


def evaluate_against_ground_truth(ground_truth: dict[int, BoxArray], detections: dict[int, BoxArray],
                                  frames: list[tuple[int, str, str]] | None = None,
                                  image_size: tuple[int, int] | None = None):
    """KAIST MR (``BAG_EVAL_PROTOCOL``, which the result names) of ``detections`` against the ground truth."""
    from lsi_perception.eval import evaluate

    ann = ground_truth_annotations(ground_truth, frames, image_size)
    return evaluate(ann, detections_by_image(ground_truth, detections), protocol=BAG_EVAL_PROTOCOL)


def tracks_by_image(ground_truth: dict[int, BoxArray], detections: dict[int, BoxArray]) -> dict:
    """{0-based image index (ground-truth stamp order): (N, 6) x, y, w, h, score, track id} of tracked
    detections (``Detection2D.id`` = track id; an empty id is track 0, which tracking scores leave out)."""
    out = {}
    for i, stamp in enumerate(sorted(ground_truth)):
        if stamp in detections:
            dets = detections[stamp]
            ids = np.array([int(t) if t.isdigit() else 0 for t in dets.ids], np.float64)
            out[i] = np.concatenate([dets.to_xywh_score(), ids[:, None]], axis=1)
    return out


def evaluate_tracks_against_ground_truth(ground_truth: dict[int, BoxArray], detections: dict[int, BoxArray],
                                         frames: list[tuple[int, str, str]] | None = None,
                                         image_size: tuple[int, int] | None = None):
    """Tracking scores (``eval.mot``) of tracked detections, or None when the ground truth has no identities."""
    from lsi_perception.eval.mot import TrackTable, evaluate_mot

    ann = ground_truth_annotations(ground_truth, frames, image_size)
    if not (ann.gt_track_ids >= 0).any():
        return None
    return evaluate_mot(ann, TrackTable.from_mapping(ann, tracks_by_image(ground_truth, detections)))
