"""Build and read rosbags message objects: images from numpy, detections to and from Detection2DArray.

Everything here works on the plain dataclasses of the rosbags typestore (``bag.typestore``), never on
rclpy messages, so bag files can be written and read without a ROS installation. Image *decoding*
(encodings, 16-bit thermal, compressed formats) is the node's job (``lsi_perception.ros.decoding``);
the bag tools call it through :func:`decode_image` so both paths decode identically.

Ground truth in bags: one ``vision_msgs/Detection2DArray`` per frame on ``/ground_truth``, stamped like
the RGB image. Each Detection2D carries the KAIST category in ``results[0].hypothesis.class_id``
(``person``, ``people``, ``person?``, ``cyclist``), score 1, and the evaluation attributes in ``id`` as
``occlusion=<0|1|2>;ignore=<0|1>;height=<px>`` (see :func:`gt_attributes`).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .typestore import COMPRESSED_IMAGE, DETECTION_2D_ARRAY, IMAGE, typestore

NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time (rosbags or rclpy) -> integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def make_header(stamp_ns: int, frame_id: str):
    """std_msgs/Header (rosbags object) at ``stamp_ns`` nanoseconds."""
    types = typestore().types
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    return types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame_id)


# --------------------------------------------------------------------------------------------------
# Images


def _raw_encoding(image: np.ndarray, rgb_order: str) -> tuple[str, int]:
    """(ROS encoding, channels) for a numpy image; rejects layouts no ROS encoding describes."""
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return ("rgb8" if rgb_order == "rgb" else "bgr8"), 3
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        by_dtype = {np.dtype(np.uint8): "mono8", np.dtype(np.uint16): "mono16", np.dtype(np.float32): "32FC1"}
        if image.dtype in by_dtype:
            return by_dtype[image.dtype], 1
    raise ValueError(
        f"cannot encode an image of shape {image.shape} and dtype {image.dtype}: expected uint8 HxWx3 "
        "(color) or HxW uint8/uint16/float32 (thermal)"
    )


def image_message(image: np.ndarray, stamp_ns: int, frame_id: str, *, rgb_order: str = "rgb"):
    """A raw ``sensor_msgs/Image`` (rosbags object) holding ``image`` (little-endian, dense rows)."""
    encoding, channels = _raw_encoding(image, rgb_order)
    data = np.ascontiguousarray(image)
    height, width = data.shape[:2]
    step = width * channels * data.dtype.itemsize
    return typestore().types[IMAGE](
        header=make_header(stamp_ns, frame_id), height=height, width=width, encoding=encoding,
        is_bigendian=0, step=step, data=data.astype(data.dtype.newbyteorder("<"), copy=False).view(np.uint8).reshape(-1),
    )


def compressed_image_message(image: np.ndarray, stamp_ns: int, frame_id: str, *, rgb_order: str = "rgb",
                             jpeg_quality: int = 90):
    """A ``sensor_msgs/CompressedImage`` in image_transport's format string convention.

    8-bit images are JPEG (``rgb8; jpeg compressed bgr8`` / ``mono8; jpeg compressed mono8``); 16-bit
    thermal is lossless PNG (``mono16; png compressed mono16``) because JPEG would drop the radiometry.
    """
    encoding, channels = _raw_encoding(image, rgb_order)
    if encoding == "32FC1":
        raise ValueError("float32 thermal images have no compressed transport; write them raw (--no-compress)")
    pixels = image
    if channels == 3 and rgb_order == "rgb":
        pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if encoding == "mono16":
        ok, buf = cv2.imencode(".png", pixels)
        fmt = "mono16; png compressed mono16"
    else:
        ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        fmt = f"{encoding}; jpeg compressed {'bgr8' if channels == 3 else 'mono8'}"
    if not ok:
        raise ValueError(f"OpenCV could not compress an image of shape {image.shape} ({encoding})")
    return typestore().types[COMPRESSED_IMAGE](header=make_header(stamp_ns, frame_id), format=fmt,
                                               data=buf.reshape(-1))


def decode_image(msg, *, want: str) -> np.ndarray:
    """A bag's Image or CompressedImage (rosbags object) -> numpy, decoded exactly as the node decodes it.

    ``want`` is ``"rgb"`` (uint8 HxWx3 RGB order) or ``"thermal"`` (HxW, native dtype kept for AGC).
    Uses the node's decoder (``lsi_perception.ros.decoding``: cv_bridge when installed, else the package's
    codec), which reads plain message fields and so takes rosbags objects as they are.
    """
    from lsi_perception.ros import decoding

    if want == "rgb":
        return decoding.decode_rgb(msg)
    if want == "thermal":
        return decoding.decode_thermal(msg)
    raise ValueError(f"want={want!r} must be 'rgb' or 'thermal'")


# --------------------------------------------------------------------------------------------------
# Detections


@dataclass
class BoxArray:
    """The content of one Detection2DArray as arrays (N boxes).

    boxes: float32 [N, 4] xyxy pixels; scores: float32 [N]; labels: N class names;
    attributes: N dicts parsed from ``Detection2D.id`` (ground truth only; ``{}`` otherwise).
    """

    stamp_ns: int
    frame_id: str
    boxes: np.ndarray
    scores: np.ndarray
    labels: list[str]
    attributes: list[dict[str, float]]

    def __len__(self) -> int:
        return len(self.labels)

    def to_xywh_score(self) -> np.ndarray:
        """float64 [N, 5] x, y, w, h, score: the form the KAIST evaluator takes."""
        out = np.zeros((len(self), 5), np.float64)
        out[:, :2] = self.boxes[:, :2]
        out[:, 2:4] = self.boxes[:, 2:] - self.boxes[:, :2]
        out[:, 4] = self.scores
        return out


def gt_attributes(occlusion: int, ignore: bool, height: float) -> str:
    """The ``Detection2D.id`` string of a ground-truth box (parsed back by :func:`parse_attributes`)."""
    return f"occlusion={int(occlusion)};ignore={int(bool(ignore))};height={float(height):g}"


def parse_attributes(text: str) -> dict[str, float]:
    """``"occlusion=1;ignore=0;height=52"`` -> ``{"occlusion": 1.0, ...}``; other ids give ``{}``."""
    out: dict[str, float] = {}
    for item in text.split(";"):
        key, sep, value = item.partition("=")
        if not sep:
            return {}
        try:
            out[key.strip()] = float(value)
        except ValueError:
            return {}
    return out


def detection_array_message(stamp_ns: int, frame_id: str, boxes: np.ndarray, scores: np.ndarray,
                            labels: list[str], ids: list[str] | None = None):
    """A ``vision_msgs/Detection2DArray`` (rosbags object) from xyxy pixel boxes [N, 4].

    Follows the package's topic contract: center + size in RGB pixels, class name in ``class_id``,
    every Detection2D stamped with the array's header.
    """
    t = typestore().types
    header = make_header(stamp_ns, frame_id)
    detections = []
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        hypothesis = t["vision_msgs/msg/ObjectHypothesisWithPose"](
            hypothesis=t["vision_msgs/msg/ObjectHypothesis"](class_id=str(labels[k]), score=float(scores[k])),
            pose=_zero_pose_with_covariance(),
        )
        center = t["vision_msgs/msg/Pose2D"](position=t["vision_msgs/msg/Point2D"](x=(x1 + x2) / 2, y=(y1 + y2) / 2),
                                            theta=0.0)
        bbox = t["vision_msgs/msg/BoundingBox2D"](center=center, size_x=float(x2 - x1), size_y=float(y2 - y1))
        detections.append(t["vision_msgs/msg/Detection2D"](header=header, results=[hypothesis], bbox=bbox,
                                                          id=ids[k] if ids else ""))
    return t[DETECTION_2D_ARRAY](header=header, detections=detections)


def _zero_pose_with_covariance():
    t = typestore().types
    pose = t["geometry_msgs/msg/Pose"](
        position=t["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0),
        orientation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
    )
    return t["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.zeros(36, np.float64))


def detection_array_to_boxes(msg) -> BoxArray:
    """Detection2DArray (rosbags or rclpy object) -> :class:`BoxArray` (best hypothesis per detection)."""
    n = len(msg.detections)
    boxes = np.zeros((n, 4), np.float32)
    scores = np.zeros(n, np.float32)
    labels: list[str] = []
    attributes: list[dict[str, float]] = []
    for k, det in enumerate(msg.detections):
        cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
        w, h = det.bbox.size_x, det.bbox.size_y
        boxes[k] = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        best = max(det.results, key=lambda r: r.hypothesis.score) if det.results else None
        scores[k] = best.hypothesis.score if best else 0.0
        labels.append(best.hypothesis.class_id if best else "")
        attributes.append(parse_attributes(det.id) if det.id else {})
    return BoxArray(stamp_to_ns(msg.header.stamp), msg.header.frame_id, boxes, scores, labels, attributes)
