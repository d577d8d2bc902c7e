"""``lsi bag detect``: the node's pipeline, offline, as fast as the hardware allows.

Messages are read in bag order (the order they arrived when recorded) and paired by the node's own
approximate-time policy (``ros.sync.ApproximateTimePolicy``, the node's default slop and queue size),
decoded by the node's decoder (``ros.decoding``) and passed to the same ``Detector``. Each pair's
Detection2DArray, stamped with the RGB header, is written to a new bag at the RGB message's bag time
(optionally with an overlay image). When the bag has ground truth on ``/ground_truth`` the KAIST MR table
is computed against it (frames the node could not pair count as frames with no detections).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lsi_perception.ros.node_config import NodeConfig

from .convert import (
    NS_PER_S,
    BoxArray,
    decode_image,
    detection_array_message,
    detection_array_to_boxes,
    stamp_to_ns,
)
from .from_dataset import FRAMES_KEY
from .reader import BagReader
from .typestore import COMPRESSED_IMAGE, DETECTION_2D_ARRAY, IMAGE
from .writer import BagWriter

_NODE_DEFAULTS = NodeConfig()
# A bag is scored at the detector's operating threshold: a frame without detections misses its pedestrians
# (lsi_perception.eval.protocol; the reference protocol would not count them).
BAG_EVAL_PROTOCOL = "strict"


@dataclass
class DetectConfig:
    """Topics and pairing of ``bag detect`` (pairing defaults are the node's)."""

    rgb_topic: str | None = None  # None: the one image topic whose name mentions rgb/color/visible
    thermal_topic: str | None = None  # None: the one image topic whose name mentions thermal/lwir/ir
    ground_truth_topic: str = "/ground_truth"
    output_topic: str = "/detections"
    overlay_topic: str | None = None  # e.g. /detections/image: write annotated RGB images too
    slop_s: float = _NODE_DEFAULTS.slop
    queue_size: int = _NODE_DEFAULTS.queue_size
    storage: str = "mcap"
    overwrite: bool = False
    salvage: bool = False


@dataclass
class DetectResult:
    """What ``detect_bag`` did. ``detections`` maps RGB stamp (ns) -> BoxArray."""

    out: Path
    rgb_messages: int = 0
    thermal_messages: int = 0
    pairs: int = 0
    seconds: float = 0.0
    detections: dict[int, BoxArray] = field(default_factory=dict)
    ground_truth: dict[int, BoxArray] = field(default_factory=dict)
    frames: list[tuple[int, str, str]] = field(default_factory=list)  # (stamp, im_name, time_of_day)
    image_size: tuple[int, int] | None = None  # (width, height) of the RGB images
    eval_result: object | None = None  # lsi_perception.eval.EvalResult when ground truth exists
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (RGB stamp, why): pairs that cannot be trusted

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.seconds if self.seconds > 0 else 0.0


_RGB_HINTS = ("rgb", "color", "colour", "visible")
_THERMAL_HINTS = ("thermal", "lwir", "infra", "/ir")


def pick_image_topics(topics: dict[str, str], rgb: str | None, thermal: str | None) -> tuple[str, str]:
    """Resolve the RGB and thermal topics: given names must exist; missing ones are found by name."""
    images = {t for t, typ in topics.items() if typ in (IMAGE, COMPRESSED_IMAGE)}

    def pick(given: str | None, hints: tuple[str, ...], what: str) -> str:
        if given is not None:
            if given not in images:
                raise ValueError(f"{what} topic {given} is not an image topic of the bag; image topics: {sorted(images)}")
            return given
        found = sorted(t for t in images if any(h in t.lower() for h in hints))
        if len(found) != 1:
            raise ValueError(f"cannot tell which image topic is the {what} camera among {sorted(images)}; "
                             f"pass --{what}-topic")
        return found[0]

    return pick(rgb, _RGB_HINTS, "rgb"), pick(thermal, _THERMAL_HINTS, "thermal")


def detect_bag(bag: str | Path, detector, out: str | Path, cfg: DetectConfig | None = None,
               progress: bool = True, on_pair: Callable[[int, np.ndarray, np.ndarray, object], None] | None = None
               ) -> DetectResult:
    """Run ``detector`` (a ``lsi_perception.inference.Detector``) over every RGB/thermal pair of ``bag``.

    ``on_pair(stamp_ns, rgb, thermal, detections)`` is called for each pair (e.g. to draw a video).
    """
    from lsi_perception.ros.image_codec import ImageDecodeError
    from lsi_perception.ros.overlay import draw_overlay
    from lsi_perception.ros.sync import ApproximateTimePolicy

    from .convert import image_message

    cfg = cfg or DetectConfig()
    result = DetectResult(Path(out))
    policy = ApproximateTimePolicy(2, cfg.queue_size, round(cfg.slop_s * NS_PER_S))
    with BagReader(bag, salvage=cfg.salvage) as reader:
        rgb_topic, thermal_topic = pick_image_topics(reader.topics, cfg.rgb_topic, cfg.thermal_topic)
        with BagWriter(out, storage=cfg.storage, overwrite=cfg.overwrite) as writer:
            has_gt = reader.topics.get(cfg.ground_truth_topic) == DETECTION_2D_ARRAY
            result.frames = frames_index(reader.custom_data)
            wanted = [rgb_topic, thermal_topic] + ([cfg.ground_truth_topic] if has_gt else [])
            total = sum(reader.counts.get(t, 0) for t in wanted)
            start = time.perf_counter()
            bar = tqdm(total=total, desc=f"detect {Path(bag).name}", unit="msg", disable=not progress)
            for m in reader.messages(wanted):
                bar.update()
                if m.topic == cfg.ground_truth_topic:
                    result.ground_truth[stamp_to_ns(m.msg.header.stamp)] = detection_array_to_boxes(m.msg)
                    continue
                index = 0 if m.topic == rgb_topic else 1
                if index == 0:
                    result.rgb_messages += 1
                    result.image_size = result.image_size or _image_size(m.msg)
                else:
                    result.thermal_messages += 1
                for rgb_msg, thermal_msg in policy.add(index, stamp_to_ns(m.msg.header.stamp), (m.timestamp, m.msg)):
                    bag_time, rgb_m = rgb_msg
                    try:  # a corrupt, non-finite or constant (shutter) frame: skipped and reported, not "nobody"
                        rgb, thermal = decode_image(rgb_m, want="rgb"), decode_image(thermal_msg[1], want="thermal")
                    except ImageDecodeError as exc:
                        result.skipped.append((stamp_to_ns(rgb_m.header.stamp), str(exc)))
                        continue
                    result.image_size = result.image_size or (rgb.shape[1], rgb.shape[0])
                    dets = detector.predict(rgb, thermal)
                    stamp = stamp_to_ns(rgb_m.header.stamp)
                    array = detection_array_message(stamp, rgb_m.header.frame_id, dets.boxes, dets.scores, dets.names())
                    writer.write(cfg.output_topic, bag_time, array)
                    result.detections[stamp] = detection_array_to_boxes(array)
                    if cfg.overlay_topic:
                        overlay = draw_overlay(rgb, dets.boxes, dets.scores, dets.names())
                        writer.write(cfg.overlay_topic, bag_time, image_message(overlay, stamp, rgb_m.header.frame_id))
                    if on_pair is not None:
                        on_pair(stamp, rgb, thermal, dets)
                    result.pairs += 1
                    bar.set_postfix(pairs=result.pairs)
            bar.close()
        result.seconds = time.perf_counter() - start
    if result.ground_truth:
        result.eval_result = evaluate_against_ground_truth(result.ground_truth, result.detections, result.frames,
                                                           result.image_size)
    return result


def _image_size(msg) -> tuple[int, int] | None:
    """(width, height) of an Image; a CompressedImage's size is only known once decoded (None)."""
    return (int(msg.width), int(msg.height)) if hasattr(msg, "width") else None


def frames_index(custom_data: dict[str, str]) -> list[tuple[int, str, str]]:
    """(stamp ns, image name, time of day) per frame from a bag written by ``bag from-dataset`` ([] if absent)."""
    raw = custom_data.get(FRAMES_KEY)
    if not raw:
        return []
    try:
        return [(int(s), str(n), str(t)) for s, n, t in json.loads(raw)]
    except (ValueError, TypeError):
        return []


def evaluate_against_ground_truth(ground_truth: dict[int, BoxArray], detections: dict[int, BoxArray],
                                  frames: list[tuple[int, str, str]] | None = None,
                                  image_size: tuple[int, int] | None = None):
    """KAIST MR of ``detections`` against the bag's ground truth; both keyed by RGB stamp (ns).

    Image names and day/night come from the bag's frame index when present (``frames``), else every
    ground-truth frame is one image of unknown time of day (only the "all" column is then meaningful).
    Scored with ``BAG_EVAL_PROTOCOL``, which the result names.
    """
    from lsi_perception.eval import annotations_from_coco, evaluate

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
        for k in range(len(gt)):
            x1, y1, x2, y2 = (float(v) for v in gt.boxes[k])
            attrs = gt.attributes[k]
            annotations.append({
                "id": len(annotations), "image_id": image_id, "bbox": [x1, y1, x2 - x1, y2 - y1],
                "category_id": 1 if gt.labels[k] == "person" else 2,
                "height": float(attrs.get("height", y2 - y1)), "occlusion": int(attrs.get("occlusion", 0)),
                "ignore": int(attrs.get("ignore", 0)),
            })
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "ignore-region"}]}
    ann = annotations_from_coco(coco, source="the bag's /ground_truth")
    stamps = sorted(ground_truth)
    by_index = {i: detections[s].to_xywh_score() for i, s in enumerate(stamps) if s in detections}
    return evaluate(ann, by_index, protocol=BAG_EVAL_PROTOCOL)
