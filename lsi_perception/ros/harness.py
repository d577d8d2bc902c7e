"""Drive a live ``lsi_detector`` over DDS: build camera messages, publish pairs, collect the outputs.

Used by the ROS tests and ``lsi bench node``; nothing here is mocked: messages go through the RMW.

    with running_detector(parameters, namespace="/t1") as (detector_node, client):
        client.publish_pair(rgb, thermal, stamp_ns)
        msg = client.wait_for_detections(1, timeout=10)[0]
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from lsi_perception.pipeline.defaults import (
    DETECTIONS_TOPIC,
    LABEL_INFO_TOPIC,
    OVERLAY_TOPIC,
    RGB_TOPIC,
    THERMAL_TOPIC,
)
from lsi_perception.pipeline.image_codec import encoding_of
from lsi_perception.pipeline.stamps import split_ns
from lsi_perception.ros import messages


def ns_to_time(stamp_ns: int) -> Time:
    sec, nanosec = split_ns(stamp_ns)
    return Time(sec=sec, nanosec=nanosec)


def image_msg(array: np.ndarray, encoding: str | None, stamp_ns: int, frame_id: str = "camera", *,
              step: int | None = None, big_endian: bool = False) -> Image:
    """A sensor_msgs/Image of ``array`` in ``encoding`` (None: rgb8 / mono8 / mono16 / 32FC1 by dtype;
    optional row padding / big-endian pixels)."""
    return messages.image_msg(Header(stamp=ns_to_time(stamp_ns), frame_id=frame_id), array, encoding, step=step,
                              big_endian=big_endian)


def compressed_msg(array: np.ndarray, fmt: str, stamp_ns: int, frame_id: str = "camera") -> CompressedImage:
    """A CompressedImage: ``fmt`` "jpeg" or "png"; 3-channel arrays are taken as RGB."""
    img = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array
    ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", img)
    if not ok:
        raise ValueError(f"cv2 could not encode a {array.shape} {array.dtype} image as {fmt}")
    return CompressedImage(header=Header(stamp=ns_to_time(stamp_ns), frame_id=frame_id), format=fmt, data=buf.tobytes())


class DetectorClient(Node):
    """Publishes RGB/thermal messages to a detector and records everything it publishes."""

    def __init__(self, name: str = "lsi_detector_client", namespace: str = "", compressed: bool = False,
                 overlay: bool = True) -> None:
        super().__init__(name, namespace=namespace)
        msg_type = CompressedImage if compressed else Image
        suffix = "/compressed" if compressed else ""
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.rgb_pub = self.create_publisher(msg_type, RGB_TOPIC + suffix, reliable)
        self.thermal_pub = self.create_publisher(msg_type, THERMAL_TOPIC + suffix, reliable)
        self._cond = threading.Condition()
        self.detections: list[tuple[float, Detection2DArray]] = []
        self.overlays: list[Image] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.label_info: list[LabelInfo] = []
        self.create_subscription(Detection2DArray, DETECTIONS_TOPIC, self._record(self.detections, stamped=True), reliable)
        if overlay:  # subscribing makes the node draw and publish the overlay
            self.create_subscription(Image, OVERLAY_TOPIC, self._record(self.overlays), reliable)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._record(self.diagnostics), 50)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.create_subscription(LabelInfo, LABEL_INFO_TOPIC, self._record(self.label_info), latched)

    def _record(self, into: list, stamped: bool = False) -> Callable[[Any], None]:
        def callback(msg: Any) -> None:
            with self._cond:
                into.append((time.perf_counter(), msg) if stamped else msg)
                self._cond.notify_all()
        return callback

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def wait_for_detections(self, count: int, timeout: float) -> list[Detection2DArray]:
        """The first ``count`` detection messages received (AssertionError on timeout)."""
        if not self.wait_until(lambda: len(self.detections) >= count, timeout):
            raise AssertionError(f"got {len(self.detections)} Detection2DArray messages, expected {count} within {timeout} s")
        with self._cond:
            return [m for _, m in self.detections[:count]]

    def wait_for_subscribers(self, timeout: float = 10.0) -> None:
        """Block until the detector subscribes to both inputs (DDS discovery)."""
        deadline = time.monotonic() + timeout
        while self.rgb_pub.get_subscription_count() == 0 or self.thermal_pub.get_subscription_count() == 0:
            if time.monotonic() > deadline:
                raise AssertionError("the detector did not subscribe to rgb/thermal within the timeout")
            time.sleep(0.02)

    def publish_pair(self, rgb: np.ndarray | Any, thermal: np.ndarray | Any, rgb_stamp_ns: int,
                     thermal_stamp_ns: int | None = None, frame_id: str = "camera") -> None:
        """Publish an RGB and a thermal message (arrays are wrapped as rgb8 / mono8|mono16|32FC1 Images)."""
        ts = rgb_stamp_ns if thermal_stamp_ns is None else thermal_stamp_ns
        if isinstance(rgb, np.ndarray):
            rgb = image_msg(rgb, "rgb8", rgb_stamp_ns, frame_id)
        if isinstance(thermal, np.ndarray):
            thermal = image_msg(thermal, encoding_of(thermal), ts, frame_id)
        self.rgb_pub.publish(rgb)
        self.thermal_pub.publish(thermal)

    def diagnostics_for(self, node_name: str) -> list:
        """The DiagnosticStatus entries published by ``node_name`` so far."""
        with self._cond:
            return [s for arr in self.diagnostics for s in arr.status if s.name.startswith(f"{node_name}:")]


def node_parameters(checkpoint: str | Path, warmup_iterations: int = 0, **extra: Any) -> dict[str, Any]:
    """Parameters for a CPU ``lsi_detector`` in tests: ``checkpoint``, no warm-up unless asked, a 25 ms slop
    (the harness's stamps are exact), plus ``extra``."""
    return {"checkpoint": str(checkpoint), "device": "cpu", "warmup_iterations": warmup_iterations,
            "slop": 0.025, **extra}


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``predicate`` (the detector spins on its own thread) until true; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached within the timeout"
        time.sleep(0.02)


@contextlib.contextmanager
def running_detector(parameters: dict[str, Any], namespace: str = "", node_name: str = "lsi_detector",
                     compressed: bool = False, overlay: bool = True) -> Iterator[tuple[Any, DetectorClient]]:
    """An active ``LsiDetectorNode`` (configured + activated in-process) and a client, spun by one
    SingleThreadedExecutor in a background thread, as lsi_detector runs. rclpy must already be initialized."""
    from lsi_perception.ros.node import LsiDetectorNode

    overrides = [Parameter(k, value=v) for k, v in {**parameters, "autostart": False}.items()]
    node = LsiDetectorNode(node_name, namespace=namespace, parameter_overrides=overrides)
    client = DetectorClient(f"{node_name}_client", namespace=namespace, compressed=compressed, overlay=overlay)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(client)
    # spin_once in a loop that stops on an event, joined before executor.shutdown(): shutting an executor down
    # while another thread is inside spin() races with it (rclpy raises AttributeError on its guard condition)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        from rclpy.lifecycle import TransitionCallbackReturn

        for trigger in (node.trigger_configure, node.trigger_activate):
            if trigger() != TransitionCallbackReturn.SUCCESS:
                raise RuntimeError(f"lsi_detector {trigger.__name__} failed (see the log)")
        client.wait_for_subscribers()
        yield node, client
    finally:
        node.stop()
        stop.set()
        thread.join(timeout=5.0)
        executor.shutdown(timeout_sec=2.0)
        client.destroy_node()
        node.destroy_node()


@contextlib.contextmanager
def ros_context() -> Iterator[None]:
    """rclpy.init / try_shutdown around a block (not ``with rclpy.init()``: that fails on Jazzy)."""
    rclpy.init()
    try:
        yield
    finally:
        rclpy.try_shutdown()
