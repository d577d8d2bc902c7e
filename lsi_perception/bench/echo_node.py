"""A stand-in for ``lsi_detector`` with no model, for ``lsi bench node --cross-process``: it subscribes
to the same two image topics with the same sensor-data QoS and, when the thermal image of a pair
arrives, publishes its header back on ``echo``. Its round trip is the floor that DDS, rclpy and the
thread wake-ups put under any node that takes these images across processes.

    python -m lsi_perception.bench.echo_node --ros-args -r __ns:=/bench_echo
"""
from __future__ import annotations

import sys

from lsi_perception.child_processes import exit_with_parent
from lsi_perception.pipeline.defaults import RGB_TOPIC, THERMAL_TOPIC


def main() -> int:
    exit_with_parent()
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    rclpy.init()
    node = Node("lsi_bench_echo")
    back = node.create_publisher(Header, "echo", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    last_rgb: list[Header] = []

    def on_rgb(msg: Image) -> None:
        last_rgb[:] = [msg.header]

    def on_thermal(msg: Image) -> None:
        if last_rgb and last_rgb[0].stamp == msg.header.stamp:
            back.publish(msg.header)

    node.create_subscription(Image, RGB_TOPIC, on_rgb, qos_profile_sensor_data)
    node.create_subscription(Image, THERMAL_TOPIC, on_thermal, qos_profile_sensor_data)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
