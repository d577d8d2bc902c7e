"""rosbags message objects for the bag tools: headers, images from numpy, detections.

Everything here builds the plain dataclasses of the rosbags typestore (``bag.typestore``), never rclpy
messages, so bag files are written and read without a ROS installation. The formats themselves are the
pipeline's codecs (``pipeline.image_codec`` for images, ``pipeline.detection_codec`` for
Detection2DArray and the ground-truth convention), shared with the node; this module only supplies the
rosbags types.
"""
from __future__ import annotations

import numpy as np

from lsi_perception.pipeline.detection_codec import detection_array
from lsi_perception.pipeline.image_codec import compress_image, encoding_of, image_fields
from lsi_perception.pipeline.stamps import split_ns

from .typestore import COMPRESSED_IMAGE, IMAGE, typestore


def make_header(stamp_ns: int, frame_id: str):
    """std_msgs/Header (rosbags object) at ``stamp_ns`` nanoseconds."""
    types = typestore().types
    sec, nanosec = split_ns(stamp_ns)
    return types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame_id)


def image_message(image: np.ndarray, stamp_ns: int, frame_id: str, *, rgb_order: str = "rgb"):
    """A raw ``sensor_msgs/Image`` (rosbags object) holding ``image`` (little-endian, dense rows)."""
    fields = image_fields(image, encoding_of(image, rgb_order))
    return typestore().types[IMAGE](header=make_header(stamp_ns, frame_id), **fields)


def compressed_image_message(image: np.ndarray, stamp_ns: int, frame_id: str, *, rgb_order: str = "rgb",
                             jpeg_quality: int = 90):
    """A ``sensor_msgs/CompressedImage`` (rosbags object): JPEG for 8-bit, PNG for 16-bit thermal
    (``pipeline.image_codec.compress_image``)."""
    fmt, data = compress_image(image, rgb_order, jpeg_quality)
    return typestore().types[COMPRESSED_IMAGE](header=make_header(stamp_ns, frame_id), format=fmt, data=data)


def detection_array_message(stamp_ns: int, frame_id: str, boxes: np.ndarray, scores: np.ndarray,
                            labels: list[str], ids: list[str] | None = None):
    """A ``vision_msgs/Detection2DArray`` (rosbags object) from xyxy pixel boxes [N, 4]."""
    return detection_array(typestore().types, make_header(stamp_ns, frame_id), boxes, scores, labels, ids)
