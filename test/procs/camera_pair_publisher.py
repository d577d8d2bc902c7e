"""A plain rclpy camera rig in its own process: RGB (rgb8) + thermal (mono16) pairs at sensor-data QoS.

Stands in for a camera driver in the cross-process tests: it imports nothing from lsi_perception, so
its DDS configuration is exactly what its environment says (the tests point it at the shipped profile).

    python camera_pair_publisher.py --namespace /x --pairs 100 --rate 10 --wait-subscribers 30

Waits until both topics have a subscriber, publishes, and prints one JSON line: {"published": N, ...}.
"""
from __future__ import annotations

import argparse
import array
import ctypes
import json
import os
import signal
import sys
import time

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header


def frames(height: int, width: int, variants: int = 4) -> list[tuple[array.array, array.array]]:
    """A few distinct (rgb8, mono16) payloads: a warm blob on a gradient, shifted per variant."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    out = []
    for k in range(variants):
        cx, cy = width * (0.3 + 0.1 * k), height * 0.55
        blob = np.exp(-(((xx - cx) / (width * 0.04)) ** 2 + ((yy - cy) / (height * 0.15)) ** 2))
        thermal = (28000 + 6000 * blob + rng.normal(0, 50, blob.shape)).astype(np.uint16)
        gray = (60 + 120 * (yy / height) + 60 * blob).astype(np.uint8)
        rgb = np.stack([gray, gray // 2 + 40, 255 - gray], axis=-1)
        out.append((array.array("B", rgb.tobytes()), array.array("B", thermal.tobytes())))
    return out



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
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--wait-subscribers", type=float, default=30.0, help="seconds to wait for both subscribers")
    args = parser.parse_args()

    rclpy.init()
    node = rclpy.create_node("camera_pair_publisher", namespace=args.namespace)
    rgb_pub = node.create_publisher(Image, "rgb/image_raw", qos_profile_sensor_data)
    thermal_pub = node.create_publisher(Image, "thermal/image_raw", qos_profile_sensor_data)
    deadline = time.monotonic() + args.wait_subscribers
    while min(rgb_pub.get_subscription_count(), thermal_pub.get_subscription_count()) < 1:
        if time.monotonic() > deadline:
            print(json.dumps({"published": 0, "error": "no subscriber"}), flush=True)
            return 1
        time.sleep(0.05)
    time.sleep(1.0)  # let the subscribers' side of the match settle too
    payloads = frames(args.height, args.width)
    h, w = args.height, args.width
    period = 1.0 / args.rate
    start = time.monotonic()
    for i in range(args.pairs):
        time.sleep(max(0.0, start + i * period - time.monotonic()))
        now = time.time_ns()
        header = Header(stamp=Time(sec=now // 1_000_000_000, nanosec=now % 1_000_000_000), frame_id="camera")
        rgb, thermal = payloads[i % len(payloads)]
        rgb_pub.publish(Image(header=header, height=h, width=w, encoding="rgb8", step=3 * w, data=rgb))
        thermal_pub.publish(Image(header=header, height=h, width=w, encoding="mono16", step=2 * w, data=thermal))
    elapsed = time.monotonic() - start
    time.sleep(0.5)  # do not tear down the writers while the last samples are in flight
    print(json.dumps({"published": args.pairs, "seconds": round(elapsed, 2)}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
