"""Detections and images <-> ROS messages (vision_msgs, sensor_msgs). The only place that builds them."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray, LabelInfo, ObjectHypothesisWithPose, VisionClass

from lsi_perception.ros.image_codec import rgb8_fields


def stamp_to_ns(header: Header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def detections_to_msg(header: Header, boxes: np.ndarray, scores: np.ndarray, names: Sequence[str]) -> Detection2DArray:
    """Detection2DArray stamped with ``header``: one Detection2D per box (xyxy RGB pixels -> center/size),
    one hypothesis each with class_id = the class name and its score."""
    out = Detection2DArray(header=header)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    dets = []
    for (x1, y1, x2, y2), score, name in zip(boxes.tolist(), np.asarray(scores, dtype=np.float64).tolist(), names):
        d = Detection2D(header=header)
        d.bbox.center.position.x = (x1 + x2) * 0.5
        d.bbox.center.position.y = (y1 + y2) * 0.5
        d.bbox.size_x = x2 - x1
        d.bbox.size_y = y2 - y1
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = name
        hyp.hypothesis.score = score
        d.results = [hyp]
        dets.append(d)
    out.detections = dets
    return out


def msg_to_xyxy(msg: Detection2DArray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(boxes [N,4] xyxy, scores [N], class names) of a Detection2DArray (inverse of detections_to_msg)."""
    boxes, scores, names = [], [], []
    for d in msg.detections:
        cx, cy, w, h = d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.size_x, d.bbox.size_y
        boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
        scores.append(d.results[0].hypothesis.score if d.results else float("nan"))
        names.append(d.results[0].hypothesis.class_id if d.results else "")
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(scores, dtype=np.float64), names


def label_info_msg(header: Header, class_names: Sequence[str], threshold: float) -> LabelInfo:
    """LabelInfo mapping class index -> name (published transient-local, once per configure)."""
    return LabelInfo(header=header, threshold=float(threshold),
                     class_map=[VisionClass(class_id=i, class_name=n) for i, n in enumerate(class_names)])


def rgb_image_msg(header: Header, rgb: np.ndarray) -> Image:
    """An rgb8 sensor_msgs/Image of the HxWx3 uint8 array ``rgb``."""
    f = rgb8_fields(rgb)
    return Image(header=header, height=f["height"], width=f["width"], encoding=f["encoding"],
                 is_bigendian=f["is_bigendian"], step=f["step"], data=f["data"])
