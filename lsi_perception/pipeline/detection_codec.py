"""vision_msgs/Detection2DArray <-> arrays: the one place that builds and reads them.

The package's topic contract: one Detection2D per box, center + size in RGB pixels, one hypothesis with
``class_id`` = the class name and its score, every Detection2D stamped with the array's header, ``id``
the track id (decimal text) with tracking on (``pipeline.tracking``), else empty; empty too for a detection
no confirmed track owns yet. Ground truth in bags (``/ground_truth``) uses the same message: the KAIST
category in ``class_id`` (``person``, ``people``, ``person?``, ``cyclist``), score 1, and the evaluation
attributes in ``id`` as ``occlusion=<0|1|2>;ignore=<0|1>;height=<px>[;track=<person id>]``
(:func:`gt_attributes`, :attr:`BoxArray.attributes`).

Messages are built from a ``types`` mapping (ROS type name -> class): rclpy's message classes
(``ros.messages.RCLPY_TYPES``) or the rosbags typestore's (``bag.typestore.typestore().types``); both take
every field as a keyword. Reading only touches fields, so it accepts either kind of object.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lsi_perception.eval.results import xyxy_to_xywh
from lsi_perception.pipeline.stamps import stamp_to_ns

DETECTION_TYPES = (
    "vision_msgs/msg/Detection2DArray", "vision_msgs/msg/Detection2D", "vision_msgs/msg/ObjectHypothesisWithPose",
    "vision_msgs/msg/ObjectHypothesis", "vision_msgs/msg/BoundingBox2D", "vision_msgs/msg/Pose2D",
    "vision_msgs/msg/Point2D", "geometry_msgs/msg/PoseWithCovariance", "geometry_msgs/msg/Pose",
    "geometry_msgs/msg/Point", "geometry_msgs/msg/Quaternion",
)


@dataclass
class BoxArray:
    """The content of one Detection2DArray as arrays (N boxes).

    boxes: float32 [N, 4] xyxy pixels; scores: float32 [N]; labels: N class names; ids: N
    ``Detection2D.id`` strings (track ids or empty for detections, attributes for ground truth).
    """

    stamp_ns: int
    frame_id: str
    boxes: np.ndarray
    scores: np.ndarray
    labels: list[str]
    ids: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def attributes(self) -> list[dict[str, float]]:
        """The ground-truth attributes parsed from each ``id`` (``{}`` where it holds none)."""
        return [parse_attributes(i) for i in self.ids]

    def to_xywh_score(self) -> np.ndarray:
        """float64 [N, 5] x, y, w, h, score: the form the KAIST evaluator takes."""
        return np.concatenate([xyxy_to_xywh(self.boxes.astype(np.float64)), self.scores[:, None]], axis=1)


def gt_attributes(occlusion: int, ignore: bool, height: float, track_id: int | None = None) -> str:
    """The ``Detection2D.id`` string of a ground-truth box (parsed back by :func:`parse_attributes`);
    ``track_id``: the person's identity across the drive, where the dataset records it."""
    text = f"occlusion={int(occlusion)};ignore={int(bool(ignore))};height={float(height):g}"
    return text if track_id is None else f"{text};track={int(track_id)}"


def parse_attributes(text: str) -> dict[str, float]:
    """``"occlusion=1;ignore=0;height=52"`` -> ``{"occlusion": 1.0, ...}``; other ids give ``{}``."""
    out: dict[str, float] = {}
    if not text:
        return out
    for item in text.split(";"):
        key, sep, value = item.partition("=")
        if not sep:
            return {}
        try:
            out[key.strip()] = float(value)
        except ValueError:
            return {}
    return out


def detection_array(types: Mapping[str, type], header, boxes: np.ndarray, scores: Sequence[float],
                    labels: Sequence[str], ids: Sequence[str] | None = None):
    """A Detection2DArray (of ``types``' kind) stamped with ``header`` from xyxy pixel boxes [N, 4]."""
    t = types
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    detections = []
    for k, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        pose = t["geometry_msgs/msg/PoseWithCovariance"](
            pose=t["geometry_msgs/msg/Pose"](position=t["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0),
                                             orientation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)),
            covariance=np.zeros(36, np.float64))
        hypothesis = t["vision_msgs/msg/ObjectHypothesisWithPose"](
            hypothesis=t["vision_msgs/msg/ObjectHypothesis"](class_id=str(labels[k]), score=float(scores[k])), pose=pose)
        center = t["vision_msgs/msg/Pose2D"](position=t["vision_msgs/msg/Point2D"](x=(x1 + x2) * 0.5, y=(y1 + y2) * 0.5),
                                            theta=0.0)
        bbox = t["vision_msgs/msg/BoundingBox2D"](center=center, size_x=x2 - x1, size_y=y2 - y1)
        detections.append(t["vision_msgs/msg/Detection2D"](header=header, results=[hypothesis], bbox=bbox,
                                                          id=ids[k] if ids else ""))
    return t["vision_msgs/msg/Detection2DArray"](header=header, detections=detections)


def read_detection_array(msg) -> BoxArray:
    """A Detection2DArray (rclpy or rosbags) -> :class:`BoxArray`; each detection's best hypothesis."""
    n = len(msg.detections)
    boxes = np.zeros((n, 4), np.float32)
    scores = np.zeros(n, np.float32)
    labels: list[str] = []
    for k, det in enumerate(msg.detections):
        cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
        w, h = det.bbox.size_x, det.bbox.size_y
        boxes[k] = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        best = max(det.results, key=lambda r: r.hypothesis.score) if det.results else None
        scores[k] = best.hypothesis.score if best else 0.0
        labels.append(best.hypothesis.class_id if best else "")
    return BoxArray(stamp_to_ns(msg.header.stamp), msg.header.frame_id, boxes, scores, labels,
                    [str(d.id) for d in msg.detections])
