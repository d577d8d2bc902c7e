"""An rclpy recorder: subscribe to topics and write what arrives to a rosbag2 (mcap) through rosbags.

Subscriptions are raw (``raw=True``): rclpy hands over the CDR bytes it received, which go to the bag as
they are. That is exactly what ``ros2 bag record`` stores, needs no field-by-field conversion, and is
readable by rosbags because our typestore's vision_msgs definitions hash the same as the built package
(checked in the tests). Each message is stored at its receive time on the recorder node's clock (sim time
when ``use_sim_time`` is set), and every arrival is also reported to ``on_message`` with its wall time, so
callers can measure latency without a second subscription.
"""
from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .player import message_class
from .writer import BagWriter


def header_stamp_ns(cdr: bytes) -> int:
    """The ``header.stamp`` of a serialized message whose first field is a std_msgs/Header.

    CDR layout: 4-byte encapsulation header, then ``int32 sec``, ``uint32 nanosec`` (endianness from the
    encapsulation's second byte: 1 = little endian).
    """
    if len(cdr) < 12:
        raise ValueError(f"serialized message of {len(cdr)} bytes is too short to hold a header stamp")
    order = "<" if cdr[1] == 1 else ">"
    sec, nanosec = struct.unpack_from(f"{order}iI", cdr, 4)
    return sec * 1_000_000_000 + nanosec


@dataclass(frozen=True)
class Arrival:
    """One received message: topic, wall-clock receive time (time.time_ns), node-clock time, CDR bytes."""

    topic: str
    wall_ns: int
    clock_ns: int
    data: bytes


class BagRecorder:
    """Records ``record`` topics {topic: msgtype} of a node to ``out`` (None: observe only, write nothing).

    ``observe`` topics are subscribed and reported to ``on_message`` but not written (e.g. the camera
    topics, to time the detector). Call ``close()`` to finish the bag.
    """

    def __init__(self, node, record: dict[str, str], out: str | Path | None, *,
                 observe: dict[str, str] | None = None, on_message: Callable[[Arrival], None] | None = None,
                 qos_depth: int = 100, overwrite: bool = False) -> None:
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

        self.node = node
        self._on_message = on_message
        self._lock = threading.Lock()
        self._writer = BagWriter(out, overwrite=overwrite).__enter__() if out is not None else None
        self._types = dict(record)
        self.counts: dict[str, int] = {t: 0 for t in {**record, **(observe or {})}}
        # Reliable, deep history: the detector output is small and must not be lost; camera topics are
        # observed best-effort like any sensor-data subscriber.
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=qos_depth, reliability=ReliabilityPolicy.RELIABLE)
        sensor = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=qos_depth, reliability=ReliabilityPolicy.BEST_EFFORT)
        self._subs = [node.create_subscription(message_class(typ), topic, self._callback(topic, write=True),
                                               reliable, raw=True) for topic, typ in record.items()]
        self._subs += [node.create_subscription(message_class(typ), topic, self._callback(topic, write=False),
                                                sensor, raw=True) for topic, typ in (observe or {}).items()]

    def _callback(self, topic: str, write: bool) -> Callable[[bytes], None]:
        def on_raw(data: bytes) -> None:
            wall_ns = time.time_ns()
            clock_ns = self.node.get_clock().now().nanoseconds
            with self._lock:
                self.counts[topic] += 1
                if write and self._writer is not None:
                    self._writer.write_raw(topic, self._types[topic], clock_ns, data)
            if self._on_message is not None:
                self._on_message(Arrival(topic, wall_ns, clock_ns, bytes(data)))

        return on_raw

    def close(self) -> None:
        """Stop listening and finish the bag (metadata.yaml is written here)."""
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        self._subs = []
        with self._lock:
            if self._writer is not None:
                self._writer.__exit__(None, None, None)
                self._writer = None
