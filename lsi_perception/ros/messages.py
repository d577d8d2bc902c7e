"""rclpy messages the node publishes: Detection2DArray, the overlay Image, LabelInfo.

The formats are the pipeline's codecs (``pipeline.detection_codec``, ``pipeline.image_codec``), shared
with the bag tools; this module only supplies rclpy's message classes.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from geometry_msgs.msg import Point, Pose, PoseWithCovariance, Quaternion
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import (
    BoundingBox2D,
    Detection2D,
    Detection2DArray,
    LabelInfo,
    ObjectHypothesis,
    ObjectHypothesisWithPose,
    Point2D,
    Pose2D,
    VisionClass,
)

from lsi_perception.pipeline.detection_codec import detection_array
from lsi_perception.pipeline.image_codec import image_fields

RCLPY_TYPES = {f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}": cls for cls in (
    Detection2DArray, Detection2D, ObjectHypothesisWithPose, ObjectHypothesis, BoundingBox2D, Pose2D, Point2D,
    PoseWithCovariance, Pose, Point, Quaternion)}


def detections_to_msg(header: Header, boxes: np.ndarray, scores: np.ndarray, names: Sequence[str],
                      ids: Sequence[str] | None = None) -> Detection2DArray:
    """Detection2DArray stamped with ``header`` from xyxy RGB-pixel boxes (``pipeline.detection_codec``);
    ``ids``: each Detection2D's ``id`` (the track id with tracking on)."""
    return detection_array(RCLPY_TYPES, header, boxes, scores, names, ids)


def label_info_msg(header: Header, class_names: Sequence[str], threshold: float) -> LabelInfo:
    """LabelInfo mapping class index -> name, with the score threshold in use (published transient-local)."""
    return LabelInfo(header=header, threshold=float(threshold),
                     class_map=[VisionClass(class_id=i, class_name=n) for i, n in enumerate(class_names)])


def image_msg(header: Header, array: np.ndarray, encoding: str | None = None, *, step: int | None = None,
              big_endian: bool = False) -> Image:
    """A sensor_msgs/Image holding ``array`` (``pipeline.image_codec.image_fields``; rgb8 for HxWx3 uint8)."""
    f = image_fields(array, encoding, step=step, is_bigendian=big_endian)
    f["data"] = f["data"].tobytes()
    return Image(header=header, **f)
