"""Image / CompressedImage messages -> numpy arrays: cv_bridge when it imports, else the package's codec.

Both paths share the encoding handling of ``image_codec`` (as_rgb / as_thermal) so the node gives the same
arrays either way; ``IMPLEMENTATION`` says which one is active (logged and reported in diagnostics).
"""
from __future__ import annotations

import numpy as np

from lsi_perception.ros.image_codec import (
    ImageDecodeError,
    as_rgb,
    as_thermal,
    decode_compressed,
    raw_to_array,
)

try:  # pragma: no cover - depends on the ROS installation
    from cv_bridge import CvBridge, CvBridgeError

    _BRIDGE: CvBridge | None = CvBridge()
    IMPLEMENTATION = "cv_bridge"
except ImportError:
    _BRIDGE = None
    CvBridgeError = ImageDecodeError  # type: ignore[misc,assignment]
    IMPLEMENTATION = "lsi_perception.ros.image_codec (cv_bridge not installed)"


def image_msg_to_array(msg) -> tuple[np.ndarray, str]:
    """The pixels of a sensor_msgs/Image (or CompressedImage) and the encoding they are in."""
    if hasattr(msg, "format"):  # CompressedImage
        return decode_compressed(msg.format, msg.data)
    if _BRIDGE is not None and msg.encoding in ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1", "mono16", "16UC1", "32FC1"):
        try:
            return _BRIDGE.imgmsg_to_cv2(msg, desired_encoding="passthrough"), msg.encoding
        except (CvBridgeError, TypeError, ValueError) as exc:
            raise ImageDecodeError(f"cv_bridge could not convert {msg.encoding} {msg.width}x{msg.height}: {exc}") from exc
    return raw_to_array(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data), msg.encoding


def decode_rgb(msg) -> np.ndarray:
    """HxWx3 uint8 RGB from an RGB camera message."""
    array, encoding = image_msg_to_array(msg)
    return as_rgb(array, encoding)


def decode_thermal(msg) -> np.ndarray:
    """HxW uint8 / uint16 / float32 from a thermal camera message."""
    array, encoding = image_msg_to_array(msg)
    return as_thermal(array, encoding)
