"""A default-configured rclpy process watching a detector: discovery, its detections, its diagnostics.

Stands in for RViz / ``ros2 topic echo`` on a vehicle: it imports nothing from lsi_perception, and the
tests start it with no DDS configuration at all (Fast DDS defaults), so it shows whether a node running
the package's profile is still discoverable and reachable by default-configured tools.

    python detections_probe.py --namespace /x --node lsi_detector [--images]

Prints one JSON line per event: {"event": "discovered"} once the node is in the graph; for every
diagnostics status of the node {"event": "diagnostics", "detections": N, "values": {...}}. With --images
it also counts the camera topics it receives ({"event": "images", ...} once a second). Ends on SIGINT or
when stdin closes, printing {"event": "done", ...}.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import threading

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray


def say(**event) -> None:
    print(json.dumps(event), flush=True)



def _end_with_parent() -> None:
    """With LSI_EXIT_WITH_PARENT set (the test suite sets it): SIGTERM when the test process dies, so an
    interrupted test run leaves nothing behind (what lsi_perception.child_processes does, without importing
    lsi_perception)."""
    if os.environ.get("LSI_EXIT_WITH_PARENT") and sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG


def main() -> int:
    _end_with_parent()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="")
    parser.add_argument("--node", default="lsi_detector")
    parser.add_argument("--images", action="store_true", help="also count rgb/image_raw and thermal/image_raw")
    args = parser.parse_args()

    rclpy.init()
    node = rclpy.create_node("detections_probe", namespace=args.namespace)
    counts = {"detections": 0, "rgb": 0, "thermal": 0}
    lock = threading.Lock()
    ns = args.namespace.rstrip("/") or ""
    status_name = f"{ns.lstrip('/')}/{args.node}".lstrip("/")

    def count(key):
        def callback(_msg) -> None:
            with lock:
                counts[key] += 1
        return callback

    node.create_subscription(Detection2DArray, "detections", count("detections"),
                             QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    if args.images:
        node.create_subscription(Image, "rgb/image_raw", count("rgb"), qos_profile_sensor_data)
        node.create_subscription(Image, "thermal/image_raw", count("thermal"), qos_profile_sensor_data)

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith(f"{status_name}:"):
                with lock:
                    detections = counts["detections"]
                say(event="diagnostics", detections=detections, level=int.from_bytes(status.level, "little")
                    if isinstance(status.level, bytes) else int(status.level), message=status.message,
                    values={kv.key: kv.value for kv in status.values})

    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 50)

    discovered = False

    def watch_graph() -> None:
        nonlocal discovered
        if not discovered and (args.node, ns or "/") in node.get_node_names_and_namespaces():
            discovered = True
            say(event="discovered")
        if args.images:
            with lock:
                say(event="images", rgb=counts["rgb"], thermal=counts["thermal"])

    node.create_timer(1.0 if args.images else 0.2, watch_graph)
    threading.Thread(target=lambda: (sys.stdin.read(), rclpy.try_shutdown()), daemon=True).start()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    with lock:
        say(event="done", discovered=discovered, **counts)
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
