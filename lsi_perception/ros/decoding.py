"""Image / CompressedImage messages -> (array, encoding) for the node: cv_bridge when it imports, else
the package's codec (``pipeline.image_codec.message_to_array``).

``message_to_array`` is handed to the ``PairProcessor``, which turns the array into RGB / thermal with the
pipeline's encoding rules either way, so the node gives the same arrays with or without cv_bridge;
``IMPLEMENTATION`` says which one is active (logged and reported in diagnostics).
"""
from __future__ import annotations

import numpy as np

from lsi_perception.pipeline import image_codec
from lsi_perception.pipeline.image_codec import ImageDecodeError

try:  # pragma: no cover - depends on the ROS installation
    from cv_bridge import CvBridge, CvBridgeError

    _BRIDGE: CvBridge | None = CvBridge()
    IMPLEMENTATION = "cv_bridge"
except ImportError:
    _BRIDGE = None
    CvBridgeError = ImageDecodeError  # type: ignore[misc,assignment]
    IMPLEMENTATION = "lsi_perception.pipeline.image_codec (cv_bridge not installed)"

_BRIDGE_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1", "mono16", "16UC1", "32FC1")


def message_to_array(msg) -> tuple[np.ndarray, str]:
    """The pixels of a sensor_msgs/Image (or CompressedImage) and the encoding they are in."""
    if _BRIDGE is None or hasattr(msg, "format") or msg.encoding not in _BRIDGE_ENCODINGS:
        return image_codec.message_to_array(msg)
    try:
        return _BRIDGE.imgmsg_to_cv2(msg, desired_encoding="passthrough"), msg.encoding
    except (CvBridgeError, TypeError, ValueError) as exc:
        raise ImageDecodeError(f"cv_bridge could not convert {msg.encoding} {msg.width}x{msg.height}: {exc}") from exc
