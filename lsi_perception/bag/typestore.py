"""A rosbags ``Typestore`` that knows every message type the bag tools read or write.

rosbags ships the standard ROS 2 interfaces per distro (sensor_msgs, std_msgs, builtin_interfaces,
geometry_msgs, rosgraph_msgs/Clock, ...) but not vision_msgs. We register vision_msgs from the
package's own ``.msg`` files (``resources.vision_msgs_definitions_dir()``), the same definitions the
fallback interface package is built from, so the type hashes written to a bag match what rclpy
publishes. No ROS installation is needed.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from lsi_perception.resources import vision_msgs_definitions_dir

DISTROS: dict[str, Stores] = {
    "kilted": Stores.ROS2_KILTED,
    "jazzy": Stores.ROS2_JAZZY,
    "humble": Stores.ROS2_HUMBLE,
}
DEFAULT_DISTRO = "kilted"

# Message type names as rosbags (and rosbag2 metadata) spell them.
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
DETECTION_2D_ARRAY = "vision_msgs/msg/Detection2DArray"
CLOCK = "rosgraph_msgs/msg/Clock"


def _vision_msgs_types(msg_dir: Path) -> dict:
    """Parse every ``vision_msgs/msg/*.msg`` file into a rosbags types dict."""
    files = sorted(msg_dir.glob("*.msg"))
    if not files:
        raise FileNotFoundError(
            f"no vision_msgs .msg definitions in {msg_dir}; the package's fallback_interfaces/ folder "
            "is missing from this installation"
        )
    types: dict = {}
    for path in files:
        types.update(get_types_from_msg(path.read_text(), f"vision_msgs/msg/{path.stem}"))
    return types


@cache
def typestore(distro: str = DEFAULT_DISTRO) -> Typestore:
    """The shared typestore for ``distro`` (kilted, jazzy or humble) with vision_msgs registered."""
    key = distro.lower()
    if key not in DISTROS:
        raise ValueError(f"unknown ROS 2 distro {distro!r}; choose one of {', '.join(DISTROS)}")
    store = get_typestore(DISTROS[key])
    store.register(_vision_msgs_types(vision_msgs_definitions_dir()))
    return store
